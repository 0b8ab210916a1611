/**
 * When the leader pushes its changes to the members it serves. A push tells every member that
 * sees a change what changed since it was last told: a datagram or a few each, each sealed and
 * written, so a push costs the leader in proportion to the members told, whatever it carries. A
 * push made for each batch of changes (a burst of joins makes several a second) cost at 10,000
 * members ten times a push's work at 1,000, per join: the leader's CPU and datagrams per join
 * grew with the mesh.
 *
 * So pushes take a budget of datagrams a second ({@link PUSH_DATAGRAMS_PER_SECOND}): after a push
 * of D datagrams the next one is made no sooner than D / budget seconds later (at most
 * {@link MAX_PUSH_GAP_MS}), and the changes meanwhile go together in it (a member's delta merges
 * every version since it was last told, in order: nothing is lost or reordered, and a member
 * behind the group's log asks for its whole view as before). Writes do not wait for it: the change
 * queue writes at its own pace (changes.ts); only telling the members is spaced. A change after a
 * quiet spell is pushed at once ({@link PUSH_COALESCE_MS} later, with the rest of its burst), and
 * the next push never starts before the one before it is out (its datagrams are sent a slice per
 * turn, answers.ts). A push that must go at once skips the gap: a new policy's (its notice follows
 * it, and members that missed the push would all ask) and a bye's (the node waits for its answer).
 * @module
 */

/**
 * Datagrams a second the leader's pushes may take, over a burst of changes: 10,000 is a push a
 * second to a mesh of 10,000 (a change told to all within the 2 s the scale targets) and leaves
 * a mesh of 1,000 its push every tenth of a second, as before. It is a fraction of what the leader
 * seals a second on a 2-core machine (about 40,000 under load), so joins, answers and the API keep
 * the rest however large the mesh.
 */
export const PUSH_DATAGRAMS_PER_SECOND = 10_000;

/**
 * The longest gap between two pushes, ms, whatever they cost: a change reaches every member within
 * about this (and the time its push takes to go out) in a mesh larger than the budget serves.
 */
export const MAX_PUSH_GAP_MS = 1000;

/** How long a change waits for the rest of its burst before it is pushed, ms. */
export const PUSH_COALESCE_MS = 50;

/** Timers, monotonic ms. */
export interface PushClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(id: unknown): void;
}

/** What the schedule works with. */
export interface PushScheduleOptions {
  /** Makes a push (the fan-out's datagrams queued to be sent); returns its datagrams. */
  make(): number;
  /**
   * The datagrams members pass on of the push just made (carried pushes, push_carry.ts): it
   * weighs against the budget as all the datagrams it makes, so pushes keep the cadence the
   * leader's own datagrams would have set (the members' work with them), not one for each few
   * datagrams the leader now sends.
   */
  passed?: () => number;
  /** Datagrams of the pushes made that are not out yet. */
  pushing(): number;
  /** Calls `fn` once every push made is out. */
  whenPushed(fn: () => void): void;
  /** Push datagrams a second (default {@link PUSH_DATAGRAMS_PER_SECOND}). */
  perSecond?: number;
  /** The longest gap, ms (default {@link MAX_PUSH_GAP_MS}). */
  maxGapMs?: number;
  /** Timers and the clock (default: `setTimeout` and `performance.now`). */
  clock?: PushClock;
}

const systemClock: PushClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/** What the schedule did, for `/metrics`. */
export interface PushCounts {
  /** Pushes made. */
  pushes: number;
  /** Their datagrams. */
  datagrams: number;
  /** Pushes that waited for the gap after the one before (a burst of changes). */
  spaced: number;
}

/** Decides when the next push is made. See the module docs. */
export class PushSchedule {
  readonly #o: PushScheduleOptions;
  readonly #clock: PushClock;
  readonly #perSecond: number;
  readonly #maxGap: number;
  #timer: unknown = undefined;
  // Whether a push waits for the one before it to be out.
  #waiting = false;
  // Monotonic ms before which no push is made (the budget's gap after the last one).
  #nextAt = -Infinity;
  #lastGap = 0;
  #closed = false;
  readonly #counts: PushCounts = { pushes: 0, datagrams: 0, spaced: 0 };

  /** A schedule over `o`. */
  constructor(o: PushScheduleOptions) {
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    this.#perSecond = o.perSecond ?? PUSH_DATAGRAMS_PER_SECOND;
    this.#maxGap = o.maxGapMs ?? MAX_PUSH_GAP_MS;
  }

  /** What it did so far. */
  get counts(): Readonly<PushCounts> {
    return this.#counts;
  }

  /** The gap the last push set, ms (0: none), for `/status`. */
  get gapMs(): number {
    return this.#lastGap;
  }

  /** A change was made: pushed with the rest of its burst, in the budget's time. */
  soon(): void {
    if (this.#closed || this.#timer !== undefined || this.#waiting) return;
    this.#timer = this.#clock.setTimer(this.#run, PUSH_COALESCE_MS);
  }

  /**
   * Pushes now if the budget allows (else at the gap's end); `force`: now whatever the gap (once
   * the push before is out).
   */
  now(force = false): void {
    if (this.#closed) return;
    if (force) this.#nextAt = -Infinity;
    this.#run();
  }

  /** Stops; no push is made from now on. */
  close(): void {
    this.#closed = true;
    this.#clear();
  }

  #clear(): void {
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  readonly #run = (): void => {
    this.#clear();
    if (this.#closed || this.#waiting) return;
    if (this.#o.pushing() > 0) {
      this.#waiting = true;
      this.#o.whenPushed(() => {
        this.#waiting = false;
        this.#run();
      });
      return;
    }
    const t = this.#clock.now();
    if (t < this.#nextAt) {
      this.#counts.spaced++;
      this.#timer = this.#clock.setTimer(this.#run, this.#nextAt - t);
      return;
    }
    const n = this.#o.make();
    if (n === 0) return;
    this.#counts.pushes++;
    this.#counts.datagrams += n;
    const weight = n + (this.#o.passed?.() ?? 0);
    this.#lastGap = Math.min(this.#maxGap, (weight * 1000) / this.#perSecond);
    this.#nextAt = t + this.#lastGap;
  };
}
