/**
 * The segment edits on a plain document (no store): each is a new policy version holding the
 * segment, or a refusal that changes nothing.
 */
import assert from "node:assert/strict";
import { parsePolicy } from "../../policy/parse.ts";
import { SegmentConflictError, SegmentNotFoundError } from "../../policy/segment_admin.ts";
import { createSegment, deleteSegment } from "./segment_edits.ts";
import { apply, plainContext, plainDocument } from "./testing/documents.ts";

const segments = (text: string) => (parsePolicy(text).segments ?? []).map((s) => s.name);

Deno.test("segment edits: create and delete are policy versions; refusals change nothing", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const r = apply(
    d,
    (d, touch) => createSegment(ctx, d, touch, { name: "blue", vni: 100, select: "*" }),
  );
  assert.deepEqual([r.result, r.write], [1, true]);
  assert.deepEqual(segments(d.policy!.text), ["blue"]);
  assert.equal(ctx.policies.length, 1);
  assert.throws(
    () => createSegment(ctx, d, () => {}, { name: "green", vni: 100, select: "*" }),
    SegmentConflictError,
  );
  assert.throws(() => deleteSegment(ctx, d, () => {}, "zzz"), SegmentNotFoundError);
  assert.equal(d.policy!.version, 1);
  assert.equal(apply(d, (d, touch) => deleteSegment(ctx, d, touch, "blue")).result, 2);
  assert.deepEqual(segments(d.policy!.text), []);
});
