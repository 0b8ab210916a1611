/**
 * BLAKE2s-256 and HMAC-BLAKE2s-256 on OpenSSL's libcrypto (3.x) through Deno FFI: the Noise
 * handshake's KDF chain is two dozen short HMACs a handshake, and node:crypto makes a hash object,
 * its buffers and a result Buffer for each (a leader taking in thousands of joins spent a tenth of
 * its time there). Here one digest context and one HMAC context are kept and rekeyed per call:
 * about four times as fast as node:crypto in Deno (lib/crypto/blake2s.ts picks the backend).
 *
 * The HMAC_CTX functions are deprecated in OpenSSL 3 but present; a libcrypto without them does
 * not load, and node:crypto or @noble/hashes is used instead.
 * @module
 */

import { openLibcrypto } from "./openssl.ts";
import { u64 } from "../io/u64.ts";

const SYMBOLS = {
  OpenSSL_version_num: { parameters: [], result: "u64" },
  EVP_blake2s256: { parameters: [], result: "pointer" },
  EVP_MD_CTX_new: { parameters: [], result: "pointer" },
  // (ctx, md, engine)
  EVP_DigestInit_ex: { parameters: ["pointer", "pointer", "pointer"], result: "i32" },
  EVP_DigestUpdate: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  // (ctx, out, &outlen as unsigned int)
  EVP_DigestFinal_ex: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  HMAC_CTX_new: { parameters: [], result: "pointer" },
  // (ctx, key, keylen, md, engine): a NULL key would keep the previous one, so never passed.
  HMAC_Init_ex: { parameters: ["pointer", "buffer", "i32", "pointer", "pointer"], result: "i32" },
  HMAC_Update: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  // (ctx, out, &outlen as unsigned int)
  HMAC_Final: { parameters: ["pointer", "buffer", "buffer"], result: "i32" },
  // (libctx, algorithm, properties)
  EVP_MAC_fetch: { parameters: ["pointer", "buffer", "pointer"], result: "pointer" },
  EVP_MAC_CTX_new: { parameters: ["pointer"], result: "pointer" },
  EVP_MAC_CTX_set_params: { parameters: ["pointer", "buffer"], result: "i32" },
  // (ctx, key, keylen, params): a NULL key would keep the previous one, so never passed.
  EVP_MAC_init: { parameters: ["pointer", "buffer", "usize", "pointer"], result: "i32" },
  EVP_MAC_update: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  // (ctx, out, &outlen as size_t, outsize)
  EVP_MAC_final: { parameters: ["pointer", "buffer", "buffer", "usize"], result: "i32" },
  ERR_clear_error: { parameters: [], result: "void" },
} as const;

/** OSSL_PARAM_UNSIGNED_INTEGER (openssl/core.h). */
const PARAM_UNSIGNED_INTEGER = 2;
/** sizeof(OSSL_PARAM) on a 64-bit platform: key, data_type (padded), data, data_size, return_size. */
const PARAM_SIZE = 40;

/** BLAKE2s-256 and HMAC-BLAKE2s-256 of the concatenation of their parts. */
export interface Blake2sBackend {
  /** Which library computes them. */
  readonly name: string;
  /** BLAKE2s-256 of the concatenation of `parts`. */
  hash(...parts: Uint8Array[]): Uint8Array;
  /** HMAC-BLAKE2s-256 of the concatenation of `parts` under `key` (not empty). */
  hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
  /** Keyed BLAKE2s with a 16-byte output (`key` of 1 to 32 bytes): WireGuard's MAC. */
  mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
}

const OUT = 32;
const MAC = 16;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/**
 * A BLAKE2SMAC context set to 16-byte outputs (the size is part of BLAKE2s's parameter block,
 * kept across rekeying), or null. The parameter array and what it points at stay alive with it.
 */
function blake2sMac16(s: Lib): Deno.PointerObject | null {
  const alg = s.EVP_MAC_fetch(null, cString("BLAKE2SMAC"), null);
  const ctx = alg === null ? null : s.EVP_MAC_CTX_new(alg);
  if (ctx === null) return null;
  const name = cString("size");
  const size = new BigUint64Array([BigInt(MAC)]);
  const params = new ArrayBuffer(PARAM_SIZE * 2); // the size, then the all-zero end
  const words = new BigUint64Array(params);
  const view = new DataView(params);
  words[0] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(name)));
  view.setUint32(8, PARAM_UNSIGNED_INTEGER, true);
  words[2] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(size)));
  words[3] = 8n;
  words[4] = 0xffff_ffff_ffff_ffffn; // OSSL_PARAM_UNMODIFIED
  keep.push(name, size, params);
  return s.EVP_MAC_CTX_set_params(ctx, new Uint8Array(params)) === 1 ? ctx : null;
}

/** Feeds the non-empty `parts` to an update call (an empty one adds nothing); true when one failed. */
function feed(parts: Uint8Array[], update: (p: Uint8Array) => number): boolean {
  let failed = false;
  for (const p of parts) if (p.length > 0 && update(p) !== 1) failed = true;
  return failed;
}

/** What OpenSSL holds pointers to: never collected. */
const keep: unknown[] = [];

function cString(text: string): Uint8Array {
  return new TextEncoder().encode(text + "\0");
}

let loaded: Blake2sBackend | null | undefined;

/**
 * OpenSSL's BLAKE2s-256 and HMAC-BLAKE2s-256, or null when libcrypto 3 cannot be loaded (absent,
 * without the symbols, wrong on a known vector, or FFI not permitted). The result is cached.
 * `hmac` throws on an empty key (OpenSSL would reuse the last key): callers fall back.
 *
 * @example
 * ```ts
 * import { loadOpensslBlake2s } from "./openssl_blake2s.ts";
 * const b = loadOpensslBlake2s();
 * if (b !== null) b.hmac(new Uint8Array(32).fill(1), new TextEncoder().encode("abc"));
 * ```
 */
export function loadOpensslBlake2s(): Blake2sBackend | null {
  if (loaded !== undefined) return loaded;
  const lib = openLibcrypto(SYMBOLS);
  if (lib === null) return loaded = null;
  const s = lib.symbols;
  const md = s.EVP_blake2s256();
  const mdCtx = s.EVP_MD_CTX_new();
  const hmacCtx = s.HMAC_CTX_new();
  const macCtx = blake2sMac16(s);
  if (md === null || mdCtx === null || hmacCtx === null || macCtx === null) {
    s.ERR_clear_error();
    lib.close();
    return loaded = null;
  }
  const macLen = new BigUint64Array(1);
  const macLenBytes = new Uint8Array(macLen.buffer);
  // The contexts live as long as the process (one each, reused by every call).
  const outLen = new Uint32Array(1);
  const outBytes = new Uint8Array(outLen.buffer);
  const fail = (what: string): never => {
    s.ERR_clear_error();
    throw new Error(`OpenSSL: ${what} failed`);
  };
  const backend: Blake2sBackend = {
    name: "openssl",
    hash(...parts: Uint8Array[]): Uint8Array {
      let failed = s.EVP_DigestInit_ex(mdCtx, md, null) !== 1;
      failed = feed(parts, (p) => s.EVP_DigestUpdate(mdCtx, p, u64(p.length))) || failed;
      const out = new Uint8Array(OUT);
      if (s.EVP_DigestFinal_ex(mdCtx, out, outBytes) !== 1 || failed || outLen[0] !== OUT) {
        fail("BLAKE2s");
      }
      return out;
    },
    hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
      if (key.length === 0) throw new RangeError("HMAC key must not be empty here");
      let failed = s.HMAC_Init_ex(hmacCtx, key, key.length, md, null) !== 1;
      failed = feed(parts, (p) => s.HMAC_Update(hmacCtx, p, u64(p.length))) || failed;
      const out = new Uint8Array(OUT);
      if (s.HMAC_Final(hmacCtx, out, outBytes) !== 1 || failed || outLen[0] !== OUT) {
        fail("HMAC-BLAKE2s");
      }
      return out;
    },
    mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
      if (key.length === 0 || key.length > 32) throw new RangeError("MAC key must be 1-32 bytes");
      let failed = s.EVP_MAC_init(macCtx, key, u64(key.length), null) !== 1;
      failed = feed(parts, (p) => s.EVP_MAC_update(macCtx, p, u64(p.length))) || failed;
      const out = new Uint8Array(MAC);
      const final = s.EVP_MAC_final(macCtx, out, macLenBytes, u64(MAC));
      if (final !== 1 || failed || macLen[0] !== BigInt(MAC)) fail("keyed BLAKE2s");
      return out;
    },
  };
  if (!answersKnownVector(backend)) {
    lib.close();
    return loaded = null;
  }
  return loaded = backend;
}

/** Keyed BLAKE2s-128 of "abc" under 32 bytes of 0x01. */
const MAC_VECTOR = "6c5a9b2dd4324520e222cce7e29e8711";

/** RFC 7693's BLAKE2s-256("abc"), an HMAC that differs under two keys, and a keyed MAC. */
function answersKnownVector(b: Blake2sBackend): boolean {
  try {
    const abc = new TextEncoder().encode("abc");
    const hex = Array.from(b.hash(abc), (x) => x.toString(16).padStart(2, "0")).join("");
    if (hex !== "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982") return false;
    const one = b.hmac(new Uint8Array(32).fill(1), abc);
    const two = b.hmac(new Uint8Array(32).fill(2), abc);
    // Keyed BLAKE2s-128 of "abc" under the key 0x01 * 32 (from @noble/hashes, checked in tests).
    const mac = Array.from(
      b.mac(new Uint8Array(32).fill(1), abc),
      (x) => x.toString(16).padStart(2, "0"),
    ).join("");
    return one.some((x, i) => x !== two[i]) && mac === MAC_VECTOR;
  } catch {
    return false;
  }
}
