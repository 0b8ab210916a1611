/**
 * Signatures made with an X25519 key pair, in the manner of XEdDSA (Signal's spec): the
 * X25519 private scalar signs as an Ed25519 key whose public point has its sign bit cleared,
 * and a verifier turns the X25519 public key (a Montgomery u) into that Edwards point. A member
 * can so sign what it multicasts with the WireGuard key every member already knows, and nobody
 * else can. The signature is an ordinary Ed25519 one over that point: @noble/curves verifies it.
 * The nonce is derived from the scalar, the message and 64 fresh random bytes.
 * @module
 */

import { ed25519 } from "npm:@noble/curves@^2.4.0/ed25519.js";
import { sha512 } from "npm:@noble/hashes@^2.4.0/sha2.js";

const Point = ed25519.Point;
const Fn = Point.Fn;
const Fp = Point.Fp;
const NONCE_DOMAIN = new TextEncoder().encode("weft XEdDSA nonce v1");

/** Bytes of a signature. */
export const XEDDSA_SIGNATURE_SIZE = 64;

function leToBig(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]);
  return n;
}

function bigToLe32(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Signs `message` with a 32-byte X25519 private key.
 * @example
 * ```ts
 * const sig = xeddsaSign(privateKey, message);
 * xeddsaVerify(publicKey, message, sig); // true
 * ```
 */
export function xeddsaSign(
  privateKey: Uint8Array,
  message: Uint8Array,
  random: Uint8Array = crypto.getRandomValues(new Uint8Array(64)),
): Uint8Array {
  if (privateKey.length !== 32) throw new RangeError("an X25519 private key is 32 bytes");
  const k = privateKey.slice();
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
  let a = Fn.create(leToBig(k));
  let pub = Point.BASE.multiply(a);
  // The Edwards point of the Montgomery u has sign bit 0: sign with whichever of ±a gives it.
  if ((pub.toBytes()[31] & 0x80) !== 0) {
    a = Fn.neg(a);
    pub = pub.negate();
  }
  const aBytes = bigToLe32(a);
  const r = Fn.create(leToBig(sha512(concat(NONCE_DOMAIN, aBytes, message, random))));
  const R = Point.BASE.multiply(r === 0n ? 1n : r).toBytes();
  const h = Fn.create(leToBig(sha512(concat(R, pub.toBytes(), message))));
  const s = Fn.add(r === 0n ? 1n : r, Fn.mul(h, a));
  k.fill(0);
  return concat(R, bigToLe32(s));
}

/** The Ed25519 public key (sign bit 0) of an X25519 public key, or null when it has none. */
export function edwardsOfMontgomery(publicKey: Uint8Array): Uint8Array | null {
  if (publicKey.length !== 32) return null;
  const u = leToBig(publicKey) & ((1n << 255n) - 1n);
  // u = p - 1 has no Edwards y (u + 1 = 0); u >= p is not reduced.
  if (u >= Fp.ORDER || u === Fp.ORDER - 1n) return null;
  const y = Fp.div(Fp.sub(u, 1n), Fp.add(u, 1n));
  return bigToLe32(y);
}

/** Whether `signature` is `publicKey`'s (X25519) over `message`. */
export function xeddsaVerify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (signature.length !== XEDDSA_SIGNATURE_SIZE) return false;
  const ed = edwardsOfMontgomery(publicKey);
  if (ed === null) return false;
  try {
    return ed25519.verify(signature, message, ed);
  } catch {
    return false;
  }
}
