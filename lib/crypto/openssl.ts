/**
 * Backends on OpenSSL's libcrypto (3.x) through Deno FFI: ChaCha20-Poly1305 through the EVP cipher
 * API, X25519 through EVP_PKEY. OpenSSL's ChaCha20-Poly1305 is AVX2/AVX-512 assembly with the two
 * stitched together; here it sealed a 1420-byte packet in about 1.3 CPU-µs through FFI against
 * libsodium's 1.8 (docs/performance.md, "Crypto backends"), the data path's largest single cost.
 *
 * Messages up to RAW_MAX bytes go through one raw ChaCha20 context a key
 * (lib/crypto/openssl_raw.ts); longer ones through the AEAD cipher's two contexts (seal and open),
 * each keyed at its first long message; a sealed packet then costs four calls (nonce, data, final,
 * get the tag), an opened one three (nonce and expected tag together through EVP_DecryptInit_ex2's
 * OSSL_PARAM list, data, final), into preallocated buffers, so seal and open allocate nothing. The
 * nonce, the tag and EVP's out-length live in memory of the key's own whose address is taken once
 * and passed as a pointer: Deno turns each `buffer` argument into an address on every call (15-20
 * ns apiece here, a tenth of a seal with seven of them), a pointer argument costs next to nothing.
 * Only the packet's two ranges go as buffers. Loading is lazy and optional: without libcrypto (or
 * FFI permission) {@link loadOpenssl} returns null.
 * @module
 */

import type { Dh } from "./types.ts";
import { assertKey32, clamp, equalBytes, isZero, lowOrderError } from "./bytes.ts";
import {
  CounterNonceKey,
  type ExplicitNonceAead,
  type ExplicitNonceKey,
  NonceBuffer,
} from "./nonce.ts";
import { u64 } from "../io/u64.ts";
import { openFirstLibrary } from "./ffi_open.ts";
import { RAW_MAX, RAW_SYMBOLS, RawChaChaPoly } from "./openssl_raw.ts";

const TAG = 16;
/**
 * An OSSL_PARAM (openssl/core.h) on a 64-bit target: key pointer, unsigned data type (padded to
 * 8), data pointer, data size, return size.
 */
const PARAM_BYTES = 40;
/** OSSL_PARAM_OCTET_STRING (openssl/core.h). */
const PARAM_OCTET_STRING = 5;
/**
 * OSSL_CIPHER_PARAM_AEAD_TAG's name, NUL-terminated, in memory that lives as long as the module
 * (an ArrayBuffer's bytes never move), for the params every key points at.
 */
const TAG_PARAM_NAME = new Uint8Array(new ArrayBuffer(4));
TAG_PARAM_NAME.set([0x74, 0x61, 0x67, 0]); // "tag"
/** EVP_PKEY_X25519, which is NID_X25519 (openssl/obj_mac.h). */
const PKEY_X25519 = 1034;

const SYMBOLS = {
  OpenSSL_version_num: { parameters: [], result: "u64" },
  EVP_chacha20_poly1305: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_new: { parameters: [], result: "pointer" },
  EVP_CIPHER_CTX_free: { parameters: ["pointer"], result: "void" },
  // (ctx, cipher, engine, key, iv): NULLs keep what the context has.
  EVP_EncryptInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  EVP_DecryptInit_ex: {
    parameters: ["pointer", "pointer", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  // The per-packet calls, with the key's own scratch memory (nonce, out-length, tag) passed as
  // pointers taken once (see the module docs); the packet's ranges stay buffers.
  sealIv: {
    name: "EVP_EncryptInit_ex",
    parameters: ["pointer", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  // (ctx, cipher, key, iv, params): the nonce and the expected tag (an OSSL_PARAM) in one call.
  openIvTag: {
    name: "EVP_DecryptInit_ex2",
    parameters: ["pointer", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  // (ctx, out, &outl, in, inl): out NULL feeds associated data.
  sealData: {
    name: "EVP_EncryptUpdate",
    parameters: ["pointer", "buffer", "pointer", "buffer", "i32"],
    result: "i32",
  },
  openData: {
    name: "EVP_DecryptUpdate",
    parameters: ["pointer", "buffer", "pointer", "buffer", "i32"],
    result: "i32",
  },
  // (ctx, out, in, inl): this cipher's update without EVP_*Update's wrapper; answers inl on
  // success, -1 on a failure.
  cipherData: {
    name: "EVP_Cipher",
    parameters: ["pointer", "buffer", "buffer", "u32"],
    result: "i32",
  },
  // (ctx, params): the tag after the final, into the key's tag memory through its OSSL_PARAM list.
  getParams: {
    name: "EVP_CIPHER_CTX_get_params",
    parameters: ["pointer", "pointer"],
    result: "i32",
  },
  sealFinal: {
    name: "EVP_EncryptFinal_ex",
    parameters: ["pointer", "pointer", "pointer"],
    result: "i32",
  },
  // Checks the tag: 1 when authentic.
  openFinal: {
    name: "EVP_DecryptFinal_ex",
    parameters: ["pointer", "pointer", "pointer"],
    result: "i32",
  },
  EVP_PKEY_new_raw_private_key: {
    parameters: ["i32", "pointer", "buffer", "usize"],
    result: "pointer",
  },
  EVP_PKEY_new_raw_public_key: {
    parameters: ["i32", "pointer", "buffer", "usize"],
    result: "pointer",
  },
  EVP_PKEY_get_raw_public_key: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  EVP_PKEY_free: { parameters: ["pointer"], result: "void" },
  EVP_PKEY_CTX_new: { parameters: ["pointer", "pointer"], result: "pointer" },
  EVP_PKEY_CTX_free: { parameters: ["pointer"], result: "void" },
  EVP_PKEY_derive_init: { parameters: ["pointer"], result: "i32" },
  EVP_PKEY_derive_set_peer: { parameters: ["pointer", "pointer"], result: "i32" },
  EVP_PKEY_derive: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  RAND_bytes: { parameters: ["buffer", "i32"], result: "i32" },
  ERR_clear_error: { parameters: [], result: "void" },
  ...RAW_SYMBOLS,
} as const;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
type Ptr = Deno.PointerObject;

/**
 * A key's native state that a collected key (dropped without destroy()) still holds: its cipher
 * contexts, once made, and its scratch memory with the copy of the key they are keyed from.
 */
interface Held {
  lib: Lib;
  enc: Ptr | null;
  dec: Ptr | null;
  scratch: Uint8Array;
}

/**
 * Frees the contexts of keys dropped without destroy() and wipes their scratch memory, the key's
 * copy in it (a backstop: destroy() is the rule).
 */
const orphans = new FinalizationRegistry<Held>((h) => {
  if (h.enc !== null) h.lib.EVP_CIPHER_CTX_free(h.enc);
  if (h.dec !== null) h.lib.EVP_CIPHER_CTX_free(h.dec);
  h.scratch.fill(0);
});

// A key's scratch memory, one ArrayBuffer: the nonce, EVP's out-length, the tag, the OSSL_PARAM
// list and the copy of the key the cipher contexts are keyed from when first needed.
const NONCE_AT = 0;
const OUTL_AT = 12;
const TAG_AT = 16;
const PARAMS_AT = 32;
const KEY_AT = PARAMS_AT + 2 * PARAM_BYTES;
const SCRATCH_BYTES = KEY_AT + 32;

/**
 * A ChaCha20-Poly1305 key in OpenSSL cipher contexts (OpenSSL wipes them when freed). Messages up
 * to RAW_MAX bytes, all of WireGuard's on a usual MTU, go through the raw ChaCha20 and Poly1305
 * context; the AEAD cipher's two contexts (seal, open) are keyed together at the first longer
 * message either way, from a copy of the key wiped as soon as they are. A leader holds a session with
 * each of thousands of members, up to three a member, two keys each: made at once, the contexts
 * nothing used and four scratch buffers of their own were 3.65 KB of native memory a key, 1.1 now
 * (docs/performance.md, "The leader's keys and its malloc arena").
 */
class OpensslKey extends CounterNonceKey {
  readonly #lib: Lib;
  readonly #held: Held;
  #destroyed = false;
  // The per-packet scratch, in one ArrayBuffer of the key's own: an ArrayBuffer's bytes stay
  // where they are for its whole life (a small typed array's own bytes may be moved by the
  // collector), so their addresses, taken once, stay valid while the key holds them.
  /** The nonce of the packet at hand: a counter's written here directly. */
  readonly #nonce: NonceBuffer;
  /** The tag, copied between here and the packet: a view of it would allocate per call. */
  readonly #tag: Uint8Array;
  /** The copy of the key the AEAD contexts are keyed from (zero once both are). */
  readonly #key: Uint8Array;
  readonly #noncePtr: Ptr;
  readonly #tagPtr: Ptr;
  /** EVP's int out-length argument (written, never read). */
  readonly #outlPtr: Ptr;
  /**
   * An OSSL_PARAM list, {"tag", octets, #tag, 16} then the terminator, so that opening sets the
   * nonce and the expected tag in one call (EVP_DecryptInit_ex2) instead of two.
   */
  readonly #paramsPtr: Ptr;
  /**
   * The path of messages up to RAW_MAX bytes (lib/crypto/openssl_raw.ts: one parallel pass of
   * the key stream), or null: longer messages, and every message when it cannot be keyed or
   * `aeadOnly`, go through the AEAD cipher's contexts.
   */
  #raw: RawChaChaPoly | null;

  constructor(lib: Lib, raw: Uint8Array, aeadOnly = false) {
    super();
    assertKey32(raw);
    this.#lib = lib;
    const scratch = new Uint8Array(new ArrayBuffer(SCRATCH_BYTES));
    this.#nonce = new NonceBuffer(scratch.subarray(NONCE_AT, NONCE_AT + 12));
    this.#tag = scratch.subarray(TAG_AT, TAG_AT + TAG);
    this.#key = scratch.subarray(KEY_AT, KEY_AT + 32);
    const base = addressOf(scratch);
    this.#noncePtr = Deno.UnsafePointer.offset(base, NONCE_AT)!;
    this.#outlPtr = Deno.UnsafePointer.offset(base, OUTL_AT)!;
    this.#tagPtr = Deno.UnsafePointer.offset(base, TAG_AT)!;
    this.#paramsPtr = Deno.UnsafePointer.offset(base, PARAMS_AT)!;
    tagParam(scratch.subarray(PARAMS_AT, KEY_AT), this.#tagPtr);
    this.#held = { lib, enc: null, dec: null, scratch };
    this.#raw = aeadOnly ? null : RawChaChaPoly.make(lib, raw);
    this.#key.set(raw);
    try {
      // Without the raw path every message needs them: keyed now, so a key that cannot be
      // fails here, as before.
      if (this.#raw === null) this.#keyAead();
    } catch (e) {
      this.destroy();
      throw e;
    }
    orphans.register(this, this.#held, this);
  }

  /** The AEAD sealing context, keyed at its first use. */
  #encCtx(): Ptr {
    return this.#held.enc ?? this.#keyAead().enc!;
  }

  /** The AEAD opening context, keyed at its first use. */
  #decCtx(): Ptr {
    return this.#held.dec ?? this.#keyAead().dec!;
  }

  /**
   * Keys both AEAD contexts at once and wipes the key's copy: a WireGuard key is used in one
   * direction only, so keyed one at a time the copy would stay until destroy().
   */
  #keyAead(): Held {
    const h = this.#held;
    if (this.#destroyed) throw new Error("OpenSSL key used after destroy()");
    const lib = this.#lib;
    const enc = lib.EVP_CIPHER_CTX_new();
    const dec = lib.EVP_CIPHER_CTX_new();
    if (
      enc === null || dec === null ||
      lib.EVP_EncryptInit_ex(enc, lib.EVP_chacha20_poly1305(), null, this.#key, null) !== 1 ||
      lib.EVP_DecryptInit_ex(dec, lib.EVP_chacha20_poly1305(), null, this.#key, null) !== 1
    ) {
      if (enc !== null) lib.EVP_CIPHER_CTX_free(enc);
      if (dec !== null) lib.EVP_CIPHER_CTX_free(dec);
      lib.ERR_clear_error();
      throw new Error("OpenSSL: cannot key ChaCha20-Poly1305");
    }
    h.enc = enc;
    h.dec = dec;
    this.#key.fill(0);
    return h;
  }

  /** Whether the key's copy for the AEAD contexts is still held (not yet wiped), for tests. */
  get keyCopyHeld(): boolean {
    return this.#key.some((b) => b !== 0);
  }

  /** The AEAD cipher's contexts made so far (0 to 2), for tests. */
  get contexts(): number {
    return (this.#held.enc !== null ? 1 : 0) + (this.#held.dec !== null ? 1 : 0);
  }

  /** {@link CounterNonceKey.seal}, the counter written straight into the key's nonce memory. */
  override seal(counter: number, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): void {
    this.#nonce.set(counter);
    this.#seal(src, dst, ad);
  }

  /** {@link CounterNonceKey.open}, the counter written straight into the key's nonce memory. */
  override open(counter: number, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): boolean {
    this.#nonce.set(counter);
    return this.#open(src, dst, ad);
  }

  sealWithNonce(nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): void {
    this.#setNonce(nonce);
    this.#seal(src, dst, ad);
  }

  /** On a forgery `dst` is zeroed, as libsodium does (EVP writes the plaintext before checking). */
  openWithNonce(nonce: Uint8Array, src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): boolean {
    this.#setNonce(nonce);
    return this.#open(src, dst, ad);
  }

  #setNonce(nonce: Uint8Array): void {
    if (nonce.length !== 12) throw new RangeError("nonce must be 12 bytes");
    this.#nonce.bytes.set(nonce);
  }

  /** Seals under the nonce in the key's nonce memory. */
  #seal(src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): void {
    // C reads and writes blindly, so these checks are what keeps memory safe here.
    if (this.#destroyed) throw new Error("OpenSSL key used after destroy()");
    const n = src.length;
    if (dst.length !== n + TAG) {
      throw new RangeError(`seal: dst must be ${n + TAG} bytes, got ${dst.length}`);
    }
    const lib = this.#lib;
    const raw = this.#raw;
    if (raw !== null && n <= RAW_MAX) {
      if (raw.seal(this.#nonce.bytes, src, dst, ad)) return;
      dst.fill(0);
      lib.ERR_clear_error();
      throw new Error("OpenSSL: ChaCha20 or Poly1305 failed");
    }
    const ctx = this.#encCtx();
    const outl = this.#outlPtr;
    const tagPtr = this.#tagPtr;
    // Each call answers 1 on success; a sum short of `calls` is a fault, never a message sent
    // with the plaintext or an old tag in it.
    let calls = 3;
    let ok = lib.sealIv(ctx, null, null, null, this.#noncePtr);
    if (ad !== undefined && ad.length > 0) {
      calls++;
      ok += lib.sealData(ctx, null, outl, ad, ad.length);
    }
    // In place (dst and src the same bytes) or disjoint: EVP allows both.
    if (n > 0) {
      calls++;
      if (lib.cipherData(ctx, dst, src, n) === n) ok++;
    }
    ok += lib.sealFinal(ctx, tagPtr, outl);
    ok += lib.getParams(ctx, this.#paramsPtr);
    if (ok !== calls) {
      dst.fill(0);
      lib.ERR_clear_error();
      throw new Error("OpenSSL: ChaCha20-Poly1305 seal failed");
    }
    dst.set(this.#tag, n);
  }

  /** Opens under the nonce in the key's nonce memory; false (dst zeroed) on a forgery. */
  #open(src: Uint8Array, dst: Uint8Array, ad?: Uint8Array): boolean {
    if (this.#destroyed) throw new Error("OpenSSL key used after destroy()");
    const n = src.length - TAG;
    if (n < 0 || dst.length !== n) return false;
    const lib = this.#lib;
    const raw = this.#raw;
    if (raw !== null && n <= RAW_MAX) {
      const opened = raw.open(this.#nonce.bytes, src, dst, ad);
      if (opened === 1) return true;
      dst.fill(0);
      lib.ERR_clear_error();
      if (opened === 0) return false;
      throw new Error("OpenSSL: ChaCha20 or Poly1305 failed");
    }
    const ctx = this.#decCtx();
    const outl = this.#outlPtr;
    const tag = this.#tag;
    const tagPtr = this.#tagPtr;
    // Copied first: opened in place, the plaintext overwrites the ciphertext, not the tag.
    for (let i = 0; i < TAG; i++) tag[i] = src[n + i];
    // A failing call before the final check is a fault (thrown), not a forgery (false).
    let calls = 1;
    let ok = lib.openIvTag(ctx, null, null, this.#noncePtr, this.#paramsPtr);
    if (ad !== undefined && ad.length > 0) {
      calls++;
      ok += lib.openData(ctx, null, outl, ad, ad.length);
    }
    // EVP reads `n` bytes from the start of `src` (its tag follows them, unread here).
    if (n > 0) {
      calls++;
      if (lib.cipherData(ctx, dst, src, n) === n) ok++;
    }
    if (ok !== calls) {
      dst.fill(0);
      lib.ERR_clear_error();
      throw new Error("OpenSSL: ChaCha20-Poly1305 open failed");
    }
    if (lib.openFinal(ctx, tagPtr, outl) === 1) return true;
    dst.fill(0);
    lib.ERR_clear_error();
    return false;
  }

  destroy(): void {
    const lib = this.#lib;
    const h = this.#held;
    if (h.enc !== null) lib.EVP_CIPHER_CTX_free(h.enc);
    if (h.dec !== null) lib.EVP_CIPHER_CTX_free(h.dec);
    h.enc = h.dec = null;
    h.scratch.fill(0);
    this.#destroyed = true;
    this.#raw?.destroy();
    this.#raw = null;
    orphans.unregister(this);
  }
}

/** Writes into `params` (zeroed, 80 bytes) the list {"tag", octets, `tag`, 16}, {NULL}. */
function tagParam(params: Uint8Array, tag: Ptr): void {
  if (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") {
    throw new Error("OpenSSL: OSSL_PARAM laid out for 64-bit targets only");
  }
  const v = new DataView(params.buffer, params.byteOffset, params.byteLength);
  v.setBigUint64(0, BigInt(Deno.UnsafePointer.value(addressOf(TAG_PARAM_NAME))), true);
  v.setUint32(8, PARAM_OCTET_STRING, true);
  v.setBigUint64(16, BigInt(Deno.UnsafePointer.value(tag)), true);
  v.setBigUint64(24, BigInt(TAG), true);
}

/** The address of `bytes` (not empty), for a pointer argument; `bytes` must outlive its use. */
function addressOf(bytes: Uint8Array): Ptr {
  const p = Deno.UnsafePointer.of(bytes);
  if (p === null) throw new Error("OpenSSL: no address for a scratch buffer");
  return p;
}

/** X25519 on EVP_PKEY: a handshake's few DHs, not the hot path. */
function makeDh(lib: Lib): Dh {
  const pkey = (raw: Uint8Array, isPrivate: boolean): Ptr => {
    const p = isPrivate
      ? lib.EVP_PKEY_new_raw_private_key(PKEY_X25519, null, raw, u64(32))
      : lib.EVP_PKEY_new_raw_public_key(PKEY_X25519, null, raw, u64(32));
    if (p === null) {
      lib.ERR_clear_error();
      throw new Error(`X25519: invalid ${isPrivate ? "private" : "public"} key`);
    }
    return p;
  };
  return {
    name: "openssl",
    generatePrivate: (): Uint8Array => {
      const k = new Uint8Array(32);
      if (lib.RAND_bytes(k, 32) !== 1) {
        lib.ERR_clear_error();
        throw new Error("OpenSSL: RAND_bytes failed");
      }
      return clamp(k);
    },
    publicKey: (privateKey: Uint8Array): Uint8Array => {
      assertKey32(privateKey, "private key");
      const key = pkey(privateKey, true);
      try {
        const out = new Uint8Array(32);
        const len = new BigUint64Array([32n]);
        if (lib.EVP_PKEY_get_raw_public_key(key, out, new Uint8Array(len.buffer)) !== 1) {
          lib.ERR_clear_error();
          throw new Error("X25519: invalid private key");
        }
        return out;
      } finally {
        lib.EVP_PKEY_free(key);
      }
    },
    shared: (privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array => {
      assertKey32(privateKey, "private key");
      assertKey32(publicKey, "public key");
      const mine = pkey(privateKey, true);
      let peer: Ptr | null = null;
      let ctx: Ptr | null = null;
      try {
        peer = pkey(publicKey, false);
        ctx = lib.EVP_PKEY_CTX_new(mine, null);
        const out = new Uint8Array(32);
        const len = new BigUint64Array([32n]);
        // OpenSSL refuses an all-zero result (a low-order point); checked again to be sure.
        const ok = ctx !== null && lib.EVP_PKEY_derive_init(ctx) === 1 &&
          lib.EVP_PKEY_derive_set_peer(ctx, peer) === 1 &&
          lib.EVP_PKEY_derive(ctx, out, new Uint8Array(len.buffer)) === 1 && len[0] === 32n;
        if (!ok || isZero(out)) {
          lib.ERR_clear_error();
          throw lowOrderError();
        }
        return out;
      } finally {
        if (ctx !== null) lib.EVP_PKEY_CTX_free(ctx);
        if (peer !== null) lib.EVP_PKEY_free(peer);
        lib.EVP_PKEY_free(mine);
      }
    },
  };
}

/** Where libcrypto 3 is looked for, in order; bare names go through the dynamic loader's search. */
function candidates(): string[] {
  switch (Deno.build.os) {
    case "darwin":
      return [
        "libcrypto.3.dylib",
        "/opt/homebrew/opt/openssl@3/lib/libcrypto.3.dylib",
        "/usr/local/opt/openssl@3/lib/libcrypto.3.dylib",
      ];
    case "windows":
      return ["libcrypto-3-x64.dll", "libcrypto-3.dll"];
    default:
      return ["libcrypto.so.3"];
  }
}

/**
 * libcrypto 3.0 or newer with `symbols` (which must include `OpenSSL_version_num`), or null: none
 * found, a symbol missing, an older version, or FFI not permitted.
 */
export function openLibcrypto<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): Deno.DynamicLibrary<S> | null {
  // 3.0 or newer: the version number is 0xMNN00PP0L.
  return openFirstLibrary(candidates(), symbols, (l) => {
    const version = (l.symbols as { OpenSSL_version_num?: () => number | bigint })
      .OpenSSL_version_num;
    return version !== undefined && BigInt(version()) >= 0x3000_0000n;
  });
}

let loaded: { aead: ExplicitNonceAead; dh: Dh } | null | undefined;

/**
 * OpenSSL's AEAD and DH, or null when libcrypto 3 cannot be loaded (absent, without the symbols,
 * or FFI not permitted). Never throws for those cases; the result is cached.
 *
 * @example
 * ```ts
 * import { loadOpenssl } from "./openssl.ts";
 * const ossl = loadOpenssl();
 * if (ossl !== null) {
 *   const key = ossl.aead.key(new Uint8Array(32));
 *   const sealed = new Uint8Array(5 + 16);
 *   key.seal(0, new TextEncoder().encode("hello"), sealed);
 *   key.destroy();
 * }
 * ```
 */
export function loadOpenssl(): { aead: ExplicitNonceAead; dh: Dh } | null {
  if (loaded !== undefined) return loaded;
  const lib = openLibcrypto(SYMBOLS);
  if (lib === null) return loaded = null;
  const s = lib.symbols;
  const backend: { aead: ExplicitNonceAead; dh: Dh } = {
    aead: { name: "openssl", key: (raw: Uint8Array) => new OpensslKey(s, raw) },
    dh: makeDh(s),
  };
  if (!answersKnownVectors(backend, (raw) => new OpensslKey(s, raw, true))) {
    lib.close();
    return loaded = null;
  }
  return loaded = backend;
}

/**
 * Whether the library computes what weft needs: a libcrypto 3 may load and still refuse
 * ChaCha20-Poly1305 or X25519 (a FIPS-only configuration, `default_properties = fips=yes`), and
 * would then fail every session. Checked once at load, on both paths of a key (the raw ChaCha20
 * and Poly1305 one of short messages and the AEAD cipher of long ones, `aeadOnly`): the tag of
 * RFC 8439 §2.8.2's AEAD vector, that vector opened back and once with its tag altered
 * (refused), and RFC 7748 §6.1's public key of Alice.
 */
function answersKnownVectors(
  b: { aead: ExplicitNonceAead; dh: Dh },
  aeadOnly: (raw: Uint8Array) => ExplicitNonceKey,
): boolean {
  const key = new Uint8Array(32).map((_, i) => 0x80 + i);
  const pt = new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the " +
      "future, sunscreen would be it.",
  );
  try {
    for (const make of [b.aead.key, aeadOnly]) {
      const out = new Uint8Array(pt.length + TAG);
      const k = make(key);
      const nonce = hexBytes("070000004041424344454647");
      const ad = hexBytes("50515253c0c1c2c3c4c5c6c7");
      let opens: boolean;
      try {
        k.sealWithNonce(nonce, pt, out, ad);
        // Opening passes the tag as an OSSL_PARAM: a library that ignored it would open forgeries.
        const back = new Uint8Array(pt.length);
        const forged = out.slice();
        forged[pt.length] ^= 1;
        opens = k.openWithNonce(nonce, out, back, ad) && equalBytes(back, pt) &&
          !k.openWithNonce(nonce, forged, back, ad);
      } finally {
        k.destroy();
      }
      if (
        !opens || !equalBytes(out.subarray(pt.length), hexBytes("1ae10b594f09e26a7e902ecbd0600691"))
      ) {
        return false;
      }
    }
    const alice = b.dh.publicKey(
      hexBytes("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
    );
    return equalBytes(
      alice,
      hexBytes("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
    );
  } catch {
    return false;
  }
}

function hexBytes(h: string): Uint8Array {
  return Uint8Array.from(h.match(/../g)!, (b) => parseInt(b, 16));
}
