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

import { openFirstLibrary } from "./ffi_open.ts";
import { opensslCandidates } from "./openssl.ts";
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
  ERR_clear_error: { parameters: [], result: "void" },
} as const;

/** BLAKE2s-256 and HMAC-BLAKE2s-256 of the concatenation of their parts. */
export interface Blake2sBackend {
  /** Which library computes them. */
  readonly name: string;
  /** BLAKE2s-256 of the concatenation of `parts`. */
  hash(...parts: Uint8Array[]): Uint8Array;
  /** HMAC-BLAKE2s-256 of the concatenation of `parts` under `key` (not empty). */
  hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
}

const OUT = 32;

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
  const lib = openFirstLibrary(
    opensslCandidates(),
    SYMBOLS,
    (l) => BigInt(l.symbols.OpenSSL_version_num()) >= 0x3000_0000n,
  );
  if (lib === null) return loaded = null;
  const s = lib.symbols;
  const md = s.EVP_blake2s256();
  const mdCtx = s.EVP_MD_CTX_new();
  const hmacCtx = s.HMAC_CTX_new();
  if (md === null || mdCtx === null || hmacCtx === null) {
    lib.close();
    return loaded = null;
  }
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
      let ok = s.EVP_DigestInit_ex(mdCtx, md, null);
      let calls = 1;
      for (const p of parts) {
        if (p.length === 0) continue;
        ok += s.EVP_DigestUpdate(mdCtx, p, u64(p.length));
        calls++;
      }
      const out = new Uint8Array(OUT);
      ok += s.EVP_DigestFinal_ex(mdCtx, out, outBytes);
      if (ok !== calls + 1 || outLen[0] !== OUT) fail("BLAKE2s");
      return out;
    },
    hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
      if (key.length === 0) throw new RangeError("HMAC key must not be empty here");
      let ok = s.HMAC_Init_ex(hmacCtx, key, key.length, md, null);
      let calls = 1;
      for (const p of parts) {
        if (p.length === 0) continue;
        ok += s.HMAC_Update(hmacCtx, p, u64(p.length));
        calls++;
      }
      const out = new Uint8Array(OUT);
      ok += s.HMAC_Final(hmacCtx, out, outBytes);
      if (ok !== calls + 1 || outLen[0] !== OUT) fail("HMAC-BLAKE2s");
      return out;
    },
  };
  if (!answersKnownVector(backend)) {
    lib.close();
    return loaded = null;
  }
  return loaded = backend;
}

/** RFC 7693's BLAKE2s-256("abc"), and an HMAC that differs under two keys. */
function answersKnownVector(b: Blake2sBackend): boolean {
  try {
    const abc = new TextEncoder().encode("abc");
    const hex = Array.from(b.hash(abc), (x) => x.toString(16).padStart(2, "0")).join("");
    if (hex !== "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982") return false;
    const one = b.hmac(new Uint8Array(32).fill(1), abc);
    const two = b.hmac(new Uint8Array(32).fill(2), abc);
    return one.some((x, i) => x !== two[i]);
  } catch {
    return false;
  }
}
