import assert from "node:assert/strict";
import { IndexCache, indexRecords } from "./view_records.ts";

const record = (k: string, extra: Record<string, unknown> = {}) => ({
  publicKey: k,
  name: `n-${k}`,
  address: "10.96.0.9",
  labels: { a: "b" },
  services: [],
  ...extra,
});

Deno.test("view records: by key, only the fields a member reads, the later record of a key wins", () => {
  const ix = indexRecords(
    [
      record("a", { endpoints: ["192.0.2.1:51820"] }),
      record("b", { lan: ["198.51.100.2:51820"] }),
      record("a", { endpoints: ["192.0.2.7:51820"], lan: [] }),
    ],
    ["c"],
  );
  assert.deepEqual(ix.byKey.get("a"), {
    publicKey: "a",
    endpoints: ["192.0.2.7:51820"],
    lan: [],
  });
  assert.deepEqual(ix.byKey.get("b"), { publicKey: "b", lan: ["198.51.100.2:51820"] });
  assert.equal(ix.byKey.size, 2);
  assert.ok(ix.remove.has("c") && !ix.remove.has("a"));
});

Deno.test("view records: the cache keeps at most its records, the oldest going first, the newest always", () => {
  const of = (n: number) => indexRecords(Array.from({ length: n }, (_, i) => record(`k${i}`)));
  const c = new IndexCache<string>(10);
  c.set("v1", of(4));
  c.set("v2", of(4));
  c.set("bad", null);
  assert.deepEqual(c.size, { indexes: 3, records: 8 });
  // 4 more: v1 goes (the oldest), v2 and what did not unpack stay.
  c.set("v3", of(4));
  assert.equal(c.get("v1"), undefined);
  assert.equal(c.get("bad"), null);
  assert.equal(c.get("v2")?.byKey.size, 4);
  assert.deepEqual(c.size, { indexes: 3, records: 8 });
  // One larger than the bound stays alone.
  c.set("big", of(12));
  assert.deepEqual(c.size, { indexes: 1, records: 12 });
  assert.equal(c.get("big")?.byKey.size, 12);
  // Set again: counted once.
  c.set("big", of(3));
  assert.deepEqual(c.size, { indexes: 1, records: 3 });
});
