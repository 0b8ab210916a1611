/**
 * The relay's packet MAC: keyed BLAKE2s (RFC 7693) with an 8-byte digest over a 32-bit session id
 * followed by a span of a packet buffer, `MAC(key, id || bytes)`. The digest length is BLAKE2s's
 * own output-length parameter (8), as WireGuard's MAC is BLAKE2s with outlen 16 — not the first
 * 8 bytes of a 32-byte digest. @noble/hashes computes the same value as
 * `blake2s(idLE || bytes, { key, dkLen: 8 })` (the tests check they agree).
 *
 * Written here rather than taken from @noble/hashes because it runs once per relayed packet at
 * each of the three hops: noble allocates on every call (the state array in `_cloneInto` and
 * `get`, a Uint32Array view per `update` and `digestInto`, and the compression result), and
 * would need the id and the inner message in one contiguous buffer, which the wire format does
 * not have (the MAC sits between them). This one allocates nothing per call: the state after the
 * key block is computed once per key, every message starts from a copy of it in module scratch
 * arrays, and message words are read from the caller's buffer. It is also faster: about 400,000
 * MACs of a 1,452-byte message per CPU-second here (Deno 2, x86_64), against noble's 50,000.
 *
 * The head-and-tag form ({@link RelayMacKey.signHeadTag}) MACs `id || u32le(len) || header ||
 * tag` of a WireGuard data message, 40 bytes in one block whatever the message's length (about
 * 0.1 µs of CPU against 2.5 for the whole of a 1,452-byte message here,
 * `deno run -A scripts/bench/relay_mac.ts`); lib/relay/wire.ts says when it is used and why it is
 * enough. OpenSSL 3's BLAKE2SMAC through FFI (init, update, final: three calls) took 0.8 to
 * 0.9 µs for the same block.
 * @module
 */

import { compress, IV } from "./blake2s_rounds.ts";

/** Bytes of a relay MAC. */
export const RELAY_MAC_SIZE = 8;
/** Bytes of a relay MAC key. */
export const RELAY_KEY_SIZE = 32;
/** The shortest span the head-and-tag form takes: a 16-byte header and a 16-byte tag. */
export const HEAD_TAG_MIN = 32;
/** Bytes the head-and-tag form MACs: the id, the length, the header and the tag. */
const HEAD_TAG_BYTES = 40;

// Scratch shared by every key: JavaScript runs one MAC at a time, and none keeps state between
// calls in them.
const H = new Int32Array(8);
const M = new Int32Array(16);

/**
 * Loads block `block` of the stream `id || data[off, off + len)` into `M`, zero-padded. The id
 * fills the first word, so stream byte p (p >= 4) is `data[off + p - 4]`.
 */
function load(id: number, data: Uint8Array, off: number, len: number, block: number): void {
  const streamLen = len + 4;
  const base = block * 64;
  if (base > 0 && base + 64 <= streamLen) {
    // A whole block of data: the common case, without the edge checks.
    for (let j = 0, q = off + base - 4; j < 16; j++, q += 4) {
      M[j] = data[q] | (data[q + 1] << 8) | (data[q + 2] << 16) | (data[q + 3] << 24);
    }
    return;
  }
  for (let j = 0; j < 16; j++) {
    const p = base + j * 4;
    if (p === 0) {
      M[0] = id;
    } else if (p + 4 <= streamLen) {
      const q = off + p - 4;
      M[j] = data[q] | (data[q + 1] << 8) | (data[q + 2] << 16) | (data[q + 3] << 24);
    } else if (p >= streamLen) {
      M[j] = 0;
    } else {
      let w = 0;
      for (let k = 0; p + k < streamLen; k++) w |= data[off + p - 4 + k] << (8 * k);
      M[j] = w;
    }
  }
}

/**
 * Starts `H` from the keyed state, word by word: `H.set(keyed)` and `M.fill` are calls into V8's
 * builtins that optimized code does not inline, and cost as much as the head-and-tag form's one
 * compression (scripts/bench/relay_mac.ts).
 */
function copyState(keyed: Int32Array): void {
  H[0] = keyed[0];
  H[1] = keyed[1];
  H[2] = keyed[2];
  H[3] = keyed[3];
  H[4] = keyed[4];
  H[5] = keyed[5];
  H[6] = keyed[6];
  H[7] = keyed[7];
}

/** Runs the MAC of `id || data[off, off + len)` under the state `keyed`, leaving it in `H`. */
function run(keyed: Int32Array, id: number, data: Uint8Array, off: number, len: number): void {
  copyState(keyed);
  const streamLen = len + 4;
  const blocks = Math.ceil(streamLen / 64);
  // The key block took the first 64 bytes of the count.
  for (let b = 0; b < blocks - 1; b++) {
    load(id, data, off, len, b);
    compress(H, M, 64 + (b + 1) * 64, false);
  }
  load(id, data, off, len, blocks - 1);
  compress(H, M, 64 + streamLen, true);
}

/**
 * Runs the MAC of `id || u32le(len) || data[off, off + 16) || data[off + len - 16, off + len)`
 * (40 bytes: one block) under the state `keyed`, leaving it in `H`.
 */
function runHeadTag(keyed: Int32Array, id: number, data: Uint8Array, off: number, len: number) {
  if (len < HEAD_TAG_MIN) throw new RangeError(`relay mac: ${len} bytes hold no header and tag`);
  copyState(keyed);
  M[0] = id;
  M[1] = len;
  for (let j = 0, q = off; j < 4; j++, q += 4) {
    M[2 + j] = data[q] | (data[q + 1] << 8) | (data[q + 2] << 16) | (data[q + 3] << 24);
  }
  for (let j = 0, q = off + len - 16; j < 4; j++, q += 4) {
    M[6 + j] = data[q] | (data[q + 1] << 8) | (data[q + 2] << 16) | (data[q + 3] << 24);
  }
  M[10] = 0;
  M[11] = 0;
  M[12] = 0;
  M[13] = 0;
  M[14] = 0;
  M[15] = 0;
  compress(H, M, 64 + HEAD_TAG_BYTES, true);
}

/** Writes the first 8 bytes of the hash state (the MAC just computed) to `out[outOff, outOff + 8)`. */
function writeMac(out: Uint8Array, outOff: number): void {
  const a = H[0], b = H[1];
  out[outOff] = a;
  out[outOff + 1] = a >>> 8;
  out[outOff + 2] = a >>> 16;
  out[outOff + 3] = a >>> 24;
  out[outOff + 4] = b;
  out[outOff + 5] = b >>> 8;
  out[outOff + 6] = b >>> 16;
  out[outOff + 7] = b >>> 24;
}

/** Whether `tag[tagOff, tagOff + 8)` is the MAC just computed, in the same time wherever it differs. */
function macIs(tag: Uint8Array, tagOff: number): boolean {
  const a = tag[tagOff] | (tag[tagOff + 1] << 8) | (tag[tagOff + 2] << 16) |
    (tag[tagOff + 3] << 24);
  const b = tag[tagOff + 4] | (tag[tagOff + 5] << 8) | (tag[tagOff + 6] << 16) |
    (tag[tagOff + 7] << 24);
  return ((a ^ H[0]) | (b ^ H[1])) === 0;
}

/**
 * A relay session key, ready to sign and check packets. Keeps only the BLAKE2s state after the
 * key block, not the key itself.
 */
export class RelayMacKey {
  readonly #keyed = new Int32Array(8);

  /** Binds a 32-byte key (copied into the precomputed state; the caller may wipe `key`). */
  constructor(key: Uint8Array) {
    if (!(key instanceof Uint8Array) || key.length !== RELAY_KEY_SIZE) {
      throw new Error(`a relay key must be ${RELAY_KEY_SIZE} bytes`);
    }
    const h = this.#keyed;
    h.set(IV);
    // Parameter block word 0: digest length, key length, fanout 1, depth 1.
    h[0] ^= RELAY_MAC_SIZE | (RELAY_KEY_SIZE << 8) | 0x01010000;
    M.fill(0);
    for (let j = 0; j < 8; j++) {
      const q = j * 4;
      M[j] = key[q] | (key[q + 1] << 8) | (key[q + 2] << 16) | (key[q + 3] << 24);
    }
    // Every message is at least the 4-byte id, so the key block is never the last one.
    compress(h, M, 64, false);
    M.fill(0);
  }

  /** Writes the MAC of `id || data[off, off + len)` to `out[outOff, outOff + 8)`. */
  sign(
    id: number,
    data: Uint8Array,
    off: number,
    len: number,
    out: Uint8Array,
    outOff: number,
  ): void {
    run(this.#keyed, id, data, off, len);
    writeMac(out, outOff);
  }

  /**
   * True when `tag[tagOff, tagOff + 8)` is the MAC of `id || data[off, off + len)`. The
   * comparison takes the same time wherever the first difference is.
   */
  verify(
    id: number,
    data: Uint8Array,
    off: number,
    len: number,
    tag: Uint8Array,
    tagOff: number,
  ): boolean {
    run(this.#keyed, id, data, off, len);
    return macIs(tag, tagOff);
  }

  /**
   * Writes the MAC of the head-and-tag form of a WireGuard data message to
   * `out[outOff, outOff + 8)`: `id || u32le(len) || data[off, off + 16) || data[off + len - 16,
   * off + len)`, the message's 16-byte header (type, receiver, counter) and its 16-byte AEAD tag
   * with its length (lib/relay/wire.ts says why that is enough). One 64-byte block, whatever the
   * length: a full-size message costs one compression instead of 23. `len` must be at least 32.
   */
  signHeadTag(
    id: number,
    data: Uint8Array,
    off: number,
    len: number,
    out: Uint8Array,
    outOff: number,
  ): void {
    runHeadTag(this.#keyed, id, data, off, len);
    writeMac(out, outOff);
  }

  /**
   * True when `tag[tagOff, tagOff + 8)` is the head-and-tag MAC of `data[off, off + len)` (see
   * {@link signHeadTag}); the comparison takes the same time wherever the first difference is.
   */
  verifyHeadTag(
    id: number,
    data: Uint8Array,
    off: number,
    len: number,
    tag: Uint8Array,
    tagOff: number,
  ): boolean {
    runHeadTag(this.#keyed, id, data, off, len);
    return macIs(tag, tagOff);
  }

  /** Overwrites the key state; the key must not be used afterwards. */
  destroy(): void {
    this.#keyed.fill(0);
  }
}
