/**
 * Members fetching their view in windows (a snapshot, `fetch` messages and hellos that say which
 * window they lack): each member held to {@link FETCH_RATE}, at most {@link FETCHING_MAX} members
 * fetching at once and the others in line, in order, each answer paced (answers.ts) and scoped and
 * encoded once per group (fanout.ts).
 * @module
 */

import type { ControlMessage } from "../sync/protocol.ts";
import { RateLimiter } from "../../protocol/ratelimiter.ts";
import type { AnswerPacer } from "./answers.ts";
import type { LeaderCore } from "./core.ts";
import type { Fanout } from "./fanout.ts";

/**
 * Snapshot windows one member may ask for: a whole view of 10,000 members is some 20 windows,
 * fetched as fast as they arrive, so twenty a second with a burst of forty; more are refused and
 * counted (the member asks again).
 */
export const FETCH_RATE = { perSecond: 20, burst: 40 };

/**
 * Members fetching a snapshot at once: the others wait their turn (in order). With every joiner
 * of a burst fetching, each one's next window waited for every other's, none finished before its
 * snapshot was dropped, and at 10,000 members almost no view came whole.
 */
export const FETCHING_MAX = 64;

/** A member fetching a snapshot that asked nothing for this long gives its place up, ms. */
export const FETCH_IDLE_MS = 5_000;

/** The snapshot a hello says its node assembles (`sv`, `sp`), when both are counts. */
function snapshotOf(sv: unknown, sp: unknown): { v: number; part: number } | null {
  const ok = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  return ok(sv) && ok(sp) ? { v: sv as number, part: sp as number } : null;
}

/** What the snapshot fetches work with. */
export interface SnapshotFetchesDeps {
  /** The leader's state: whether a member in line is still a member. */
  core: Pick<LeaderCore, "memberByKey">;
  /** The fan-out, once the service started (null before). */
  fanout: () => Fanout | null;
  /** Sends the answers, paced, one under way per member. */
  answers: AnswerPacer;
  /** Monotonic milliseconds (default `performance.now`). */
  now?: () => number;
  /**
   * Answers members that take shared views (`fs`) with a manifest (./shared_views.ts; absent:
   * windows for all): false when the member's group takes none.
   */
  shared?: { answer(key: string, from: string, fetching: number | undefined): boolean };
}

/** The members fetching a snapshot and those in line for one. See the module docs. */
export class SnapshotFetches {
  readonly #deps: SnapshotFetchesDeps;
  readonly #answers: AnswerPacer;
  readonly #now: () => number;
  readonly #limit: RateLimiter;
  #refused = 0;
  // Members fetching a snapshot (by key: when they last asked), and those waiting to start one
  // (by key, in order: the address and version their hello came from).
  readonly #fetching = new Map<string, number>();
  readonly #waiting = new Map<string, { from: string; held: number }>();

  /** No member fetching yet. */
  constructor(deps: SnapshotFetchesDeps) {
    this.#deps = deps;
    this.#answers = deps.answers;
    this.#now = deps.now ?? (() => performance.now());
    this.#limit = new RateLimiter({
      ...FETCH_RATE,
      maxEntries: 16_384,
      ...(deps.now ? { now: deps.now } : {}),
    });
  }

  /** Fetches refused over {@link FETCH_RATE}. */
  get refused(): number {
    return this.#refused;
  }

  /**
   * Answers member `key`'s hello (from `from`) with what it lacks: a node a little behind gets
   * what changed in its scope; one far behind, new, or whose scope started over, its whole scoped
   * view: encoded once per group and version, paced, and not again while one is under way (its
   * next hello, after it, asks for a delta).
   */
  hello(key: string, from: string, msg: Extract<ControlMessage, { t: "hello" }>): void {
    const fanout = this.#deps.fanout();
    if (!fanout) return;
    // What it takes (packed parts or JSON ones) is what its latest hello says.
    fanout.packs(key, msg.fz === true);
    if (this.#answers.busy(key)) return void this.#answers.skipped++;
    // A node that fetches views in windows: the snapshot it is assembling goes on from the
    // part it lacks, or it gets a delta, or a window of a shared snapshot.
    const snap = msg.fw === true ? snapshotOf(msg.sv, msg.sp) : null;
    // A node that takes shared views and needs a whole one: a manifest, not windows.
    if (msg.fs === true && fanout.needsView(key, msg.v)) {
      if (this.#deps.shared?.answer(key, from, snap?.v)) return;
    }
    const goesOn = snap !== null && fanout.keeps(key, snap.v);
    if (msg.fw === true && !goesOn && fanout.needsView(key, msg.v)) {
      return this.#startView(key, from, msg.v);
    }
    if (goesOn) this.#fetching.set(key, this.#now());
    const parts = msg.fw === true ? fanout.fetch(key, msg.v, snap) : fanout.answer(key, msg.v);
    this.#answers.answer(key, from, parts, goesOn);
  }

  /**
   * Member `key`'s ask (from `from`, the sender checked by the caller) for the next window of the
   * snapshot it assembles (or the window it lost): its group's snapshot only, held to
   * {@link FETCH_RATE}; no write, and paced with the other answers (one under way per member).
   */
  fetch(key: string, from: string, msg: Extract<ControlMessage, { t: "fetch" }>): void {
    const fanout = this.#deps.fanout();
    if (!fanout) return;
    if (!this.#limit.allow(key)) return void this.#refused++;
    if (this.#answers.busy(key)) return void this.#answers.skipped++;
    const goesOn = fanout.keeps(key, msg.v);
    if (!goesOn && fanout.needsView(key, msg.h)) return this.#startView(key, from, msg.h);
    if (goesOn && fanout.lastWindow(key, msg.v, msg.part)) this.#fetched(key);
    else if (goesOn) this.#fetching.set(key, this.#now());
    const parts = fanout.fetch(key, msg.h, { v: msg.v, part: msg.part });
    this.#answers.answer(key, from, parts, goesOn);
  }

  /** Starts the snapshots of members in line while places are free. */
  admit(): void {
    const t = this.#now();
    for (const [k, at] of this.#fetching) if (t - at > FETCH_IDLE_MS) this.#fetching.delete(k);
    for (const [key, w] of this.#waiting) {
      if (this.#fetching.size >= FETCHING_MAX) break;
      this.#waiting.delete(key);
      if (this.#deps.core.memberByKey(key) && !this.#answers.busy(key)) {
        this.#startView(key, w.from, w.held);
      }
    }
  }

  /** Member `key` is gone: its place, or its place in line, goes. */
  forget(key: string): void {
    this.#fetching.delete(key);
    this.#waiting.delete(key);
  }

  /** Forgets every member fetching or in line. */
  clear(): void {
    this.#fetching.clear();
    this.#waiting.clear();
  }

  /**
   * Starts member `key`'s snapshot (its first window) when fewer than {@link FETCHING_MAX} are
   * fetching one, else puts it in line: it starts when a place frees.
   */
  #startView(key: string, from: string, held: number): void {
    const t = this.#now();
    for (const [k, at] of this.#fetching) if (t - at > FETCH_IDLE_MS) this.#fetching.delete(k);
    if (!this.#fetching.has(key) && this.#fetching.size >= FETCHING_MAX) {
      // Its place in line is kept (a Map keeps a key's place when it is set again).
      this.#waiting.set(key, { from, held });
      return;
    }
    const fanout = this.#deps.fanout()!;
    const parts = fanout.fetch(key, held);
    const v = fanout.newestSnapshot(key);
    // A snapshot of one window is whole at once: no place taken.
    if (v !== null && !fanout.lastWindow(key, v, 0)) this.#fetching.set(key, t);
    this.#answers.answer(key, from, parts);
  }

  /** Member `key` has its snapshot's last window: its place goes to the next in line. */
  #fetched(key: string): void {
    this.#fetching.delete(key);
    this.admit();
  }
}
