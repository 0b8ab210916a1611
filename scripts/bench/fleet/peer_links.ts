/**
 * What simulated members send each other (shared views: asks, pieces, lacks), handed over in
 * the simulator's process instead of over WireGuard sessions of their own (./peer_sessions.ts):
 * none of it reaches the leader, so it need not cost the simulator a handshake, a seal and an
 * open, and a datagram each way; nor its bytes: the message is handed over as its sender made
 * it (member_shared.ts), and the receiver checks it as it would have the bytes' message. A
 * payload is delivered on a later turn of the event loop (as a datagram read by the poller would
 * be, never inside its sender's call), only while both sides are up, and to the member that holds
 * the address then: the rest is counted as dropped.
 * @module
 */

import type { Member } from "./member.ts";

/** What the links work with (`P`: what is handed over, as the sender made it). */
export interface PeerLinksDeps<P> {
  /** The member that holds overlay address `address` now, if any. */
  byAddress(address: string): Member | undefined;
  /** A payload from the member at overlay address `from` to `m`. */
  receive(m: Member, from: string, payload: P): void;
  /** Counts a drop by kind. */
  count(kind: string): void;
  /** Runs `fn` on a later turn of the event loop (default: `setTimeout(fn, 0)`). */
  later?(fn: () => void): void;
}

/** Payloads handed over and dropped. */
export interface PeerLinkCounts {
  delivered: number;
  dropped: number;
}

/** In-process links between simulated members. See the module docs. */
export class PeerLinks<P> {
  readonly #d: PeerLinksDeps<P>;
  // The payloads waiting for the next turn, in order: to whom, from which address, what (side
  // by side: no object per payload).
  #to: Member[] = [];
  #from: string[] = [];
  #payloads: P[] = [];
  #queued = false;
  readonly #drain = () => this.#deliver();
  /** What was handed over and dropped. */
  readonly counts: PeerLinkCounts = { delivered: 0, dropped: 0 };

  constructor(deps: PeerLinksDeps<P>) {
    this.#d = deps;
  }

  /**
   * Sends `payload` (not changed later by the caller) from `m` to the member at overlay
   * `address`: delivered on a later turn if both are up then.
   */
  send(m: Member, address: string, payload: P): void {
    if (m.state !== "up") {
      this.counts.dropped++;
      return this.#d.count("peer-sender-down");
    }
    const to = this.#d.byAddress(address);
    if (!to || to === m) {
      this.counts.dropped++;
      return this.#d.count("peer-unknown");
    }
    this.#to.push(to);
    this.#from.push(m.address);
    this.#payloads.push(payload);
    if (this.#queued) return;
    this.#queued = true;
    (this.#d.later ?? ((fn) => setTimeout(fn, 0)))(this.#drain);
  }

  #deliver(): void {
    this.#queued = false;
    const to = this.#to, from = this.#from, payloads = this.#payloads;
    // What these deliveries send goes in the next batch.
    this.#to = [];
    this.#from = [];
    this.#payloads = [];
    for (let k = 0; k < to.length; k++) {
      const m = to[k];
      // The receiver left (or was removed) meanwhile, or its address went to a newer member.
      if (m.state !== "up" || m.address === "" || this.#d.byAddress(m.address) !== m) {
        this.counts.dropped++;
        this.#d.count("peer-down");
        continue;
      }
      this.counts.delivered++;
      this.#d.receive(m, from[k], payloads[k]);
    }
  }
}
