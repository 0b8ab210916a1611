/**
 * Liveness from the messages a peer sends on its own schedule (a member's hellos to its leader),
 * in place of probes: each message heard is an answered sample given to the health tracker. A
 * leader of thousands learns from the hellos it gets anyway what probing every member every few
 * seconds would tell it (2,000 probes a second and their answers at 10,000 members), at no cost
 * on the wire.
 *
 * A message is missed once half an interval's slack has passed after it was due: that is one
 * lost sample, and the peer is probed from then on (`probing(peer, true)`) until it is heard again
 * (`probing(peer, false)`): a peer that went quiet is judged by probes, so one that is gone goes
 * down as a probed peer does, and one that talks to someone else (a member using another leader)
 * is still judged, at the probes' pace. The check walks the peers followed (one number compared
 * each) every `checkMs`; nothing is done per message but a map write.
 * @module
 */

/** Where the samples go (the health tracker). */
export interface HeardSink {
  /** The peer was heard from; with the RTT it measured, if it said. */
  recordHeard(peer: string, rttMs: number | null): void;
  /** The peer should have been heard from and was not. */
  recordMissed(peer: string): void;
}

/** How the liveness is made. */
export interface HeardOptions {
  /** The health tracker, or anything that takes its samples. */
  sink: HeardSink;
  /** Turns probes of a peer on (its messages stopped) or off (it is heard again). */
  probing: (peer: string, on: boolean) => void;
  /** How often the followed peers are checked for a message missed, ms (default 1000). */
  checkMs?: number;
  /** Monotonic ms (default `performance.now`). */
  now?: () => number;
  /**
   * Whether this node is behind reading its own socket (lib/device/lag.ts): the messages due may
   * be in its own queue, so no check is made meanwhile. Default: never.
   */
  lagging?: () => boolean;
}

interface Followed {
  /** The peer's interval between messages, ms. */
  everyMs: number;
  /** Monotonic ms after which the next message counts as missed. */
  dueAt: number;
  /** Its messages stopped: it is probed until one comes. */
  quiet: boolean;
  /** A message of its was heard (since it was followed). */
  heard: boolean;
}

/** A message is missed this many intervals after the last one (a late message is no loss). */
const SLACK = 1.5;

/** Follows peers by the messages they send. See the module docs. */
export class HeardLiveness {
  readonly #sink: HeardSink;
  readonly #probing: (peer: string, on: boolean) => void;
  readonly #checkMs: number;
  readonly #now: () => number;
  readonly #lagging: () => boolean;
  readonly #peers = new Map<string, Followed>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** A stopped liveness; `start` runs its check. */
  constructor(opts: HeardOptions) {
    this.#sink = opts.sink;
    this.#probing = opts.probing;
    this.#checkMs = opts.checkMs ?? 1000;
    this.#now = opts.now ?? (() => performance.now());
    this.#lagging = opts.lagging ?? (() => false);
  }

  /**
   * Follows a peer that sends a message every `everyMs`, not probed: the first is due within the
   * slack from now. A peer followed already is left as it is.
   */
  follow(peer: string, everyMs: number): void {
    if (this.#peers.has(peer)) return;
    this.#peers.set(peer, {
      everyMs,
      dueAt: this.#now() + SLACK * everyMs,
      quiet: false,
      heard: false,
    });
  }

  /** Stops following a peer. */
  unfollow(peer: string): void {
    this.#peers.delete(peer);
  }

  /** Whether a peer is followed. */
  follows(peer: string): boolean {
    return this.#peers.has(peer);
  }

  /** Whether a followed peer went quiet (it is probed until heard again). */
  quiet(peer: string): boolean {
    return this.#peers.get(peer)?.quiet ?? false;
  }

  /**
   * A message from a followed peer (ignored for others), which says when the next one comes
   * (`everyMs`; absent: as before) and may carry an RTT the peer measured (ms).
   */
  heard(peer: string, everyMs?: number, rttMs: number | null = null): void {
    const f = this.#peers.get(peer);
    if (!f) return;
    if (everyMs !== undefined) f.everyMs = everyMs;
    f.dueAt = this.#now() + SLACK * f.everyMs;
    f.heard = true;
    this.#sink.recordHeard(peer, rttMs);
    if (f.quiet) {
      f.quiet = false;
      this.#probing(peer, false);
    }
  }

  /**
   * A followed peer was asked to send its messages every `everyMs` from now on (a leader pacing
   * its members): the next is due within the slack of the new interval, with no sample taken.
   */
  expect(peer: string, everyMs: number): void {
    const f = this.#peers.get(peer);
    if (!f) return;
    f.everyMs = everyMs;
    f.dueAt = Math.max(f.dueAt, this.#now() + SLACK * everyMs);
  }

  /**
   * Records a missed sample for each peer whose message is overdue, and has it probed; nothing
   * while this node is behind (`lagging`).
   */
  check(): void {
    if (this.#lagging()) return;
    const now = this.#now();
    for (const [peer, f] of this.#peers) {
      if (f.quiet || now <= f.dueAt) continue;
      f.quiet = true;
      this.#sink.recordMissed(peer);
      this.#probing(peer, true);
    }
  }

  /** Whether a message of `peer` was heard since it was followed (it uses this receiver). */
  hasHeard(peer: string): boolean {
    return this.#peers.get(peer)?.heard === true;
  }

  /** Runs the check every `checkMs`. */
  start(): void {
    this.#timer ??= setInterval(() => this.check(), this.#checkMs);
  }

  /** Stops the check and forgets the peers; idempotent. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#peers.clear();
  }
}
