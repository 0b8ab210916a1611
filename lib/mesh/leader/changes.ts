/**
 * The leader's change queue: every change to its state is an edit of a copy that becomes the
 * state only once its store committed it. Apart from the core so the bookkeeping reads as what it
 * does, not how it gets it written.
 * @module
 */

import type { LeaderFile } from "../state/state.ts";

/** Records one change made to a copy of the state: the members it touched move the version. */
export type Touch = (...keys: string[]) => void;

/** A change waiting for its turn. */
interface Pending {
  edit: (d: LeaderFile, touch: Touch) => Edit<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** What an edit of the state copy produced. */
export interface Edit<T> {
  /** What the caller gets once the copy is in the store. */
  result: T;
  /** True when the copy differs from the state and must be written. */
  write: boolean;
  /** Runs once the copy is the state (notifications). */
  after?: () => void;
}

/**
 * A copy of the state an edit may change: the lists and maps it edits are copied, the join
 * records (one a member) forked, costing what the batch changes (../state/record_map.ts).
 */
export function copyState(d: LeaderFile): LeaderFile {
  // Member records are replaced, never edited, so the copy shares them; tokens are edited.
  return {
    ...d,
    members: [...d.members],
    tokens: d.tokens.map((t) => ({ ...t })),
    joins: d.joins.fork(),
    left: { ...d.left },
  };
}

/** One version's change: the members it touched. */
export interface VersionEntry {
  /** The version the change made. */
  version: number;
  /** The public keys of the members it touched. */
  keys: string[];
}

/**
 * After a batch whose own work took `t` ms (copying the state and its indexes, the edits, the
 * write, the view applied and pushed: much of it grows with the mesh, whatever the batch holds),
 * the next one starts no sooner than `t × BATCH_GAP_FACTOR` ms later: under a stream of changes
 * (joins, hellos) the batches grow, so that cost stays a small share of the leader's time, while
 * a change after a quiet spell runs at once. The time the batch awaits its write's answer (etcd's
 * round trip, a sync to disk) is not its work: the leader does other work meanwhile, and with a
 * shared store, whose commits carry a bounded number of changes, counting it would hold the joins
 * to a few batches a second.
 */
export const BATCH_GAP_FACTOR = 3;

/** The longest a change waits for the gap after the batch before it, ms. */
export const MAX_BATCH_GAP_MS = 250;

/** How many times a batch runs again on a newer state before it gives up (other writers). */
export const MAX_ATTEMPTS = 64;

/** Monotonic ms, and a wait. */
interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** What the queue reads, writes and tells: passed in by the core. */
export interface ChangeQueueOptions {
  /** The state now (the copy of each batch starts from it). */
  current(): LeaderFile;
  /** The store's revision of {@link current}. */
  revision(): number;
  /**
   * Commits a batch's copy on revision `base`: the new revision, or null when another writer
   * came first. A rejection rejects every change it carried.
   */
  write(d: LeaderFile, base: number): Promise<number | null>;
  /** Makes the store's state now the current one (after a conflict); the batch runs again. */
  reload(): Promise<void>;
  /**
   * The most changes one write carries (a store's transactions are bounded: etcd takes 128
   * operations); absent: every change waiting.
   */
  maxBatch?: number;
  /** The batch gap's factor (default {@link BATCH_GAP_FACTOR}; 0: each batch at once). */
  gapFactor?: number;
  /** Monotonic ms, and a wait of `ms` (defaults: `performance.now` and a timer). */
  clock?: Clock;
  /** Runs before and after each edit (for what a caller caches of the state it edits). */
  eachEdit?(): void;
  /** Tells the core that a batch's copy `to` was made of `from` (it forks its indexes). */
  copied?(from: LeaderFile, to: LeaderFile): void;
  /** Runs between batches, when no write is under way (the core takes in watched changes). */
  between?(): void;
  /** Makes the written copy the state at `revision`, with the versions it touched (maybe none). */
  commit(d: LeaderFile, log: VersionEntry[], revision: number): void;
}

const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
};

/** Applies edits of the leader's state one after the other, written in batches. */
export class ChangeQueue {
  readonly #opts: ChangeQueueOptions;
  // Changes waiting for the next write, and whether a write is under way.
  #pending: Pending[] = [];
  #writing = false;
  // Monotonic ms before which the next batch does not start (BATCH_GAP_FACTOR).
  #nextAt = 0;

  /** A queue over the state `opts` reads and writes. */
  constructor(opts: ChangeQueueOptions) {
    this.#opts = opts;
  }

  /** True while a batch is being edited or written. */
  get busy(): boolean {
    return this.#writing;
  }

  /**
   * Makes one change: `edit` works on a copy of the state, the copy is written, and only then
   * does it become the state. Changes apply one after the other, each on top of every change
   * before it, so two requests never allocate the same address or use a token twice. The
   * changes that arrive while a write is under way are written together by the next one (a
   * burst of joins costs a few writes, not one each); a write that fails rejects every change
   * it carried and leaves memory exactly as it was, so no answer depends on state that is not
   * in the store. An edit throws only before it changes anything, and reads nothing but `d`:
   * when another leader commits first, it runs again on the newer state.
   */
  change<T>(edit: (d: LeaderFile, touch: Touch) => Edit<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ edit, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#writing) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    const clock = this.#opts.clock ?? systemClock;
    while (this.#pending.length) {
      const wait = this.#nextAt - clock.now();
      if (wait > 0) await clock.sleep(wait);
      const batch = this.#pending.splice(0, this.#opts.maxBatch ?? this.#pending.length);
      this.#opts.between?.();
      const started = clock.now();
      const awaited = await this.#run(batch, clock);
      const ended = clock.now();
      const factor = this.#opts.gapFactor ?? BATCH_GAP_FACTOR;
      const work = ended - started - awaited;
      this.#nextAt = ended + Math.min(MAX_BATCH_GAP_MS, work * factor);
    }
    this.#writing = false;
    this.#opts.between?.();
  }

  /**
   * Runs a batch's edits on a copy of the state and commits it; another writer's commit first
   * (a shared store) loads the newer state and runs the edits again on it, so what is committed
   * was computed from what the store held. Only the committed run's results are told. Returns
   * the ms spent awaiting the writes' answers (from each call's return to its answer).
   */
  async #run(batch: Pending[], clock: Clock): Promise<number> {
    let awaited = 0;
    for (let attempt = 1;; attempt++) {
      const base = this.#opts.revision();
      const current = this.#opts.current();
      const d = copyState(current);
      this.#opts.copied?.(current, d);
      const log: VersionEntry[] = [];
      const touch: Touch = (...keys) => {
        d.version++;
        log.push({ version: d.version, keys });
      };
      const outcomes: { p: Pending; out?: Edit<unknown>; error?: unknown }[] = [];
      let write = false;
      for (const p of batch) {
        try {
          this.#opts.eachEdit?.();
          const out = p.edit(d, touch);
          this.#opts.eachEdit?.();
          write ||= out.write;
          outcomes.push({ p, out });
        } catch (error) {
          outcomes.push({ p, error });
        }
      }
      let revision = base;
      if (write || log.length) {
        try {
          // What the store does before its call returns (its diff of the copy) is the batch's.
          const answer = this.#opts.write(d, base);
          const sent = clock.now();
          const committed = await answer.finally(() => awaited += clock.now() - sent);
          if (committed === null) {
            if (attempt >= MAX_ATTEMPTS) {
              throw new Error(`the store changed under ${attempt} attempts in a row: try again`);
            }
            await this.#opts.reload();
            continue;
          }
          revision = committed;
        } catch (e) {
          for (const o of outcomes) o.p.reject(o.error ?? e);
          return awaited;
        }
      }
      this.#opts.commit(d, log, revision);
      for (const o of outcomes) {
        if (o.out) {
          o.out.after?.();
          o.p.resolve(o.out.result);
        } else o.p.reject(o.error);
      }
      return awaited;
    }
  }
}
