/**
 * The key encapsulation and the key derivation of the post-quantum exchange.
 *
 * ML-KEM-768 (FIPS 203), not the X-Wing hybrid: the key made here is WireGuard's preshared
 * key, which Noise IKpsk2 mixes into the chaining key after the four X25519 results of the
 * handshake, so every session is already a hybrid of X25519 and this key; the exchange itself
 * runs inside a session X25519 protects. X-Wing's own X25519 would add a third classical layer
 * for 32 more bytes of key and a scalar multiplication more on each side per rotation.
 *
 * The preshared key: HKDF (BLAKE2s, WireGuard's construction) with the shared secret as input
 * keying material and, as salt, the hash of a label, both members' public keys (the smaller
 * first), the initiator's run and the rotation, the encapsulation key and the ciphertext. A
 * key is bound to the pair, to the rotation and to the messages that made it.
 * @module
 */

import { ml_kem768 } from "npm:@noble/post-quantum@^0.7.1/ml-kem.js";
import { hash, kdf1 } from "../../crypto/blake2s.ts";

const LABEL = new TextEncoder().encode("weft pq psk v1 ML-KEM-768");

/** An ephemeral key pair: the secret key only ever in memory, wiped once used. */
export interface KemKeys {
  /** The encapsulation key (sent). */
  ek: Uint8Array;
  /** The decapsulation key (kept, wiped after use). */
  dk: Uint8Array;
}

/** A fresh ML-KEM-768 key pair. */
export function kemKeys(): KemKeys {
  const k = ml_kem768.keygen();
  return { ek: k.publicKey, dk: k.secretKey };
}

/** Encapsulates to `ek`: the ciphertext to send and the shared secret (the caller wipes it). */
export function kemEncapsulate(ek: Uint8Array): { ct: Uint8Array; ss: Uint8Array } {
  const r = ml_kem768.encapsulate(ek);
  return { ct: r.cipherText, ss: r.sharedSecret };
}

/** The shared secret in `ct` for `dk` (the caller wipes it). */
export function kemDecapsulate(ct: Uint8Array, dk: Uint8Array): Uint8Array {
  return ml_kem768.decapsulate(ct, dk);
}

/** What a preshared key is bound to besides the shared secret. */
export interface PskContext {
  /** The members' public keys (32 bytes each), in either order. */
  keys: [Uint8Array, Uint8Array];
  /** The initiator's run. */
  sid: number;
  /** The rotation. */
  rotation: number;
  /** The encapsulation key sent. */
  ek: Uint8Array;
  /** The ciphertext answered. */
  ct: Uint8Array;
}

/** The 32-byte preshared key of a rotation. See the module docs. */
export function derivePsk(ss: Uint8Array, c: PskContext): Uint8Array {
  const [a, b] = c.keys;
  const [lo, hi] = compare(a, b) <= 0 ? [a, b] : [b, a];
  const counters = new Uint8Array(8);
  const v = new DataView(counters.buffer);
  v.setUint32(0, c.sid);
  v.setUint32(4, c.rotation);
  const salt = hash(LABEL, lo, hi, counters, hash(c.ek), hash(c.ct));
  const [psk] = kdf1(salt, ss);
  salt.fill(0);
  return psk;
}

/** Byte order of two keys (the smaller public key initiates the exchange). */
export function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
