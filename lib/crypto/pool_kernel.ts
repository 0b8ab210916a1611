/**
 * The shared memory of the crypto worker pool (lib/crypto/worker_pool.ts) and the loop that
 * seals and opens its entries, run alike by the workers and by the thread that owns the pool.
 *
 * Four SharedArrayBuffers, made once by the pool and handed to each worker at its start:
 *
 * - `control`: one 64-byte lane per thread (lane 0 the pool's owner, lane w a worker): a job's
 *   sequence number, the last one done, the range of entries, who took the job, the lane's state,
 *   and the lane's 12-byte nonce (each thread writes only its own, a cache line apart from the
 *   others').
 * - `keys`: 32 bytes per key slot. Keys live only here: wiping a slot wipes every thread's key.
 * - `entries`: 8 int32 per entry: what to do, the key slot, the 64-bit counter, where in `data`
 *   and how long, and the result.
 * - `data`: the packets, sealed and opened in place.
 *
 * libsodium gets views of the shared buffers, made once per offset and kept (an entry's offset
 * is one of a few slots), so the loop makes no object per packet in any thread. (Addresses as
 * plain numbers would need none, but numbers past 2^31 take Deno's slow FFI path, which
 * allocates per call.)
 * @module
 */

import { u64 } from "../io/u64.ts";
import { SODIUM_AEAD_SYMBOLS, type SodiumAeadLib } from "./sodium.ts";

/** A zero u64 (the additional data's length: none). */
const ZERO = 0n;

/** Int32 per lane in `control` (64 bytes: lanes never share a cache line). */
export const LANE_INTS = 16;
/** Lane field: the sequence number of the job posted to it (-1: stop). */
export const LANE_SEQ = 0;
/** Lane field: the sequence number of the last job it finished. */
export const LANE_DONE = 1;
/** Lane field: the first entry of its job. */
export const LANE_FROM = 2;
/** Lane field: one past the last entry of its job. */
export const LANE_TO = 3;
/** Lane field: {@link STATE_OK}, or {@link STATE_FAILED} once its thread met an error. */
export const LANE_STATE = 4;
/**
 * Lane field: who does the posted job. The owner posts job `seq` open (`seq`); the worker takes
 * it by swapping in `-seq`, or the owner takes it back by swapping in 0 when the worker has not
 * woken yet (compare-and-swap both ways, so exactly one of them runs it).
 */
export const LANE_CLAIM = 5;
/** Byte offset, within a lane, of its 12-byte nonce. */
export const LANE_NONCE = 32;
/** The lane's state while it works. */
export const STATE_OK = 0;
/** The lane's thread failed and stopped; its job's unfinished entries are lost. */
export const STATE_FAILED = 1;

/** Int32 per entry in `entries`. */
export const ENTRY_INTS = 8;
/** Entry field: {@link OP_SEAL} or {@link OP_OPEN}. */
export const E_OP = 0;
/** Entry field: the key slot. */
export const E_KEY = 1;
/** Entry field: the counter's low 32 bits. */
export const E_CTR_LO = 2;
/** Entry field: the counter's high 32 bits. */
export const E_CTR_HI = 3;
/** Entry field: the byte offset in `data`. */
export const E_OFFSET = 4;
/** Entry field: the input length (plaintext to seal; ciphertext and tag to open). */
export const E_LENGTH = 5;
/** Entry field: a RESULT_ value, RESULT_PENDING until a thread has done the entry. */
export const E_RESULT = 6;

/** Seal `length` bytes at `offset` in place; the tag follows them. */
export const OP_SEAL = 1;
/** Open `length` bytes (ciphertext then tag) at `offset` in place. */
export const OP_OPEN = 2;

/** Not done (yet; or never, when its thread died). */
export const RESULT_PENDING = 0;
/** Sealed, or opened and authentic. */
export const RESULT_OK = 1;
/** Opened and not authentic: the packet is forged or corrupt (libsodium wiped the output). */
export const RESULT_FORGED = 2;
/** The entry pointed outside the shared memory or named no key: nothing was done. */
export const RESULT_BAD = 3;

/** Bytes per key slot. */
export const KEY_BYTES = 32;
/** ChaCha20-Poly1305's tag. */
export const TAG_BYTES = 16;

/** The pool's four buffers, as sent to a worker. */
export interface PoolBuffers {
  /** Lanes: jobs, completions, nonces. */
  control: SharedArrayBuffer;
  /** Key slots, 32 bytes each. */
  keys: SharedArrayBuffer;
  /** The entry table. */
  entries: SharedArrayBuffer;
  /** The packets. */
  data: SharedArrayBuffer;
}

/** What a worker is started with (its one message). */
export interface WorkerStart {
  /** The pool's shared buffers. */
  buffers: PoolBuffers;
  /** This worker's lane (1 and up; 0 is the pool's owner). */
  lane: number;
}

/** libsodium's AEAD as the pool opens it: the same declarations as lib/crypto/sodium.ts. */
export const POOL_SYMBOLS = SODIUM_AEAD_SYMBOLS;

/** The calls as the loop makes them. */
export type PoolLib = SodiumAeadLib;

/** Offsets whose views a thread keeps; past that (a caller using many), views are made anew. */
const MAX_KEPT_VIEWS = 8192;

/** One thread's views of the pool's buffers, and the loop over entries. */
export class PoolKernel {
  /** The lanes, as int32. */
  readonly control: Int32Array;
  /** The entries, as int32. */
  readonly entries: Int32Array;
  /** The packets. */
  readonly data: Uint8Array;
  /** The key slots. */
  readonly keys: Uint8Array;
  readonly #lib: PoolLib;
  readonly #controlView: DataView;
  readonly #controlBytes: Uint8Array;
  readonly #keySlots: number;
  /** Per lane, the view of its nonce. */
  readonly #nonces: Uint8Array[] = [];
  /** Per key slot, the view of its key, made on first use. */
  readonly #keyViews: (Uint8Array | undefined)[] = [];
  /** Views of `data` from an offset to its end, by offset. */
  readonly #dataViews = new Map<number, Uint8Array>();

  constructor(lib: PoolLib, buffers: PoolBuffers) {
    this.#lib = lib;
    this.control = new Int32Array(buffers.control);
    this.#controlView = new DataView(buffers.control);
    this.#controlBytes = new Uint8Array(buffers.control);
    this.entries = new Int32Array(buffers.entries);
    this.data = new Uint8Array(buffers.data);
    this.keys = new Uint8Array(buffers.keys);
    this.#keySlots = Math.floor(buffers.keys.byteLength / KEY_BYTES);
  }

  /** Lane `lane`'s nonce bytes. */
  #nonce(lane: number): Uint8Array {
    let v = this.#nonces[lane];
    if (v === undefined) {
      const at = lane * LANE_INTS * 4 + LANE_NONCE;
      v = this.#nonces[lane] = this.#controlBytes.subarray(at, at + 12);
    }
    return v;
  }

  /** Key slot `slot`'s bytes. */
  #key(slot: number): Uint8Array {
    let v = this.#keyViews[slot];
    if (v === undefined) {
      v = this.#keyViews[slot] = this.keys.subarray(slot * KEY_BYTES, (slot + 1) * KEY_BYTES);
    }
    return v;
  }

  /** `data` from `offset` on: C is told the lengths, so the view's end does not matter. */
  #at(offset: number): Uint8Array {
    let v = this.#dataViews.get(offset);
    if (v === undefined) {
      v = this.data.subarray(offset);
      if (this.#dataViews.size < MAX_KEPT_VIEWS) this.#dataViews.set(offset, v);
    }
    return v;
  }

  /**
   * Seals or opens entries [from, to) with `lane`'s nonce, writing each entry's result. Checks
   * every entry against the buffers' bounds first, since C writes where it is told.
   */
  run(lane: number, from: number, to: number): void {
    const e = this.entries;
    const lib = this.#lib;
    const nonceOffset = lane * LANE_INTS * 4 + LANE_NONCE;
    const nonce = this.#nonce(lane);
    const view = this.#controlView;
    const dataLength = this.data.length;
    view.setUint32(nonceOffset, 0, true);
    for (let i = from; i < to; i++) {
      const at = i * ENTRY_INTS;
      const op = e[at + E_OP];
      const key = e[at + E_KEY];
      const offset = e[at + E_OFFSET];
      const length = e[at + E_LENGTH];
      const end = op === OP_SEAL ? offset + length + TAG_BYTES : offset + length;
      if (
        key < 0 || key >= this.#keySlots || offset < 0 || length < 0 || end > dataLength ||
        (op !== OP_SEAL && (op !== OP_OPEN || length < TAG_BYTES))
      ) {
        e[at + E_RESULT] = RESULT_BAD;
        continue;
      }
      view.setUint32(nonceOffset + 4, e[at + E_CTR_LO], true);
      view.setUint32(nonceOffset + 8, e[at + E_CTR_HI], true);
      const p = this.#at(offset);
      const k = this.#key(key);
      if (op === OP_SEAL) {
        lib.crypto_aead_chacha20poly1305_ietf_encrypt(
          p,
          null,
          p,
          u64(length),
          null,
          ZERO,
          null,
          nonce,
          k,
        );
        e[at + E_RESULT] = RESULT_OK;
      } else {
        const rc = lib.crypto_aead_chacha20poly1305_ietf_decrypt(
          p,
          null,
          null,
          p,
          u64(length),
          null,
          ZERO,
          nonce,
          k,
        );
        e[at + E_RESULT] = rc === 0 ? RESULT_OK : RESULT_FORGED;
      }
    }
  }
}
