/**
 * The membership view a mesh agent holds, and what follows from a new one: the device's peers,
 * the policy (compiled against the members), the agent's parts (in their listed order, see
 * compose.ts) and the subscribers, in that order.
 * @module
 */

import type { Member, MembershipView, ViewChange } from "../members/member.ts";

/** What a new view is handed to before subscribers hear of it. */
export interface MembershipTargets {
  /** Makes the device's peers match the view (`change`: as the parts get it). */
  peers: { apply(v: MembershipView, change: ViewChange | null): void };
  /** Compiles a policy in force against the members. */
  policy: { membersChanged(v: MembershipView): void };
  /**
   * The agent's parts (their PartList): a new version reaches them in their listed order, with
   * how it differs from the view held before when that is known (null: take it whole).
   */
  parts: { viewChanged(v: MembershipView, change: ViewChange | null): void };
}

/** Holds the view and passes changes on. See the module docs. */
export class Membership {
  readonly #targets: MembershipTargets;
  readonly #listeners = new Set<(v: MembershipView) => void>();
  #view: MembershipView;
  // The members changed at the version the parts heard last (a leader adopting a commit of
  // another at its version): the parts were not told, so the next view they get is whole.
  #partsBehind = false;

  /** Starts from `view` (from the leader's state, a node's file, or its join). */
  constructor(view: MembershipView, targets: MembershipTargets) {
    this.#view = view;
    this.#targets = targets;
  }

  /** The view held. */
  get view(): MembershipView {
    return this.#view;
  }

  /** The member with this public key in the view held. */
  member(publicKey: string): Member | undefined {
    return this.#view.members.find((m) => m.publicKey === publicKey);
  }

  /**
   * Applies a view; the parts and the subscribers hear of it when its version is new, or when
   * `announce` says so (a node's first view, read from disk). `change`: how it differs from a
   * view of an earlier version (the leader's change log says), passed on when that is the view
   * held.
   */
  apply(v: MembershipView, announce = false, change: ViewChange | null = null): void {
    const changed = v.version !== this.#view.version;
    if (!changed && !sameRecords(v.members, this.#view.members)) this.#partsBehind = true;
    const c = changed && change?.from === this.#view.version ? change : null;
    this.#targets.peers.apply(v, c);
    this.#view = v;
    this.#targets.policy.membersChanged(v);
    if (!changed && !announce) return;
    const behind = this.#partsBehind;
    this.#partsBehind = false;
    this.#targets.parts.viewChanged(v, behind ? null : c);
    for (const l of this.#listeners) l(v);
  }

  /** Subscribes to membership changes; returns the unsubscribe function. */
  subscribe(fn: (v: MembershipView) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }
}

/** The two lists hold the same records (the same objects) in the same order. */
function sameRecords(a: readonly Member[], b: readonly Member[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
