/**
 * The pace of the handshakes a device starts: at most so many initiations a second across all
 * its peers, in bursts of a few; the others wait, in the order they were asked for, and go out
 * as the budget comes back (the device's tick sends them: timers.ts).
 *
 * WireGuard paces a peer's initiations (one per REKEY_TIMEOUT), not the device's. A leader with
 * thousands of members starts one for each at once when their sessions expire together, or when,
 * loaded, it heard nothing from them for 15 s while it sent them views: each costs a DH, and
 * their responses, thousands in a few milliseconds, put the leader under load, so each needed a
 * cookie round trip and its initiation was sent again (the fleet bench at 10,000 on a loaded
 * machine saw 38,000 to 85,000 of them). Paced, the responses to our own initiations stay well
 * below the load threshold, and a peer that completes a handshake meanwhile (its own rekey)
 * needs none of ours; nor does one that went quiet and was heard from again while its
 * initiation waited. A loaded leader's socket drops some of each member's hellos, so thousands
 * go quiet at once, and while their initiations wait (at 100 a second, tens of seconds) the
 * next hello comes in on the session the initiation would have replaced: sent then, it only
 * costs DHs on both sides and a response to read, work for a leader that is behind already.
 * @module
 */

import type { Peer } from "../peer/peer.ts";
import { refilled } from "../protocol/ratelimiter.ts";

/** How many initiations a device starts a second, and in one burst. */
export interface InitiationRate {
  /** Initiations a second, across all peers. */
  perSecond: number;
  /** At most this many at once. */
  burst: number;
}

/**
 * The default: a tenth of the default under-load threshold (1,000 handshake messages a second),
 * so the responses to our own initiations alone never put us under load, in bursts of a quarter
 * of one load window's share (100 messages in 100 ms). A node with a few peers never waits.
 */
export const DEFAULT_INITIATION_RATE: InitiationRate = { perSecond: 100, burst: 25 };

/** An initiation waiting for the budget. */
export interface WaitingInitiation {
  /** A retransmission of the handshake in flight (sent regardless of REKEY_TIMEOUT). */
  retry: boolean;
  /** The peer's completed handshakes when it began to wait: one more and it is not sent. */
  handshakes: number;
  /**
   * Asked for only because the peer went quiet (data sent, nothing heard for KEEPALIVE +
   * REKEY_TIMEOUT): the peer's transport packets received when it began to wait, and one more
   * and it is not sent (the session it would replace works). -1: asked for another reason too.
   */
  quietRx: number;
}

/** The budget and the initiations waiting for it. See the module docs. */
export class InitiationPace {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #at = -Infinity;
  /** The initiations waiting, by peer, oldest first. */
  readonly waiting: Map<Peer, WaitingInitiation> = new Map();

  /** A budget of `rate` (default {@link DEFAULT_INITIATION_RATE}), full. */
  constructor(rate: InitiationRate = DEFAULT_INITIATION_RATE) {
    if (!(rate.perSecond > 0) || !(rate.burst >= 1)) {
      throw new RangeError("initiation rate: perSecond > 0 and burst >= 1");
    }
    this.#rate = rate.perSecond / 1000;
    this.#burst = rate.burst;
    this.#tokens = rate.burst;
  }

  /** Whether an initiation may go at `now` (monotonic ms); if so, it is counted. */
  take(now: number): boolean {
    if (this.#at !== -Infinity) {
      this.#tokens = refilled(this.#tokens, Math.max(0, now - this.#at), this.#rate, this.#burst);
    }
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /**
   * `peer`'s initiation waits (a retransmission stays one if it waited as one); `quiet`: asked
   * for only because the peer went quiet (any other reason asked for meanwhile makes it count).
   */
  defer(peer: Peer, retry: boolean, quiet = false): void {
    const w = this.waiting.get(peer);
    if (w) {
      w.retry ||= retry;
      if (!quiet) w.quietRx = -1;
    } else {
      this.waiting.set(peer, {
        retry,
        handshakes: peer.counters.handshakes,
        quietRx: quiet ? peer.counters.rxPackets : -1,
      });
    }
  }
}
