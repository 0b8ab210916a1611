/**
 * A pool of Deno Workers that seal and open ChaCha20-Poly1305 entries with libsodium, in place in
 * shared memory (lib/crypto/pool_kernel.ts), so a batch of packets is encrypted on several cores.
 *
 * It is fork-join: {@link CryptoWorkerPool.run} splits a range of entries into one share per
 * worker plus one for the calling thread, wakes the workers with `Atomics.notify`, does its own
 * share, then takes back every share whose worker has not woken yet (a loaded machine may not run
 * it for a while: better to do it here than to wait) and waits (`Atomics.wait`) for the shares
 * the workers took. So a batch costs one wake-up per worker, and no promise or message per packet
 * or per batch; the caller's thread never runs ahead of the workers, so nothing it does (wiping a
 * key, reusing an entry) can race them. Small batches are done on the calling thread alone: a
 * wake-up costs more than a few packets' crypto.
 *
 * Keys live in the pool's shared key table ({@link CryptoWorkerPool.key}): registering one is a
 * copy into a free slot, and `destroy` wipes the slot, the only copy every thread uses.
 *
 * A worker that fails (its loop threw, it died, or it took a share and did not finish it within
 * `timeoutMs`) fails the pool: the error is reported once, the workers are terminated, the
 * unfinished entries of that batch are marked lost, and from then on `run` does everything on the
 * calling thread. Keys stay valid: they are libsodium keys the calling thread uses too.
 * @module
 */

import type { AeadKey } from "./types.ts";
import { openSodium, sodiumKeyIn } from "./sodium.ts";
import {
  E_CTR_HI,
  E_CTR_LO,
  E_KEY,
  E_LENGTH,
  E_OFFSET,
  E_OP,
  E_RESULT,
  ENTRY_INTS,
  KEY_BYTES,
  LANE_CLAIM,
  LANE_DONE,
  LANE_FROM,
  LANE_INTS,
  LANE_SEQ,
  LANE_STATE,
  LANE_TO,
  POOL_SYMBOLS,
  type PoolBuffers,
  PoolKernel,
  type PoolLib,
  RESULT_PENDING,
  STATE_FAILED,
  type WorkerStart,
} from "./pool_kernel.ts";

export {
  OP_OPEN,
  OP_SEAL,
  RESULT_BAD,
  RESULT_FORGED,
  RESULT_OK,
  RESULT_PENDING,
  TAG_BYTES,
} from "./pool_kernel.ts";

/** How a pool is made. */
export interface CryptoWorkerPoolOptions {
  /** Worker threads, 1 to 64. */
  workers: number;
  /** Entries in the table (default 256). */
  entries?: number;
  /** Bytes of packet memory the entries point into. */
  dataBytes: number;
  /** Key slots (default 4,096: a few hundred peers' three sessions of two keys). */
  keySlots?: number;
  /** Ranges shorter than this run on the calling thread alone (default 8). */
  minParallel?: number;
  /** How long (ms) to wait for a worker's share before declaring it dead (default 2,000). */
  timeoutMs?: number;
  /**
   * Take back the share of a worker that has not woken by the time this thread's own is done
   * (default true). False always waits for the workers: for tests that must see them work.
   */
  takeBack?: boolean;
  /** Hears the one failure that turns the workers off. Default: `console.error`. */
  onError?: (error: Error) => void;
  /** Makes a worker from the entry's URL (tests wrap it). Default: a module Worker. */
  spawn?: (url: URL) => Worker;
}

/** A key whose bytes live in a slot of a pool's shared key table. */
export class PooledKey implements AeadKey {
  readonly #inner: AeadKey;
  readonly #wipe: (slot: number) => void;
  #slot: number;

  /** Binds `inner`, which uses the slot's bytes in place; `wipe` wipes and frees the slot. */
  constructor(slot: number, inner: AeadKey, wipe: (slot: number) => void) {
    this.#slot = slot;
    this.#inner = inner;
    this.#wipe = wipe;
  }

  /** The key's slot, or -1 once destroyed. */
  get slot(): number {
    return this.#slot;
  }

  /** Seals on the calling thread (see AeadKey.seal). */
  seal(counter: number, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): void {
    this.#inner.seal(counter, src, dst, ad);
  }

  /** Opens on the calling thread (see AeadKey.open). */
  open(counter: number, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): boolean {
    return this.#inner.open(counter, src, dst, ad);
  }

  /** Wipes the slot (every thread's only copy) and frees it; idempotent. */
  destroy(): void {
    if (this.#slot < 0) return;
    const slot = this.#slot;
    this.#slot = -1;
    this.#wipe(slot);
    this.#inner.destroy();
  }
}

/** Messages a worker sends while starting. */
type WorkerReply = { ready: true } | { error: string };

const TWO32 = 0x1_0000_0000;
/** How long workers may take to load and answer `ready` (a busy machine loads modules slowly). */
const START_TIMEOUT_MS = 30_000;

/** What a pool has done. */
export interface CryptoWorkerStats {
  /** Entries run (sealed or opened, on any thread). */
  entries: number;
  /** Runs that were split with the workers (the rest were too small, or the pool failed). */
  parallelRuns: number;
  /** Entries the workers did in those runs (the rest, the calling thread). */
  workerEntries: number;
}

/** A pool of crypto workers; see the module docs. */
export class CryptoWorkerPool {
  /** What the pool has done (counters, never reset). */
  readonly stats: CryptoWorkerStats = { entries: 0, parallelRuns: 0, workerEntries: 0 };
  /** The packet memory entries point into (shared with the workers). */
  readonly data: Uint8Array;
  /** How many entries the table holds. */
  readonly capacity: number;
  /** The worker threads started. */
  readonly workers: number;
  readonly #kernel: PoolKernel;
  readonly #entries: Int32Array;
  readonly #control: Int32Array;
  readonly #threads: Worker[];
  readonly #seq: number[];
  readonly #freeKeys: number[] = [];
  readonly #minParallel: number;
  readonly #timeoutMs: number;
  readonly #takeBack: boolean;
  readonly #onError: (error: Error) => void;
  readonly #wipe = (slot: number) => this.#wipeKey(slot);
  #beforeWipe: (() => void) | null = null;
  #failure: Error | null = null;
  #closed = false;

  private constructor(
    kernel: PoolKernel,
    threads: Worker[],
    opts: CryptoWorkerPoolOptions,
    keySlots: number,
  ) {
    this.#kernel = kernel;
    this.data = kernel.data;
    this.#entries = kernel.entries;
    this.#control = kernel.control;
    this.capacity = kernel.entries.length / ENTRY_INTS;
    this.#threads = threads;
    this.workers = threads.length;
    this.#seq = threads.map(() => 0);
    for (let s = keySlots - 1; s >= 0; s--) this.#freeKeys.push(s);
    this.#minParallel = Math.max(2, opts.minParallel ?? 8);
    this.#timeoutMs = opts.timeoutMs ?? 2000;
    this.#takeBack = opts.takeBack ?? true;
    this.#onError = opts.onError ?? ((e) => console.error("crypto workers:", e.message));
  }

  /**
   * Starts `workers` threads, each with its own libsodium; resolves once all are ready. Throws
   * when libsodium cannot be loaded here or in a worker, or a worker fails to start.
   */
  static async start(opts: CryptoWorkerPoolOptions): Promise<CryptoWorkerPool> {
    const workers = opts.workers;
    if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
      throw new RangeError(`crypto workers must be 1 to 64, got ${workers}`);
    }
    const entries = opts.entries ?? 256;
    const keySlots = opts.keySlots ?? 4096;
    if (!Number.isInteger(entries) || entries < 1) throw new RangeError("entries must be >= 1");
    if (!Number.isInteger(keySlots) || keySlots < 1) throw new RangeError("keySlots must be >= 1");
    if (!Number.isInteger(opts.dataBytes) || opts.dataBytes < 64 || opts.dataBytes >= 2 ** 31) {
      throw new RangeError("dataBytes must be 64 bytes to 2 GiB");
    }
    const lib = openSodium(POOL_SYMBOLS);
    if (lib === null) throw new Error("crypto workers need libsodium, which could not be loaded");
    const buffers: PoolBuffers = {
      control: new SharedArrayBuffer((workers + 1) * LANE_INTS * 4),
      keys: new SharedArrayBuffer(keySlots * KEY_BYTES),
      entries: new SharedArrayBuffer(entries * ENTRY_INTS * 4),
      data: new SharedArrayBuffer(opts.dataBytes),
    };
    const kernel = new PoolKernel(lib.symbols as unknown as PoolLib, buffers);
    const spawn = opts.spawn ??
      ((url: URL) => new Worker(url, { type: "module", name: "weft-crypto" }));
    const url = new URL("./pool_worker.ts", import.meta.url);
    const threads: Worker[] = [];
    // Before the pool exists, a worker's death rejects the start; after, it fails the pool. A
    // death in between (just after `ready`) is kept here for the pool to hear.
    const deaths: Error[] = [];
    let pool: CryptoWorkerPool | null = null;
    try {
      const ready: Promise<void>[] = [];
      for (let lane = 1; lane <= workers; lane++) {
        const w = spawn(url);
        threads.push(w);
        ready.push(
          new Promise<void>((resolve, reject) => {
            w.onmessage = (ev: MessageEvent<WorkerReply>) => {
              if ("ready" in ev.data) resolve();
              else reject(new Error(`crypto worker ${lane}: ${ev.data.error}`));
            };
            w.onerror = (ev) => {
              ev.preventDefault();
              const e = new Error(`crypto worker ${lane} failed: ${ev.message}`);
              reject(e);
              if (pool === null) deaths.push(e);
              else pool.#fail(e);
            };
          }),
        );
        w.postMessage({ buffers, lane } satisfies WorkerStart);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`crypto workers did not start within ${START_TIMEOUT_MS} ms`)),
          START_TIMEOUT_MS,
        );
      });
      try {
        await Promise.race([Promise.all(ready), late]);
      } finally {
        clearTimeout(timer);
      }
    } catch (e) {
      for (const w of threads) w.terminate();
      throw e;
    }
    for (const w of threads) w.onmessage = null;
    pool = new CryptoWorkerPool(kernel, threads, opts, keySlots);
    if (deaths.length > 0) pool.#fail(deaths[0]);
    return pool;
  }

  /** Why the workers were turned off, or null while they work. */
  get failure(): Error | null {
    return this.#failure;
  }

  /**
   * A key in a free slot of the shared table (the raw bytes are copied there), usable on this
   * thread like any libsodium key; null when the table is full (use a key of its own then).
   */
  key(raw: Uint8Array): PooledKey | null {
    if (raw.length !== KEY_BYTES) throw new RangeError("a key must be 32 bytes");
    const slot = this.#freeKeys.pop();
    if (slot === undefined) return null;
    const store = this.#kernel.keys.subarray(slot * KEY_BYTES, (slot + 1) * KEY_BYTES);
    store.set(raw);
    const inner = sodiumKeyIn(store);
    if (inner === null) {
      // Not reached: the pool exists only where libsodium loads.
      store.fill(0);
      this.#freeKeys.push(slot);
      return null;
    }
    return new PooledKey(slot, inner, this.#wipe);
  }

  /**
   * Calls `hook` before any key is wiped, so work queued for it (not yet in an entry handed to
   * `run`) can be done first; one hook, replaced by the next call.
   */
  beforeKeyWipe(hook: () => void): void {
    this.#beforeWipe = hook;
  }

  /** Runs the hook, wipes the slot (every thread's copy) and frees it. */
  #wipeKey(slot: number): void {
    try {
      this.#beforeWipe?.();
    } finally {
      this.#kernel.keys.fill(0, slot * KEY_BYTES, (slot + 1) * KEY_BYTES);
      this.#freeKeys.push(slot);
    }
  }

  /** Writes entry `i`: seal or open `length` bytes at `offset` of {@link data} with a key. */
  set(
    i: number,
    op: number,
    key: PooledKey,
    counter: number,
    offset: number,
    length: number,
  ): void {
    const e = this.#entries;
    const at = i * ENTRY_INTS;
    e[at + E_OP] = op;
    e[at + E_KEY] = key.slot;
    e[at + E_CTR_LO] = counter >>> 0;
    e[at + E_CTR_HI] = Math.floor(counter / TWO32);
    e[at + E_OFFSET] = offset;
    e[at + E_LENGTH] = length;
    e[at + E_RESULT] = RESULT_PENDING;
  }

  /** Entry `i`'s result: one of the RESULT_ values. */
  result(i: number): number {
    return this.#entries[i * ENTRY_INTS + E_RESULT];
  }

  /**
   * Seals and opens entries [from, to) across the workers and this thread; returns when all are
   * done, or (a worker failed) with the entries it had taken left pending for good. Never blocks
   * longer than `timeoutMs` past this thread's own share.
   */
  run(from: number, to: number): void {
    const n = to - from;
    if (n <= 0) return;
    this.stats.entries += n;
    const lanes = this.#failure === null && !this.#closed && n >= this.#minParallel
      ? Math.min(this.workers, Math.floor(n / 2)) + 1
      : 1;
    if (lanes === 1) {
      this.#kernel.run(0, from, to);
      return;
    }
    const per = Math.ceil(n / lanes);
    const c = this.#control;
    this.stats.parallelRuns++;
    // Workers get the later shares; this thread the first, done while they wake.
    for (let w = 1; w < lanes; w++) {
      const base = w * LANE_INTS;
      // Kept within the shared Int32Array's positive range: job 2^31 written there would read as
      // negative, which a worker takes as "stop".
      const prev = this.#seq[w - 1];
      const seq = this.#seq[w - 1] = prev === 0x7fff_ffff ? 1 : prev + 1;
      c[base + LANE_FROM] = Math.min(to, from + w * per);
      c[base + LANE_TO] = Math.min(to, from + (w + 1) * per);
      Atomics.store(c, base + LANE_CLAIM, seq);
      Atomics.store(c, base + LANE_SEQ, seq);
      Atomics.notify(c, base + LANE_SEQ, 1);
    }
    this.#kernel.run(0, from, Math.min(to, from + per));
    let deadline = 0;
    for (let w = 1; w < lanes; w++) {
      const base = w * LANE_INTS;
      const seq = this.#seq[w - 1];
      if (this.#takeBack && Atomics.compareExchange(c, base + LANE_CLAIM, seq, 0) === seq) {
        // Not woken yet: its share is done here, and it will find the job taken.
        this.#kernel.run(0, c[base + LANE_FROM], c[base + LANE_TO]);
        continue;
      }
      // A failed pool does not wait: what its workers took is lost (left pending).
      if (this.#failure !== null) continue;
      this.stats.workerEntries += c[base + LANE_TO] - c[base + LANE_FROM];
      let done = Atomics.load(c, base + LANE_DONE);
      while (done !== seq && this.#failure === null) {
        if (deadline === 0) deadline = performance.now() + this.#timeoutMs;
        const left = deadline - performance.now();
        if (left <= 0) {
          this.#fail(new Error(`crypto worker ${w} did not finish within ${this.#timeoutMs} ms`));
          break;
        }
        // Sleeps until the worker publishes a job done (it wakes us), or the time runs out.
        Atomics.wait(c, base + LANE_DONE, done, left);
        done = Atomics.load(c, base + LANE_DONE);
      }
      if (done === seq && Atomics.load(c, base + LANE_STATE) === STATE_FAILED) {
        this.#fail(new Error(`crypto worker ${w} failed during a batch`));
      }
    }
  }

  /** Turns the workers off for good, once: reported, terminated; `run` goes on alone. */
  #fail(error: Error): void {
    if (this.#failure !== null || this.#closed) return;
    this.#failure = error;
    this.#stopThreads();
    try {
      this.#onError(error);
    } catch {
      // The reporter failed; `failure` still says why.
    }
  }

  #stopThreads(): void {
    const c = this.#control;
    for (let w = 1; w <= this.#threads.length; w++) {
      Atomics.store(c, w * LANE_INTS + LANE_SEQ, -1);
      Atomics.notify(c, w * LANE_INTS + LANE_SEQ);
    }
    for (const t of this.#threads) t.terminate();
  }

  /**
   * Stops the workers. Keys made by the pool stay usable on this thread (their slots are only
   * wiped by their own `destroy`); `run` then works on this thread alone.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#failure === null) this.#stopThreads();
  }
}
