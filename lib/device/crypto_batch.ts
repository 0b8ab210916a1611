/**
 * Transport messages sealed and opened a batch at a time on a crypto worker pool
 * (lib/crypto/worker_pool.ts), for the device (lib/device/device.ts) when it runs with crypto
 * workers.
 *
 * Send: the device does everything per packet as when it seals inline (route, session, counter,
 * timers) but, instead of sealing, hands the packet here: it is copied into the pool's shared
 * memory behind its transport header (the same one copy the inline path makes into its own
 * buffer). At the end of the batch the driver read (the sink's flush), every queued message is
 * sealed at once across the workers and handed to the transport in the order queued, so each
 * peer's packets leave in counter order, as inline.
 *
 * Receive: a transport message that passed the device's checks before decryption (size, session
 * index, counter, session age) is copied into shared memory; at the end of the datagram batch all
 * are opened at once, then handed back to the device in the order received, with whether each
 * was authentic. The device then does what follows decryption as inline: the replay window (after
 * authentication, never before), roaming, timers, the source check, the filter and the write.
 *
 * A packet the batch cannot take (too large for a slot, or its key has no slot in the shared key
 * table) is refused after what is queued has been flushed, so the device's inline handling of it
 * still comes after the packets before it.
 * @module
 */

import type { AeadKey } from "../crypto/types.ts";
import {
  CryptoWorkerPool,
  type CryptoWorkerPoolOptions,
  OP_OPEN,
  OP_SEAL,
  PooledKey,
  RESULT_FORGED,
  RESULT_OK,
} from "../crypto/worker_pool.ts";
import type { Endpoint } from "../io/driver.ts";
import { MSG_TRANSPORT, PADDING, TAG_SIZE, TRANSPORT_HEADER_SIZE } from "../protocol/constants.ts";
import { writeCounter, writeU32 } from "../protocol/bytes.ts";

/** Where the batch's results go: the device, attached once. */
export interface CryptoBatchSinks {
  /** A sealed transport message to send marked `tos` (`wire` is valid during the call). */
  send(wire: Uint8Array, to: Endpoint, tos: number): void;
  /** A received transport message after opening: `authentic` false for a forgery. */
  deliver(data: Uint8Array, from: Endpoint, authentic: boolean): void;
  /** Messages lost because a worker died with them (counted by the device). */
  lost(count: number): void;
}

/** Bytes of shared memory a message slot needs for a plaintext MTU: header, padding, tag. */
export function slotBytes(mtu: number): number {
  const padded = (mtu + PADDING - 1) & ~(PADDING - 1);
  // Rounded to a cache line, so two threads never write the same line.
  return (TRANSPORT_HEADER_SIZE + padded + TAG_SIZE + 63) & ~63;
}

/** Most message lengths a slot keeps a view for. */
const VIEWS_PER_SLOT = 16;

/** Queues of messages to seal and to open on a pool; see the module docs. */
export class CryptoBatch {
  /** The pool doing the crypto. */
  readonly pool: CryptoWorkerPool;
  readonly #slot: number;
  /** Entries (and message slots) per direction: seals [0, half), opens [half, 2 * half). */
  readonly #half: number;
  readonly #data: Uint8Array;
  readonly #peers: (Endpoint | null)[];
  /** Per seal entry, the TOS its message is sent with. */
  readonly #tos: Uint8Array;
  /** Per message slot, the view of its current message. */
  readonly #views: Uint8Array[];
  /** Per message slot, its views by message length (see #messageView). */
  readonly #viewsByLength: Map<number, Uint8Array>[];
  #sinks: CryptoBatchSinks | null = null;
  #seals = 0;
  #opens = 0;

  /**
   * Queues on `pool`, whose entries are shared half and half between the directions and whose
   * memory holds a slot of `slot` bytes (see {@link slotBytes}) per entry.
   */
  constructor(pool: CryptoWorkerPool, slot: number) {
    const half = Math.floor(pool.capacity / 2);
    if (half < 1) throw new RangeError("the pool needs at least 2 entries");
    if (slot < TRANSPORT_HEADER_SIZE + TAG_SIZE + 64 || slot % 64 !== 0) {
      throw new RangeError(`a slot must be a multiple of 64 bytes, got ${slot}`);
    }
    if (2 * half * slot > pool.data.length) {
      throw new RangeError(`the pool's memory holds fewer than ${2 * half} slots of ${slot} bytes`);
    }
    this.pool = pool;
    this.#slot = slot;
    this.#half = half;
    this.#data = pool.data;
    this.#peers = new Array(2 * half).fill(null);
    this.#tos = new Uint8Array(half);
    this.#views = Array.from(
      { length: 2 * half },
      (_, i) => pool.data.subarray(i * slot, i * slot),
    );
    this.#viewsByLength = Array.from({ length: 2 * half }, () => new Map());
    // A key is wiped only after the messages queued to be sealed with it have gone (a session
    // may end while a batch is being queued: a timer's keepalive, then its keys zeroed).
    pool.beforeKeyWipe(() => this.flushSeals());
  }

  /**
   * Starts a pool of `workers` sized for a device of this MTU (`entries` message slots, default
   * 256: 128 per direction) and a batch on it. Throws as CryptoWorkerPool.start does.
   */
  static async start(
    opts:
      & { mtu: number; entries?: number }
      & Omit<CryptoWorkerPoolOptions, "dataBytes" | "entries">,
  ): Promise<CryptoBatch> {
    const slot = slotBytes(opts.mtu);
    const entries = opts.entries ?? 256;
    const pool = await CryptoWorkerPool.start({ ...opts, entries, dataBytes: entries * slot });
    return new CryptoBatch(pool, slot);
  }

  /** Where results go; the device calls it once, as it is made. */
  attach(sinks: CryptoBatchSinks): void {
    if (this.#sinks !== null) throw new Error("a crypto batch serves one device");
    this.#sinks = sinks;
  }

  /** A key for a session, with a slot in the pool's key table when one is free, else null. */
  key(raw: Uint8Array): AeadKey | null {
    return this.pool.key(raw);
  }

  /** Messages waiting to be sealed and to be opened. */
  get pending(): number {
    return this.#seals + this.#opens;
  }

  /**
   * Queues a transport message: header (`remoteIndex`, `counter`), then `pkt` zero-padded to
   * `padded` bytes, to be sealed with `key` and sent to `to` (marked `tos`) at
   * {@link flushSeals}. False when it cannot (the caller seals it inline; whatever was queued
   * has gone first).
   */
  seal(
    key: AeadKey,
    remoteIndex: number,
    counter: number,
    pkt: Uint8Array,
    padded: number,
    to: Endpoint,
    tos = 0,
  ): boolean {
    if (
      this.#sinks === null || this.pool.failure !== null || !(key instanceof PooledKey) ||
      key.slot < 0 || TRANSPORT_HEADER_SIZE + padded + TAG_SIZE > this.#slot
    ) {
      this.flushSeals();
      return false;
    }
    if (this.#seals === this.#half) this.flushSeals();
    const i = this.#seals++;
    const at = i * this.#slot;
    const d = this.#data;
    writeU32(d, at, MSG_TRANSPORT);
    writeU32(d, at + 4, remoteIndex);
    writeCounter(d, at + 8, counter);
    const body = at + TRANSPORT_HEADER_SIZE;
    d.set(pkt, body);
    d.fill(0, body + pkt.length, body + padded);
    this.pool.set(i, OP_SEAL, key, counter, body, padded);
    this.#peers[i] = to;
    this.#tos[i] = tos;
    this.#messageView(i, TRANSPORT_HEADER_SIZE + padded + TAG_SIZE);
    return true;
  }

  /** Seals every queued message and sends each, in the order queued. */
  flushSeals(): void {
    const n = this.#seals;
    if (n === 0) return;
    this.pool.run(0, n);
    this.#seals = 0;
    const sinks = this.#sinks!;
    let lost = 0;
    for (let i = 0; i < n; i++) {
      const to = this.#peers[i]!;
      this.#peers[i] = null;
      if (this.pool.result(i) === RESULT_OK) sinks.send(this.#views[i], to, this.#tos[i]);
      else lost++;
    }
    if (lost > 0) sinks.lost(lost);
  }

  /**
   * Queues a received transport message (header, ciphertext, tag) to be opened with `key` at
   * {@link flushOpens} and delivered with `from`. False when it cannot (the caller opens it
   * inline; whatever was queued has been delivered first).
   */
  open(key: AeadKey, counter: number, data: Uint8Array, from: Endpoint): boolean {
    if (
      this.#sinks === null || this.pool.failure !== null || !(key instanceof PooledKey) ||
      key.slot < 0 || data.length > this.#slot || data.length < TRANSPORT_HEADER_SIZE + TAG_SIZE
    ) {
      this.flushOpens();
      return false;
    }
    if (this.#opens === this.#half) this.flushOpens();
    const i = this.#half + this.#opens++;
    const at = i * this.#slot;
    this.#data.set(data, at);
    this.pool.set(
      i,
      OP_OPEN,
      key,
      counter,
      at + TRANSPORT_HEADER_SIZE,
      data.length - TRANSPORT_HEADER_SIZE,
    );
    this.#peers[i] = from;
    this.#messageView(i, data.length);
    return true;
  }

  /** Opens every queued message and delivers each, in the order received. */
  flushOpens(): void {
    const n = this.#opens;
    if (n === 0) return;
    const first = this.#half;
    this.pool.run(first, first + n);
    this.#opens = 0;
    const sinks = this.#sinks!;
    let lost = 0;
    for (let i = first; i < first + n; i++) {
      const from = this.#peers[i]!;
      this.#peers[i] = null;
      const r = this.pool.result(i);
      if (r === RESULT_OK || r === RESULT_FORGED) {
        sinks.deliver(this.#views[i], from, r === RESULT_OK);
      } else lost++;
    }
    if (lost > 0) sinks.lost(lost);
  }

  /**
   * Points slot i's view at its first `length` bytes. Views are kept per slot and length: a slot
   * sees the few lengths of the flows (full-size, ACK, the odd mid-size packet) at shifting
   * positions from batch to batch, and a new view per change would be an allocation per packet.
   * Bounded: past {@link VIEWS_PER_SLOT} lengths a slot starts afresh.
   */
  #messageView(i: number, length: number): void {
    const cache = this.#viewsByLength[i];
    let v = cache.get(length);
    if (v === undefined) {
      if (cache.size >= VIEWS_PER_SLOT) cache.clear();
      const at = i * this.#slot;
      v = this.#data.subarray(at, at + length);
      cache.set(length, v);
    }
    this.#views[i] = v;
  }

  /** Stops the pool's workers; what is queued is dropped (the device is closing). */
  close(): void {
    for (let i = 0; i < this.#peers.length; i++) this.#peers[i] = null;
    this.#seals = this.#opens = 0;
    this.pool.close();
  }
}
