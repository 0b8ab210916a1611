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
 * arrays, and message words are read from the caller's buffer.
 * @module
 */

/** Bytes of a relay MAC. */
export const RELAY_MAC_SIZE = 8;
/** Bytes of a relay MAC key. */
export const RELAY_KEY_SIZE = 32;

const IV = Int32Array.of(
  0x6a09e667,
  0xbb67ae85 | 0,
  0x3c6ef372,
  0xa54ff53a | 0,
  0x510e527f,
  0x9b05688c | 0,
  0x1f83d9ab,
  0x5be0cd19,
);

// The message word schedule of each of the ten rounds (RFC 7693 §2.7).
// deno-fmt-ignore
const SIGMA = Uint8Array.of(
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
  11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4,
  7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
  9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13,
  2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
  12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11,
  13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
  6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5,
  10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
);

// Scratch shared by every key: JavaScript runs one MAC at a time, and none keeps state between
// calls in them.
const H = new Int32Array(8);
const M = new Int32Array(16);
const V = new Int32Array(16);

/** The BLAKE2s compression of block `M` into `h`; `t` is the byte count so far (< 2^32). */
function compress(h: Int32Array, t: number, last: boolean): void {
  const v = V;
  const m = M;
  for (let i = 0; i < 8; i++) {
    v[i] = h[i];
    v[i + 8] = IV[i];
  }
  v[12] ^= t;
  if (last) v[14] = ~v[14];
  for (let r = 0; r < 160; r += 16) {
    g(v, 0, 4, 8, 12, m[SIGMA[r]], m[SIGMA[r + 1]]);
    g(v, 1, 5, 9, 13, m[SIGMA[r + 2]], m[SIGMA[r + 3]]);
    g(v, 2, 6, 10, 14, m[SIGMA[r + 4]], m[SIGMA[r + 5]]);
    g(v, 3, 7, 11, 15, m[SIGMA[r + 6]], m[SIGMA[r + 7]]);
    g(v, 0, 5, 10, 15, m[SIGMA[r + 8]], m[SIGMA[r + 9]]);
    g(v, 1, 6, 11, 12, m[SIGMA[r + 10]], m[SIGMA[r + 11]]);
    g(v, 2, 7, 8, 13, m[SIGMA[r + 12]], m[SIGMA[r + 13]]);
    g(v, 3, 4, 9, 14, m[SIGMA[r + 14]], m[SIGMA[r + 15]]);
  }
  for (let i = 0; i < 8; i++) h[i] ^= v[i] ^ v[i + 8];
}

/** The mixing function G on words a, b, c, d of `v` with message words x and y. */
function g(v: Int32Array, a: number, b: number, c: number, d: number, x: number, y: number): void {
  let va = v[a], vb = v[b], vc = v[c], vd = v[d];
  va = (va + vb + x) | 0;
  vd ^= va;
  vd = (vd >>> 16) | (vd << 16);
  vc = (vc + vd) | 0;
  vb ^= vc;
  vb = (vb >>> 12) | (vb << 20);
  va = (va + vb + y) | 0;
  vd ^= va;
  vd = (vd >>> 8) | (vd << 24);
  vc = (vc + vd) | 0;
  vb ^= vc;
  vb = (vb >>> 7) | (vb << 25);
  v[a] = va;
  v[b] = vb;
  v[c] = vc;
  v[d] = vd;
}

/**
 * Loads block `block` of the stream `id || data[off, off + len)` into `M`, zero-padded. The id
 * fills the first word, so stream byte p (p >= 4) is `data[off + p - 4]`.
 */
function load(id: number, data: Uint8Array, off: number, len: number, block: number): void {
  const streamLen = len + 4;
  const base = block * 64;
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

/** Runs the MAC of `id || data[off, off + len)` under the state `keyed`, leaving it in `H`. */
function run(keyed: Int32Array, id: number, data: Uint8Array, off: number, len: number): void {
  H.set(keyed);
  const streamLen = len + 4;
  const blocks = Math.ceil(streamLen / 64);
  // The key block took the first 64 bytes of the count.
  for (let b = 0; b < blocks - 1; b++) {
    load(id, data, off, len, b);
    compress(H, 64 + (b + 1) * 64, false);
  }
  load(id, data, off, len, blocks - 1);
  compress(H, 64 + streamLen, true);
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
    compress(h, 64, false);
    M.fill(0);
    V.fill(0);
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
    const a = tag[tagOff] | (tag[tagOff + 1] << 8) | (tag[tagOff + 2] << 16) |
      (tag[tagOff + 3] << 24);
    const b = tag[tagOff + 4] | (tag[tagOff + 5] << 8) | (tag[tagOff + 6] << 16) |
      (tag[tagOff + 7] << 24);
    return ((a ^ H[0]) | (b ^ H[1])) === 0;
  }

  /** Overwrites the key state; the key must not be used afterwards. */
  destroy(): void {
    this.#keyed.fill(0);
  }
}
