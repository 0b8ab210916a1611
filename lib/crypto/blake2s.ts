/**
 * WireGuard's hash primitives (whitepaper §5.4): HASH = BLAKE2s-256, MAC = keyed BLAKE2s with a
 * 16-byte output, HMAC = HMAC-BLAKE2s-256, and the HKDF-style KDF1/KDF2/KDF3 built on HMAC.
 *
 * Three implementations of HASH and HMAC exist: OpenSSL's libcrypto through FFI
 * (openssl_blake2s.ts), Deno's node:crypto (`blake2s256`) and @noble/hashes. They are tested equal;
 * the first that loads and answers a known vector is used, in that order (measured here, a 33-byte
 * HMAC: OpenSSL about 4 times as fast as node:crypto, which makes objects and Buffers per call;
 * noble about as fast as node). Keyed BLAKE2s (MAC) is OpenSSL's (BLAKE2SMAC) or noble's:
 * node:crypto has no BLAKE2s key parameter.
 * @module
 */

import { blake2s } from "npm:@noble/hashes@^2.4.0/blake2.js";
import { hmac as nobleHmacFn } from "npm:@noble/hashes@^2.4.0/hmac.js";
import { createHash, createHmac } from "node:crypto";
import { loadOpensslBlake2s } from "./openssl_blake2s.ts";

/** BLAKE2s-256 of the concatenation of `parts`, on @noble/hashes. */
export function nobleHash(...parts: Uint8Array[]): Uint8Array {
  const h = blake2s.create();
  for (const p of parts) h.update(p);
  return h.digest();
}

/** BLAKE2s-256 of the concatenation of `parts`, on node:crypto. */
export function nodeHash(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("blake2s256");
  for (const p of parts) h.update(p);
  // A plain Uint8Array (not a pooled Buffer) so results compare and store like noble's.
  return new Uint8Array(h.digest());
}

/** HMAC-BLAKE2s-256 of the concatenation of `parts`, on @noble/hashes. */
export function nobleHmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = nobleHmacFn.create(blake2s, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** HMAC-BLAKE2s-256 of the concatenation of `parts`, on node:crypto. */
export function nodeHmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac("blake2s256", key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** True when node:crypto here computes BLAKE2s-256 correctly (checked once, at load). */
function nodeBlake2sWorks(): boolean {
  try {
    const abc = new TextEncoder().encode("abc");
    const got = createHash("blake2s256").update(abc).digest("hex");
    return got === "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982";
  } catch {
    return false;
  }
}

const NODE_OK = nodeBlake2sWorks();
const OPENSSL = loadOpensslBlake2s();

/** HMAC-BLAKE2s-256 on OpenSSL, or node:crypto/noble for an empty key (OpenSSL needs one). */
function opensslHmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  if (key.length === 0) return NODE_OK ? nodeHmac(key, ...parts) : nobleHmac(key, ...parts);
  return OPENSSL!.hmac(key, ...parts);
}

/** Which implementation {@link hash} and {@link hmac} use. */
export const hashBackend: "openssl" | "node" | "noble" = OPENSSL !== null
  ? "openssl"
  : NODE_OK
  ? "node"
  : "noble";

/** HASH(parts...): BLAKE2s-256 of the concatenation of `parts` (fastest implementation). */
export const hash: (...parts: Uint8Array[]) => Uint8Array = OPENSSL !== null
  ? OPENSSL.hash
  : NODE_OK
  ? nodeHash
  : nobleHash;

/** HMAC(key, parts...): HMAC-BLAKE2s-256 (fastest implementation). */
export const hmac: (key: Uint8Array, ...parts: Uint8Array[]) => Uint8Array = OPENSSL !== null
  ? opensslHmac
  : NODE_OK
  ? nodeHmac
  : nobleHmac;

/** Keyed BLAKE2s-128 of the concatenation of `parts`, on @noble/hashes. */
export function nobleMac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = blake2s.create({ key, dkLen: 16 });
  for (const p of parts) h.update(p);
  return h.digest();
}

/** MAC(key, parts...): keyed BLAKE2s with a 16-byte output (WireGuard's mac1/mac2). */
export function mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  if (OPENSSL === null || key.length === 0 || key.length > 32) return nobleMac(key, ...parts);
  return OPENSSL.mac(key, ...parts);
}

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);

/** KDF1(key, input): T1, where T0 = HMAC(key, input) and T1 = HMAC(T0, 0x1). */
export function kdf1(key: Uint8Array, input: Uint8Array): [Uint8Array] {
  const t0 = hmac(key, input);
  const t1 = hmac(t0, ONE);
  t0.fill(0);
  return [t1];
}

/** KDF2(key, input): T1, T2, with T2 = HMAC(T0, T1 || 0x2). */
export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const t0 = hmac(key, input);
  const t1 = hmac(t0, ONE);
  const t2 = hmac(t0, t1, TWO);
  t0.fill(0);
  return [t1, t2];
}

/** KDF3(key, input): T1, T2, T3, with T3 = HMAC(T0, T2 || 0x3). */
export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const t0 = hmac(key, input);
  const t1 = hmac(t0, ONE);
  const t2 = hmac(t0, t1, TWO);
  const t3 = hmac(t0, t2, THREE);
  t0.fill(0);
  return [t1, t2, t3];
}
