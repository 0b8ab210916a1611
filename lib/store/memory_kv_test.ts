import assert from "node:assert/strict";
import { MemoryKv } from "./memory_kv.ts";
import { StoreError, type WatchEvent } from "./kv.ts";

const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("memory kv: revisions rise with every write; create and mod revisions, versions", async () => {
  const kv = new MemoryKv();
  const a = await kv.put("/p/a", "1");
  const b = await kv.put("/p/a", "2");
  assert.equal(b.revision, a.revision + 1);
  const { kv: got } = await kv.get("/p/a");
  assert.deepEqual(got, {
    key: "/p/a",
    value: "2",
    createRevision: a.revision,
    modRevision: b.revision,
    version: 2,
    lease: "",
  });
  await kv.put("/p/b", "3");
  await kv.put("/q", "4");
  const r = await kv.range("/p/", 1);
  assert.deepEqual(r.kvs.map((x) => x.key), ["/p/a"]);
  assert.equal(r.more, true);
  assert.equal((await kv.delete({ key: "/p/", prefix: true })).deleted, 2);
  assert.equal((await kv.range("/p/")).kvs.length, 0);
  assert.equal((await kv.get("/q")).kv!.value, "4");
});

Deno.test("memory kv: a transaction runs one branch atomically; a missing key has create 0", async () => {
  const kv = new MemoryKv();
  const create = (v: string) =>
    kv.txn({
      compare: [{ key: "k", target: "create", op: "=", value: 0 }],
      then: [{ type: "put", key: "k", value: v }],
      otherwise: [{ type: "get", key: "k" }],
    });
  const first = await create("a");
  assert.equal(first.succeeded, true);
  assert.equal(first.revision, kv.revision);
  const second = await create("b");
  assert.equal(second.succeeded, false);
  assert.equal(second.revision, first.revision, "a read-only branch writes nothing");
  const got = second.results[0];
  assert.ok(got.type === "get");
  assert.equal(got.kvs[0].value, "a");
  assert.equal(got.kvs[0].createRevision, first.revision);
  const del = await kv.txn({
    compare: [{ key: "k", target: "value", op: "=", value: "a" }],
    then: [{ type: "delete", key: "k" }],
  });
  assert.deepEqual(del.results, [{ type: "delete", deleted: 1 }]);
});

Deno.test("memory kv: a lease not kept alive deletes its keys, and watches see it", async () => {
  let t = 0;
  const kv = new MemoryKv({ now: () => t });
  const seen: WatchEvent[] = [];
  const w = await kv.watch({ key: "/l/", prefix: true }, 0, (evs) => seen.push(...evs));
  const lease = await kv.grant(6);
  await kv.put("/l/x", "held", lease.id);
  t = 5000;
  assert.equal(await kv.keepAlive(lease.id), 6);
  t = 10999;
  kv.expire();
  assert.notEqual((await kv.get("/l/x")).kv, null, "kept alive at 5000: runs to 11000");
  t = 11000;
  kv.expire();
  assert.equal((await kv.get("/l/x")).kv, null);
  assert.equal(await kv.keepAlive(lease.id), 0, "an expired lease cannot be kept alive");
  await settle();
  assert.deepEqual(seen.map((e) => [e.type, e.kv.key]), [["put", "/l/x"], ["delete", "/l/x"]]);
  w.cancel();
  await w.closed;
  await assert.rejects(kv.put("/l/y", "v", lease.id), StoreError);
});

Deno.test("memory kv: revoking a lease deletes its keys at once", async () => {
  const kv = new MemoryKv();
  const lease = await kv.grant(60);
  await kv.put("a", "1", lease.id);
  await kv.put("b", "2");
  await kv.revoke(lease.id);
  assert.equal((await kv.get("a")).kv, null);
  assert.notEqual((await kv.get("b")).kv, null);
  await assert.rejects(kv.revoke(lease.id), StoreError);
});

Deno.test("memory kv: a watch from a past revision gets what happened since, then live", async () => {
  const kv = new MemoryKv();
  const a = await kv.put("/w/a", "1");
  await kv.put("/other", "x");
  await kv.put("/w/b", "2");
  const seen: [string, number][] = [];
  const w = await kv.watch(
    { key: "/w/", prefix: true },
    a.revision,
    (evs, rev) => seen.push(...evs.map((e) => [e.kv.key, rev] as [string, number])),
  );
  await kv.put("/w/c", "3");
  await settle();
  assert.deepEqual(seen.map(([k]) => k), ["/w/a", "/w/b", "/w/c"]);
  w.cancel();
});

Deno.test("memory kv: a failing store refuses every call; broken watches reject", async () => {
  const kv = new MemoryKv();
  const w = await kv.watch({ key: "x" }, 0, () => {});
  kv.failWith = new StoreError("no-quorum", "memory", "no leader");
  await assert.rejects(kv.put("x", "1"), /the store has no quorum \(memory: no leader\)/);
  await assert.rejects(kv.grant(5), StoreError);
  kv.breakWatches();
  await assert.rejects(w.closed, StoreError);
  kv.failWith = null;
  assert.equal((await kv.put("x", "1")).revision, 2);
});
