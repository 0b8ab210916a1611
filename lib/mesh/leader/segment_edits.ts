/**
 * The leader's edits of segments (`weft segment create|delete`): edits of the policy in force
 * (segments are part of it), so each is a new policy version the nodes hear of. Plain functions
 * over a copy of the state (./edit_context.ts).
 * @module
 */

import { addSegment, removeSegment, type SegmentSpec } from "../../policy/segment_admin.ts";
import type { LeaderFile } from "../state/state.ts";
import type { Edit, Touch } from "./changes.ts";
import type { EditContext } from "./edit_context.ts";
import { editPolicy } from "./policy_edits.ts";

/** Adds a segment to the policy in `d`; the new version. Refusals as `addSegment`'s. */
export function createSegment(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  spec: SegmentSpec,
): Edit<number> {
  return editPolicy(ctx, d, touch, (doc) => addSegment(doc, spec));
}

/** Removes a segment from the policy in `d`; the new version. Refusals as `removeSegment`'s. */
export function deleteSegment(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  name: string,
): Edit<number> {
  return editPolicy(ctx, d, touch, (doc) => removeSegment(doc, name));
}
