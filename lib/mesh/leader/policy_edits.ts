/**
 * The leader's edits of the policy in force: a new canonical text is a new version (the same
 * text again is no change), and an edit of the document in force applies on top of every change
 * before it. Plain functions over a copy of the state (./edit_context.ts).
 * @module
 */

import { parsePolicy, serializePolicy } from "../../policy/parse.ts";
import type { PolicyDocument } from "../../policy/schema.ts";
import type { LeaderFile } from "../state/state.ts";
import type { Edit, Touch } from "./changes.ts";
import type { EditContext } from "./edit_context.ts";

/** Makes `canonical` the policy in the copy `d` (a new version unless it is the same text). */
export function putPolicy(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  canonical: string,
): Edit<number> {
  const cur = d.policy;
  if (cur && cur.text === canonical) return { result: cur.version, write: false };
  const p = { version: (cur?.version ?? 0) + 1, text: canonical };
  d.policy = p;
  // Views are scoped by the policy (fanout.ts): a new one moves the view's version, so a
  // member holding the old version asks for its view again.
  touch();
  return { result: p.version, write: true, after: () => ctx.policyChanged(p) };
}

/**
 * Puts in force what `edit` makes of the policy document in `d` (an empty one when there is
 * none), as {@link putPolicy}; `edit` may throw, and nothing changes.
 */
export function editPolicy(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  edit: (doc: PolicyDocument) => PolicyDocument,
): Edit<number> {
  const doc = d.policy ? parsePolicy(d.policy.text) : { defaults: {}, policies: [] };
  return putPolicy(ctx, d, touch, serializePolicy(edit(doc)));
}
