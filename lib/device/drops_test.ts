import assert from "node:assert/strict";
import { DROP_REASONS, DropCounters } from "./drops.ts";

Deno.test("DROP_REASONS: distinct names, the ones the metrics and docs use", () => {
  assert.equal(new Set(DROP_REASONS).size, DROP_REASONS.length);
  for (const r of ["short", "mac1", "replay", "decrypt", "no-route", "policy", "unknown-index"]) {
    assert.ok((DROP_REASONS as readonly string[]).includes(r), r);
  }
  for (const r of DROP_REASONS) assert.match(r, /^[a-z0-9]+(-[a-z0-9]+)*$/);
});

Deno.test("DropCounters: every reason starts at zero", () => {
  const d = new DropCounters();
  assert.equal(d.total(), 0);
  const snap = d.snapshot();
  assert.deepEqual(Object.keys(snap).sort(), [...DROP_REASONS].sort());
  for (const r of DROP_REASONS) {
    assert.equal(d.get(r), 0);
    assert.equal(snap[r], 0);
  }
});

Deno.test("DropCounters: add counts one by default or n, per reason, and total sums all", () => {
  const d = new DropCounters();
  d.add("replay");
  d.add("replay");
  d.add("decrypt", 5);
  d.add("policy", 0);
  assert.equal(d.get("replay"), 2);
  assert.equal(d.get("decrypt"), 5);
  assert.equal(d.get("policy"), 0);
  assert.equal(d.get("short"), 0);
  assert.equal(d.total(), 7);
  let n = 0;
  for (const r of DROP_REASONS) d.add(r, ++n);
  assert.equal(d.total(), 7 + (n * (n + 1)) / 2);
});

Deno.test("DropCounters: snapshot is a copy; instances do not share counts", () => {
  const d = new DropCounters();
  d.add("short", 3);
  const snap = d.snapshot();
  snap.short = 100;
  assert.equal(d.get("short"), 3);
  d.add("short");
  assert.equal(snap.short, 100);
  assert.equal(d.snapshot().short, 4);
  assert.equal(new DropCounters().get("short"), 0);
});
