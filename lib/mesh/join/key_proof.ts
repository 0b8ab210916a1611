/**
 * The proof that a join request comes from the holder of the key it names. The join exchange
 * (./crypto.ts) authenticates the leader only: the joiner's key is a field of the request, and a
 * member's key is public in every view, so any token holder could name it. The joiner therefore
 * adds a MAC keyed by the static-static DH of its key and the leader's (only the two holders can
 * compute it, as Noise's `ss`), over the request's ephemeral key and its time: it proves the key
 * for this request alone, and a copy of the request is the same request (same time), a resend.
 * The leader checks it where it matters, on a request naming a member's key.
 * @module
 */

import type { Dh } from "../../crypto/types.ts";
import { hash, mac } from "../../crypto/blake2s.ts";
import { equalBytes } from "../../crypto/bytes.ts";

const LABEL_KEY_PROOF = new TextEncoder().encode("weft join v2 key proof");

/** Bytes of a key proof. */
export const KEY_PROOF_SIZE = 16;

/** What a key proof is bound to: both static keys, the request's ephemeral key and time. */
export interface KeyProofBinding {
  /** The leader's static public key (the request is sealed to it). */
  leaderKey: Uint8Array;
  /** The joiner's static public key (the request names it). */
  joinerKey: Uint8Array;
  /** The request's ephemeral public key (./crypto.ts REQUEST_EPHEMERAL). */
  ephemeral: Uint8Array;
  /** The request's time (Unix ms, a safe integer). */
  time: number;
}

/**
 * The key proof of a request: `ownPrivate` is the joiner's private key with the leader's key as
 * `otherPublic`, or the leader's with the joiner's (the same DH). Null when the DH has no result
 * (a low-order public key), which then proves nothing.
 */
export function joinKeyProof(
  dh: Dh,
  ownPrivate: Uint8Array,
  otherPublic: Uint8Array,
  b: KeyProofBinding,
): Uint8Array | null {
  let shared: Uint8Array;
  try {
    shared = dh.shared(ownPrivate, otherPublic);
  } catch {
    return null;
  }
  const key = hash(LABEL_KEY_PROOF, shared);
  shared.fill(0);
  const time = new Uint8Array(8);
  new DataView(time.buffer).setBigUint64(0, BigInt(b.time));
  const proof = mac(key, b.leaderKey, b.joinerKey, b.ephemeral, time);
  key.fill(0);
  return proof;
}

/** Whether `proof` proves that the request bound by `b` comes from the holder of `b.joinerKey`. */
export function keyProofHolds(
  dh: Dh,
  leaderPrivate: Uint8Array,
  b: KeyProofBinding,
  proof: Uint8Array,
): boolean {
  const want = joinKeyProof(dh, leaderPrivate, b.joinerKey, b);
  return want !== null && proof.length === KEY_PROOF_SIZE && equalBytes(want, proof);
}
