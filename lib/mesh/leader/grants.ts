/**
 * What `weft node set` changes of a member: its relay grant and its granted labels, each field
 * on its own. The other grants are not its to change and stay as they are: route approvals
 * change only through `weft route approve|revoke` (a node whose approvals vanished with a label
 * change kept carrying the prefix, and `weft route revoke` then refused it), service grants only
 * with the token. Pure functions over member records; the core runs them inside its changes.
 * @module
 */

import type { Member, MemberGrants } from "../../members/member.ts";
import { grantedLabelsProblem, labelKeyProblem, MAX_LABELS } from "../../members/labels.ts";

/** A change to what the leader granted a node (`LeaderCore.setGrants`). */
export interface GrantChange {
  /** Grant (true) or withdraw (false) relaying for others. */
  relay?: boolean;
  /** Labels to grant (set or replace). */
  labels?: Record<string, string>;
  /** Label keys to withdraw. */
  removeLabels?: string[];
}

/** What is wrong with `change`, or undefined. */
export function grantChangeProblem(change: GrantChange): string | undefined {
  if (change.labels !== undefined) {
    const p = grantedLabelsProblem(change.labels);
    if (p !== undefined) return p;
  }
  for (const k of change.removeLabels ?? []) {
    const p = labelKeyProblem(k);
    if (p !== undefined) return p;
  }
  if (
    change.relay === undefined && !Object.keys(change.labels ?? {}).length &&
    !(change.removeLabels ?? []).length
  ) {
    return "nothing to change: relay, labels or labels to remove";
  }
  return undefined;
}

/**
 * `old` with `change` (checked by {@link grantChangeProblem}) applied, a new record; or why it
 * is refused. Only the relay grant and the labels change: every other grant is kept.
 */
export function withGrantChange(old: Member, change: GrantChange): Member | string {
  if (old.role === "leader") {
    return change.relay !== undefined
      ? "the leader always relays"
      : "the leader's labels are its own (--label / labels:)";
  }
  const grants: MemberGrants = { ...old.grants };
  if (change.relay === true) grants.relay = true;
  if (change.relay === false) delete grants.relay;
  // Granted labels change here only: the views, scopes, policies and segments follow.
  const labels = { ...old.labels };
  for (const k of change.removeLabels ?? []) delete labels[k];
  Object.assign(labels, change.labels ?? {});
  if (Object.keys(labels).length > MAX_LABELS) {
    return `a node carries at most ${MAX_LABELS} labels`;
  }
  const m: Member = { ...old, labels, grants };
  // No grants left is no field, as in records from before grants.
  if (Object.keys(grants).length === 0) delete m.grants;
  // A node relays only while granted: one that loses the grant stops at once.
  if (!grants.relay) delete m.relay;
  return m;
}
