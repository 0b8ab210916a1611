/**
 * LeaderCore.editPolicy, as segment changes use it: edits at once all apply, each on top of the
 * one before (at one leader and at two sharing a store), a refused edit changes nothing, and the
 * result is canonical policy text with a new version.
 */
import assert from "node:assert/strict";
import type { LeaderCore } from "./core.ts";
import { openCore } from "./testing/cores.ts";
import { MemoryStore } from "../store/memory_store.ts";
import { parsePolicy, serializePolicy } from "../../policy/parse.ts";
import {
  addSegment,
  removeSegment,
  SegmentConflictError,
  SegmentNotFoundError,
} from "../../policy/segment_admin.ts";
import { PolicyError } from "../../policy/schema.ts";

const open = (store: MemoryStore): Promise<LeaderCore> => openCore(store, { batchGapFactor: 0 });

const segmentNames = (core: LeaderCore) =>
  (parsePolicy(core.policy()!.text).segments ?? []).map((s) => s.name).sort();

Deno.test("editPolicy: creates at once all apply, one on top of the other, each a version", async () => {
  const core = await open(new MemoryStore());
  const heard: number[] = [];
  core.onPolicy((p) => heard.push(p.version));
  const versions = await Promise.all(
    Array.from(
      { length: 8 },
      (_, i) => core.editPolicy((d) => addSegment(d, { name: `s${i}`, vni: 100 + i, select: "*" })),
    ),
  );
  assert.deepEqual([...versions].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(segmentNames(core), ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"]);
  assert.equal(core.policy()!.version, 8);
  assert.deepEqual(heard, [1, 2, 3, 4, 5, 6, 7, 8]);
  // Canonical text, as `weft policy apply` would store it.
  const text = core.policy()!.text;
  assert.equal(serializePolicy(parsePolicy(text)), text);
  core.close();
});

Deno.test("editPolicy: two creates of one VNI at once: one wins, the other is a conflict", async () => {
  const core = await open(new MemoryStore());
  const results = await Promise.allSettled([
    core.editPolicy((d) => addSegment(d, { name: "blue", vni: 100, select: "*" })),
    core.editPolicy((d) => addSegment(d, { name: "green", vni: 100, select: "*" })),
  ]);
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected"]);
  const refused = (results[1] as PromiseRejectedResult).reason;
  assert.ok(refused instanceof SegmentConflictError, String(refused));
  assert.match(refused.message, /vni 100 is already segment "blue"'s/);
  assert.deepEqual(segmentNames(core), ["blue"]);
  assert.equal(core.policy()!.version, 1);
  core.close();
});

Deno.test("editPolicy: a refused edit changes nothing; delete keeps the rest", async () => {
  const core = await open(new MemoryStore());
  await core.setPolicy(
    serializePolicy(parsePolicy("policies:\n  - name: all\n    action: allow\n")),
  );
  assert.equal(await core.editPolicy((d) => addSegment(d, { name: "a", vni: 1, select: "*" })), 2);
  await assert.rejects(
    core.editPolicy((d) => addSegment(d, { name: "b", vni: 0, select: "*" })),
    (e: unknown) => e instanceof PolicyError && /segments\[1\]\.vni: bad vni/.test(e.message),
  );
  await assert.rejects(
    core.editPolicy((d) => removeSegment(d, "zzz")),
    SegmentNotFoundError,
  );
  assert.equal(core.policy()!.version, 2);
  assert.equal(await core.editPolicy((d) => removeSegment(d, "a")), 3);
  const doc = parsePolicy(core.policy()!.text);
  assert.deepEqual(doc.policies.map((r) => r.name), ["all"]);
  assert.equal(doc.segments, undefined);
  core.close();
});

Deno.test("editPolicy: at two leaders sharing a store, edits at once both apply", async () => {
  const store = new MemoryStore();
  const a = await open(store);
  const b = await open(store);
  const before = store.conflicts;
  await Promise.all([
    a.editPolicy((d) => addSegment(d, { name: "from-a", vni: 1, select: "*" })),
    b.editPolicy((d) => addSegment(d, { name: "from-b", vni: 2, select: "*" })),
  ]);
  assert.ok(store.conflicts > before, "the two edits raced");
  for (const core of [a, b]) {
    await new Promise<void>((resolve) => {
      const done = () => core.policy()?.version === 2;
      if (done()) return resolve();
      const stop = core.onPolicy(() => {
        if (!done()) return;
        stop();
        resolve();
      });
    });
    assert.deepEqual(segmentNames(core), ["from-a", "from-b"]);
  }
  a.close();
  b.close();
});
