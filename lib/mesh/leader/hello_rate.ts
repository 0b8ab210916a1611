/**
 * The hellos' rate, per member ({@link HELLO_RATE}): a hello over it is not dropped but held, the
 * member's latest only, and taken when the rate allows, so a burst costs one change and the node
 * still gets what it said hello for. A hello within the rate drops the one held: a hello says the
 * member's whole state, so the held one is older, and taken after it would undo its change (a
 * member telling a change again, or asking for news, sends bursts). Byes are held to the same
 * rate (a bye and a hello in turns would each change the record).
 * @module
 */

import { RateLimiter } from "../../protocol/ratelimiter.ts";
import type { ControlMessage } from "../sync/protocol.ts";

/**
 * Hellos one member may send: a node says hello every 3 s and when it sees it is behind, so a
 * second's worth with a burst of five is plenty; each accepted hello may change its record (a
 * state write and a view version pushed to every member), so more is refused and counted.
 */
export const HELLO_RATE = { perSecond: 1, burst: 5 };

/** A hello, as the control channel parsed it. */
export type Hello = Extract<ControlMessage, { t: "hello" }>;

/** Holds each member's hellos to {@link HELLO_RATE}. See the module docs. */
export class HelloRate {
  readonly #limit: RateLimiter;
  readonly #take: (key: string, msg: Hello, from: string) => void;
  #refused = 0;
  // The latest hello of each member over the rate, taken when the rate allows (one per member).
  readonly #deferred = new Map<string, { msg: Hello; from: string }>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * A rate that calls `take` with each held hello (its member's key, the hello, the address it
   * came from) once the rate allows it; `now`: monotonic milliseconds (the limiter's default).
   */
  constructor(take: (key: string, msg: Hello, from: string) => void, now?: () => number) {
    this.#take = take;
    this.#limit = new RateLimiter({ ...HELLO_RATE, maxEntries: 16_384, ...(now ? { now } : {}) });
  }

  /** Hellos that came over the rate (held, the member's latest taken later). */
  get refused(): number {
    return this.#refused;
  }

  /**
   * Whether member `key`'s hello goes on now (a hello of it held back, older, is dropped); if
   * not, it is held (the member's latest only).
   */
  hello(key: string, msg: Hello, from: string): boolean {
    if (this.#limit.allow(key)) {
      this.#deferred.delete(key);
      return true;
    }
    this.#refused++;
    this.#deferred.set(key, { msg, from });
    this.#timer ??= setTimeout(() => this.#takeDeferred(), 1000 / HELLO_RATE.perSecond);
    return false;
  }

  /**
   * Whether member `key`'s bye is within the rate; if so, a hello held back is dropped: it is
   * older than the bye and must not bring the node back.
   */
  bye(key: string): boolean {
    if (!this.#limit.allow(key)) return false;
    this.#deferred.delete(key);
    return true;
  }

  /** Drops the held hellos and stops waiting for the rate. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#deferred.clear();
  }

  /** Takes the deferred hellos the rate allows now; waits again for the others. */
  #takeDeferred(): void {
    this.#timer = undefined;
    for (const [key, { msg, from }] of this.#deferred) {
      if (!this.#limit.allow(key)) continue;
      this.#deferred.delete(key);
      this.#take(key, msg, from);
    }
    if (this.#deferred.size > 0) {
      this.#timer = setTimeout(() => this.#takeDeferred(), 1000 / HELLO_RATE.perSecond);
    }
  }
}
