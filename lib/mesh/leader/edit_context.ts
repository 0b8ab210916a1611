/**
 * What an edit of the leader's document reads besides the document itself. The edits (the
 * *_edits.ts modules) are plain functions over a copy of the state (`LeaderFile`) and a
 * {@link Touch}; LeaderCore runs them in its change queue and passes itself in as this context,
 * a test passes a plain one (./testing/documents.ts) and needs no store.
 * @module
 */

import type { Member } from "../../members/member.ts";
import type { VersionedPolicy } from "../../policy/source.ts";
import type { LeaderFile } from "../state/state.ts";
import type { MemberIndex } from "./member_index.ts";

/** What edits count since the leader started (its metrics). */
export interface EditCounts {
  /** Labels joiners asserted outside `node.weft/` and that were dropped. */
  labelsDropped: number;
  /** Service offers left out of member records because no grant allowed them. */
  servicesRefused: number;
  /** Departed keys forgotten to stay within MAX_LEFT (./records.ts). */
  forgotten: number;
}

/** What every edit of the leader's document may read, count and tell. */
export interface EditContext {
  /**
   * The index of `d`'s members: the same index for the same list, so the index's own edits
   * (add, replace, remove) keep both current.
   */
  index(d: LeaderFile): MemberIndex;
  /** This leader's public key. */
  readonly own: string;
  /** This leader's record as last seen (another leader may have removed it from the state). */
  ownRecord(): Member;
  /** Members whose hellos to this leader stopped (its liveness): they carry no routes. */
  readonly quiet: ReadonlySet<string>;
  /** How long a node answered but never heard from keeps its allocation, ms. */
  readonly joinHoldMs: number;
  /** When the leader opened its state (ms): a leader that was down has heard nobody. */
  readonly openedAt: number;
  /** How long a removed member's name is kept from other joiners, ms (./names.ts). */
  readonly nameHoldMs: number;
  /**
   * The service names some grant (a token's or a member's) mentions in `d`
   * (./service_edits.ts restrictedNames; the core caches it).
   */
  restricted(d: LeaderFile): ReadonlySet<string>;
  /** What the edits count (most in an edit's `after`: once for the run committed). */
  readonly counts: EditCounts;
  /** A new policy is in force (an edit's `after`). */
  policyChanged(p: VersionedPolicy): void;
  /** The tokens changed (an edit's `after`). */
  tokensChanged(): void;
}
