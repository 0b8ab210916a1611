/**
 * The leader's edits of route approvals and carriers: which router carries each route (decided
 * again whenever a router's offer, approval, liveness or membership changes) and
 * `weft route approve|revoke`. Plain functions over a copy of the state (./edit_context.ts).
 * @module
 */

import type { Member, MemberGrants } from "../../members/member.ts";
import { parseApprovals } from "../../routes/prefixes.ts";
import type { LeaderFile } from "../state/state.ts";
import type { Edit, Touch } from "./changes.ts";
import type { EditContext } from "./edit_context.ts";
import { LeaderError, LeaderNotFoundError } from "./errors.ts";
import type { MemberIndex } from "./member_index.ts";
import { changedApprovals, reassignRoutes, routesMatter, unadvertisedApproval } from "./routes.ts";

/** A change of a node's route approvals, parsed: prefixes (canonical) and `exit`. */
export interface ApprovalChange {
  /** Approvals to add. */
  approve: string[];
  /** Approvals to revoke. */
  revoke: string[];
  /** Approve ahead of the advertisement (an approval covering nothing advertised yet). */
  preApprove: boolean;
}

/** Sets which router carries each route in `d` (see ./routes.ts), touching those that change. */
export function reassign(ctx: EditContext, d: LeaderFile, touch: Touch): void {
  const ix = ctx.index(d);
  // Eligible: running (no bye), heard from since its join (its answer arrived), and its
  // hellos to this leader not stopped.
  const eligible = (m: Member) =>
    !m.offline && d.joins.get(m.publicKey)?.heard !== false && !ctx.quiet.has(m.publicKey);
  reassignRoutes(d.members, eligible, (m) => {
    ix.replace(m);
    touch(m.publicKey);
  });
}

/** Parses an approval change (`weft route approve|revoke`); a bad prefix is a LeaderError. */
export function parseApprovalChange(
  change: { approve?: string[]; revoke?: string[]; preApprove?: boolean },
): ApprovalChange {
  try {
    return {
      approve: parseApprovals(change.approve ?? []),
      revoke: parseApprovals(change.revoke ?? []),
      preApprove: change.preApprove === true,
    };
  } catch (e) {
    throw new LeaderError((e as Error).message);
  }
}

/**
 * Approves or revokes routes for the node `nameOrAddress` (LeaderCore.setRouteApprovals); the
 * member as it is now. A leader's routes need no approval; a revocation that leaves the prefix
 * approved by a wider one, and an approval covering nothing advertised (unless `preApprove`),
 * are refused.
 */
export function setRouteApprovals(
  ctx: EditContext,
  d: LeaderFile,
  touch: Touch,
  nameOrAddress: string,
  change: ApprovalChange,
): Edit<Member> {
  const ix = ctx.index(d);
  const old = ix.byAddressOrName(nameOrAddress);
  if (!old) throw new LeaderNotFoundError(`no node "${nameOrAddress}"`);
  if (old.role === "leader") {
    throw new LeaderError("a leader's own routes need no approval");
  }
  const idle = unadvertisedApproval(old, change.approve, change.preApprove);
  if (idle !== null) throw new LeaderError(idle);
  const before = old.grants?.routes ?? [];
  const next = changedApprovals(before, change.approve, change.revoke, old.name);
  if (typeof next === "string") throw new LeaderError(next);
  const routes = next;
  const grants: MemberGrants = { ...old.grants, routes };
  if (routes.length === 0) delete grants.routes;
  const m: Member = { ...old, grants };
  if (Object.keys(grants).length === 0) delete m.grants;
  if (String(routes) === String(before)) return { result: old, write: false };
  ix.replace(m);
  touch(m.publicKey);
  reassign(ctx, d, touch);
  return { result: ix.byKey(m.publicKey) ?? m, write: true };
}

/**
 * The members whose hellos to this leader stopped (its liveness): a quiet router hands the
 * routes it carries to a standby at once (HA routes); back, it stands by (no preemption).
 */
export class QuietMembers {
  /**
   * The quiet members' keys, and those of members removed since they went quiet until the next
   * sweep (which comes once they outnumber the members).
   */
  readonly keys: Set<string> = new Set();

  /**
   * Notes that the member `publicKey` of the state `ix` indexes went quiet or came back: true
   * when that may change which router carries a route (decide again: {@link reassign}).
   */
  set(publicKey: string, quiet: boolean, ix: MemberIndex): boolean {
    const keys = this.keys;
    // Members removed since they went quiet leave the set here (it holds quiet members only),
    // swept once it holds more keys than there are members: a sweep at every call was quadratic
    // when thousands of members go quiet at once (a leader started on 10,000 that are down).
    if (keys.size > ix.size) {
      for (const k of keys) if (!ix.byKey(k)) keys.delete(k);
    }
    if (quiet === keys.has(publicKey)) return false;
    if (quiet && !ix.byKey(publicKey)) return false;
    if (quiet) keys.add(publicKey);
    else keys.delete(publicKey);
    return routesMatter(ix.byKey(publicKey));
  }
}
