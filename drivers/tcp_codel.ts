/**
 * CoDel (RFC 8289) for a connection's write queue (`tcp.ts`): a queue is bounded by how long its
 * oldest frame has waited, not only by its bytes. A queue whose head has waited past a target
 * for a whole interval is a standing queue, not a burst: its head is dropped, then again at a
 * rate rising with the square root of the drops, until the wait falls under the target. The
 * tunnelled TCP reads each drop as congestion and backs off early, so the queue (and the delay
 * every other packet on the connection sees behind it) stays small; a burst that drains within
 * the target loses nothing.
 * @module
 */

/** The wait (ms) a queue's head may have that counts as no standing queue (RFC 8289's 5 ms). */
export const QUEUE_DELAY_TARGET_MS = 5;
/** How long (ms) the head must wait past the target before the first drop (RFC 8289's 100 ms). */
export const QUEUE_DELAY_INTERVAL_MS = 100;

/** One queue's CoDel state; {@link QueueDelay.drop} is asked at each dequeue. */
export class QueueDelay {
  /** The target wait in ms. */
  readonly target: number;
  /** The interval in ms. */
  readonly interval: number;
  /** True while in the dropping state. */
  dropping = false;
  // When the head's wait, above the target since, will have been so for an interval (0: not above).
  #firstAbove = 0;
  // When the next drop is due in the dropping state.
  #dropNext = 0;
  // Drops since the dropping state was entered, and that count when it was last entered.
  #count = 0;
  #lastCount = 0;

  /** A queue's state, with RFC 8289's target and interval unless given (ms). */
  constructor(target = QUEUE_DELAY_TARGET_MS, interval = QUEUE_DELAY_INTERVAL_MS) {
    this.target = target;
    this.interval = interval;
  }

  /**
   * Whether to drop the frame at the queue's head, which has waited `sojourn` ms at `now`;
   * `last`: it is the only frame queued (never dropped: the link would idle). After a drop ask
   * again for the next frame: several drops are due at once after a long stall.
   */
  drop(now: number, sojourn: number, last: boolean): boolean {
    const ok = this.#okToDrop(now, sojourn, last);
    if (this.dropping) {
      if (!ok) {
        this.dropping = false;
        return false;
      }
      if (now < this.#dropNext) return false;
      this.#count++;
      this.#dropNext = this.#controlLaw(this.#dropNext);
      return true;
    }
    if (!ok) return false;
    this.dropping = true;
    // Dropping again soon after the last dropping state: start near the rate that state reached.
    const delta = this.#count - this.#lastCount;
    this.#count = delta > 1 && now - this.#dropNext < 16 * this.interval ? delta : 1;
    this.#lastCount = this.#count;
    this.#dropNext = this.#controlLaw(now);
    return true;
  }

  /** The queue emptied: whatever comes next starts a new measure. */
  idle(): void {
    this.#firstAbove = 0;
    this.dropping = false;
  }

  #okToDrop(now: number, sojourn: number, last: boolean): boolean {
    if (sojourn < this.target || last) {
      this.#firstAbove = 0;
      return false;
    }
    if (this.#firstAbove === 0) {
      this.#firstAbove = now + this.interval;
      return false;
    }
    return now >= this.#firstAbove;
  }

  #controlLaw(t: number): number {
    return t + this.interval / Math.sqrt(this.#count);
  }
}
