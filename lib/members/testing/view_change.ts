/**
 * The change between two views, found by comparing them whole (records by identity, as the
 * leader's views share the records that did not change): what tests hand to a part that takes
 * changes, to check it ends where one given the whole views does.
 * @module
 */

import type { MembershipView, ViewChange } from "../member.ts";

/** The change from `before` to `after`: records new or replaced, keys gone. */
export function viewChange(before: MembershipView, after: MembershipView): ViewChange {
  const was = new Map(before.members.map((m) => [m.publicKey, m]));
  const now = new Set(after.members.map((m) => m.publicKey));
  return {
    from: before.version,
    upsert: after.members.filter((m) => was.get(m.publicKey) !== m),
    remove: before.members.filter((m) => !now.has(m.publicKey)).map((m) => m.publicKey),
  };
}

/** Views `first` then each of `steps` applied in turn (a function of the view before). */
export function viewSteps(
  first: MembershipView,
  steps: ((v: MembershipView) => MembershipView["members"])[],
): MembershipView[] {
  const out = [first];
  for (const step of steps) {
    const v = out[out.length - 1];
    out.push({ ...v, version: v.version + 1, members: step(v) });
  }
  return out;
}
