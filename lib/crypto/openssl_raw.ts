/**
 * ChaCha20-Poly1305 (RFC 8439 §2.8) built from OpenSSL's raw ChaCha20 and its Poly1305 MAC, so
 * that a message's key stream comes from one pass of OpenSSL's widest loop. Through the AEAD
 * cipher, OpenSSL computes the Poly1305 key block and the message's partial last block each in a
 * call of its own that runs the narrow, serial loop (a third of a full packet's crypto; see
 * docs/performance.md, "Where a GB's CPU goes"). Here one raw ChaCha20 call encrypts, from block
 * counter 0, a zero block followed by the message and rounded up to whole blocks: the key block
 * and the partial block come out of the same parallel pass as the bulk. The cost is two copies
 * (the message into this module's scratch and the result out of it) and three or four more FFI
 * calls; the scratch makes it safe: OpenSSL reads and writes only memory of its own.
 *
 * Messages up to {@link RAW_MAX} bytes take this path; longer ones stay on the AEAD cipher.
 * @module
 */

import { u64 } from "../io/u64.ts";

/** The symbols this path calls, spread into the caller's libcrypto symbol table. */
export const RAW_SYMBOLS = {
  EVP_chacha20: { parameters: [], result: "pointer" },
  // (ctx, cipher, engine, key, iv): keys a raw ChaCha20 context.
  rawKey: {
    name: "EVP_EncryptInit_ex",
    parameters: ["pointer", "pointer", "pointer", "buffer", "pointer"],
    result: "i32",
  },
  // The same with NULLs but the IV: sets the block counter and the nonce.
  rawInit: {
    name: "EVP_EncryptInit_ex",
    parameters: ["pointer", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  // (ctx, out, in, inl): the key stream XORed over `inl` bytes; answers inl on success.
  rawCipher: {
    name: "EVP_Cipher",
    parameters: ["pointer", "pointer", "pointer", "u32"],
    result: "i32",
  },
  // (libctx, algorithm, properties)
  rawMacFetch: {
    name: "EVP_MAC_fetch",
    parameters: ["pointer", "buffer", "pointer"],
    result: "pointer",
  },
  rawMacCtxNew: { name: "EVP_MAC_CTX_new", parameters: ["pointer"], result: "pointer" },
  // The sizes are size_t: bigints (lib/io/u64.ts), or every call takes Deno's slow path.
  rawMacInit: {
    name: "EVP_MAC_init",
    parameters: ["pointer", "pointer", "usize", "pointer"],
    result: "i32",
  },
  rawMacUpdate: {
    name: "EVP_MAC_update",
    parameters: ["pointer", "pointer", "usize"],
    result: "i32",
  },
  rawMacUpdateBuffer: {
    name: "EVP_MAC_update",
    parameters: ["pointer", "buffer", "usize"],
    result: "i32",
  },
  rawMacFinal: {
    name: "EVP_MAC_final",
    parameters: ["pointer", "pointer", "pointer", "usize"],
    result: "i32",
  },
} as const;

/** What {@link RawChaChaPoly} needs of the library (with {@link RAW_SYMBOLS} and the frees). */
export type RawLib = Deno.DynamicLibrary<typeof RAW_SYMBOLS>["symbols"] & {
  EVP_CIPHER_CTX_new(): Deno.PointerObject | null;
  EVP_CIPHER_CTX_free(ctx: Deno.PointerObject): void;
};

type Ptr = Deno.PointerObject;

/** The longest message (plaintext bytes) this path takes: a jumbo frame's. */
export const RAW_MAX = 9216;
const TAG = 16;
const BLOCK = 64;
/**
 * One scratch area: the leading block, a message and its tag, the round-up to a whole block, the
 * Poly1305 padding and length block.
 */
const AREA = BLOCK + RAW_MAX + TAG + BLOCK + 2 * TAG;
/** Scratch offsets: the input area, the output area, then small fields. */
const A = 0, B = AREA, IV = 2 * AREA, TAG_AT = IV + 16, OUTL = TAG_AT + 16, ZEROS = OUTL + 16;
const SCRATCH = ZEROS + 16;
const KEY_BYTES = u64(32);
const TAG_BYTES = u64(TAG);

/**
 * The raw path's shared state: one scratch buffer and one Poly1305 context for every key of this
 * module instance (one JS thread; no call re-enters another).
 */
class Shared {
  readonly bytes = new Uint8Array(new ArrayBuffer(SCRATCH));
  readonly view = new DataView(this.bytes.buffer);
  /** The input area (its zero block, then the message). */
  readonly ptr: Ptr;
  /** The output area: the Poly1305 key block, then the message. */
  readonly outArea: Ptr;
  readonly inMsg: Ptr;
  readonly outMsg: Ptr;
  readonly iv: Ptr;
  readonly tag: Ptr;
  readonly outl: Ptr;
  readonly zeros: Ptr;
  /**
   * The output area's first `n` message bytes, by `n`: a view made once per length. Dense from
   * the start: an empty array written at index 1,420 becomes a dictionary, read through V8's
   * megamorphic keyed load on every message.
   */
  readonly #out: (Uint8Array | undefined)[] = new Array(RAW_MAX + 1).fill(undefined);

  constructor(readonly lib: RawLib, readonly mac: Ptr, readonly cipher: Ptr) {
    const p = Deno.UnsafePointer.of(this.bytes);
    if (p === null) throw new Error("OpenSSL: no address for the scratch buffer");
    const at = (o: number): Ptr => Deno.UnsafePointer.offset(p, o) as Ptr;
    this.ptr = p;
    this.outArea = at(B);
    this.inMsg = at(A + BLOCK);
    this.outMsg = at(B + BLOCK);
    this.iv = at(IV);
    this.tag = at(TAG_AT);
    this.outl = at(OUTL);
    this.zeros = at(ZEROS);
  }

  out(n: number): Uint8Array {
    let v = this.#out[n];
    if (v === undefined) v = this.#out[n] = this.bytes.subarray(B + BLOCK, B + BLOCK + n);
    return v;
  }
}

let shared: Shared | null | undefined;

function sharedFor(lib: RawLib): Shared | null {
  if (shared !== undefined) return shared !== null && shared.lib === lib ? shared : null;
  const cipher = lib.EVP_chacha20();
  const alg = lib.rawMacFetch(null, new TextEncoder().encode("POLY1305\0"), null);
  const mac = alg === null ? null : lib.rawMacCtxNew(alg);
  return shared = cipher === null || mac === null ? null : new Shared(lib, mac, cipher);
}

/** Frees the contexts of keys dropped without destroy() (a backstop: destroy() is the rule). */
const orphans = new FinalizationRegistry<{ lib: RawLib; ctx: Ptr }>((h) => {
  h.lib.EVP_CIPHER_CTX_free(h.ctx);
});

/**
 * One key's raw ChaCha20 context. `seal` and `open` take the 12-byte nonce and answer false when
 * a call failed (seal) or the tag did not match (open); the caller zeroes and throws as it does
 * for its own path.
 */
export class RawChaChaPoly {
  readonly #s: Shared;
  #ctx: Ptr | null;

  private constructor(s: Shared, ctx: Ptr) {
    this.#s = s;
    this.#ctx = ctx;
    orphans.register(this, { lib: s.lib, ctx }, this);
  }

  /** A context keyed with `key` (32 bytes, the caller's memory), or null when OpenSSL cannot. */
  static make(lib: RawLib, key: Uint8Array): RawChaChaPoly | null {
    const s = sharedFor(lib);
    if (s === null) return null;
    const ctx = lib.EVP_CIPHER_CTX_new();
    if (ctx === null) return null;
    if (lib.rawKey(ctx, s.cipher, null, key, null) !== 1) {
      lib.EVP_CIPHER_CTX_free(ctx);
      return null;
    }
    return new RawChaChaPoly(s, ctx);
  }

  /**
   * Seals `src` (at most {@link RAW_MAX} bytes) into `dst` (`src.length + 16`, checked by the
   * caller; the same bytes or disjoint); false when a call failed (`dst` then untouched).
   */
  seal(nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, ad: Uint8Array | undefined): boolean {
    const s = this.#s;
    const n = src.length;
    const b = s.bytes;
    // The input area's leading block (zero: nothing writes it) becomes the Poly1305 key; the
    // message follows it.
    b.set(src, A + BLOCK);
    if (!this.#stream(nonce, n)) return false;
    // The MAC's input after the ciphertext: zeros to 16 bytes (at most 15: a loop is cheaper than
    // fill's call), then the two lengths.
    const padded = (n + 15) & ~15;
    for (let i = B + BLOCK + n; i < B + BLOCK + padded; i++) b[i] = 0;
    lengths(s.view, B + BLOCK + padded, ad === undefined ? 0 : ad.length, n);
    if (!this.#mac(ad, s.outMsg, padded)) return false;
    dst.set(s.out(n));
    for (let i = 0; i < TAG; i++) dst[n + i] = b[TAG_AT + i];
    return true;
  }

  /**
   * Opens `src` (ciphertext then tag, at most {@link RAW_MAX} + 16 bytes) into `dst`
   * (`src.length - 16`, checked by the caller): 1 when authentic, 0 on a forgery, -1 when a call
   * failed; `dst` is written only when authentic.
   */
  open(nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, ad: Uint8Array | undefined): number {
    const s = this.#s;
    const n = src.length - TAG;
    const b = s.bytes;
    // After the input area's zero block: the ciphertext and its tag (the tag is compared from
    // `src`, not from here).
    b.set(src, A + BLOCK);
    // The MAC runs over the ciphertext, which stays in the input area: its padding and lengths
    // go after it there (over the tag's copy) before the stream is XORed into the output area.
    const padded = (n + 15) & ~15;
    for (let i = A + BLOCK + n; i < A + BLOCK + padded; i++) b[i] = 0;
    lengths(s.view, A + BLOCK + padded, ad === undefined ? 0 : ad.length, n);
    if (!this.#stream(nonce, n) || !this.#mac(ad, s.inMsg, padded)) return -1;
    // Every byte compared, whatever differs first.
    let diff = 0;
    for (let i = 0; i < TAG; i++) diff |= b[TAG_AT + i] ^ src[n + i];
    if (diff !== 0) return 0;
    dst.set(s.out(n));
    return 1;
  }

  /** Key stream from block 0 over the input area's zero block and `n` bytes, into the output area. */
  #stream(nonce: Uint8Array, n: number): boolean {
    const ctx = this.#ctx;
    if (ctx === null) throw new Error("OpenSSL key used after destroy()");
    const s = this.#s;
    const b = s.bytes;
    // The IV of raw ChaCha20: the 32-bit block counter (zero: nothing writes it), then the
    // nonce (12 bytes: a loop is cheaper than set's call).
    for (let i = 0; i < 12; i++) b[IV + 4 + i] = nonce[i];
    const len = (BLOCK + n + BLOCK - 1) & ~(BLOCK - 1);
    return s.lib.rawInit(ctx, null, null, null, s.iv) === 1 &&
      s.lib.rawCipher(ctx, s.outArea, s.ptr, len) === len;
  }

  /** Poly1305 under the output area's first 32 bytes, over `ad` and `padded` + 16 bytes at `msg`. */
  #mac(ad: Uint8Array | undefined, msg: Ptr, padded: number): boolean {
    const s = this.#s;
    const lib = s.lib;
    const mac = s.mac;
    let ok = lib.rawMacInit(mac, s.outArea, KEY_BYTES, null) === 1;
    // The one-time key has been read: it does not stay in the scratch.
    const b = s.bytes;
    for (let i = B; i < B + 32; i++) b[i] = 0;
    if (ad !== undefined && ad.length > 0) {
      ok = lib.rawMacUpdateBuffer(mac, ad, u64(ad.length)) === 1 && ok;
      const pad = (16 - (ad.length & 15)) & 15;
      if (pad > 0) ok = lib.rawMacUpdate(mac, s.zeros, u64(pad)) === 1 && ok;
    }
    ok = lib.rawMacUpdate(mac, msg, u64(padded + TAG)) === 1 && ok;
    return lib.rawMacFinal(mac, s.tag, s.outl, TAG_BYTES) === 1 && ok;
  }

  /** Frees the context (OpenSSL wipes it); twice is safe. */
  destroy(): void {
    if (this.#ctx !== null) this.#s.lib.EVP_CIPHER_CTX_free(this.#ctx);
    this.#ctx = null;
    orphans.unregister(this);
  }
}

/** Poly1305's closing block of RFC 8439: the two lengths, 64-bit little-endian. */
function lengths(v: DataView, at: number, adLength: number, n: number): void {
  v.setUint32(at, adLength, true);
  v.setUint32(at + 4, 0, true);
  v.setUint32(at + 8, n, true);
  v.setUint32(at + 12, 0, true);
}
