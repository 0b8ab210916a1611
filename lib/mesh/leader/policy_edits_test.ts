/**
 * The policy edits on a plain document (no store): a new text is a new version that moves the
 * view's version and is told; the same text is no change; an edit of the document in force.
 */
import assert from "node:assert/strict";
import { parsePolicy, serializePolicy } from "../../policy/parse.ts";
import { editPolicy, putPolicy } from "./policy_edits.ts";
import { apply, plainContext, plainDocument } from "./testing/documents.ts";

const ALLOW = serializePolicy(parsePolicy("policies:\n  - name: all\n    action: allow\n"));

Deno.test("policy edits: versions count changes; the same text is no change; each is told", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const v = d.version;
  const first = apply(d, (d, touch) => putPolicy(ctx, d, touch, "rules: [a]"));
  assert.deepEqual([first.result, first.write, first.touched], [1, true, [""]]);
  assert.deepEqual(d.policy, { version: 1, text: "rules: [a]" });
  assert.equal(d.version, v + 1, "views are scoped by the policy: the view's version moves");
  const same = apply(d, (d, touch) => putPolicy(ctx, d, touch, "rules: [a]"));
  assert.deepEqual([same.result, same.write, same.touched], [1, false, []]);
  assert.equal(apply(d, (d, touch) => putPolicy(ctx, d, touch, "rules: [b]")).result, 2);
  // Going back to an earlier text is a new version.
  assert.equal(apply(d, (d, touch) => putPolicy(ctx, d, touch, "rules: [a]")).result, 3);
  assert.deepEqual(ctx.policies.map((p) => p.version), [1, 2, 3]);
});

Deno.test("policy edits: an edit gets the document in force (an empty one first), canonical out", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const seen: string[] = [];
  const r = apply(d, (d, touch) =>
    editPolicy(ctx, d, touch, (doc) => {
      seen.push(JSON.stringify(doc));
      return parsePolicy(ALLOW);
    }));
  assert.deepEqual(seen, [JSON.stringify({ defaults: {}, policies: [] })]);
  assert.equal(r.result, 1);
  assert.equal(d.policy!.text, ALLOW);
  const names = apply(
    d,
    (d, touch) =>
      editPolicy(
        ctx,
        d,
        touch,
        (doc) => ({ ...doc, policies: doc.policies.map((p) => ({ ...p })) }),
      ),
  );
  assert.deepEqual([names.result, names.write], [1, false], "the same document: no change");
  assert.throws(() =>
    editPolicy(ctx, d, () => {}, () => {
      throw new Error("refused");
    }), /refused/);
  assert.equal(d.policy!.version, 1);
});
