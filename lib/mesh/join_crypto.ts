/**
 * The join exchange's encryption: a Noise-NK-style pattern bound to the leader's static key.
 * The joiner encrypts its request to the leader's public key with a fresh ephemeral key; only
 * the leader can read it, and the response key also depends on that secret, so an impostor can
 * neither read a request nor produce an answer the joiner accepts. An observer sees two random-
 * looking datagrams.
 * @module
 */

import type { Aead, Dh } from "../crypto/types.ts";
import { hash, kdf1, kdf2 } from "../crypto/blake2s.ts";
import { readU32, writeU32 } from "../protocol/bytes.ts";

/** Message type of a join request on the underlay port. */
export const MSG_JOIN_REQUEST = 0x10;
/** Message type of a join response. */
export const MSG_JOIN_RESPONSE = 0x11;

const enc = new TextEncoder();
const PROTOCOL = hash(enc.encode("weft join v1 NK 25519 ChaChaPoly BLAKE2s"));
const HEADER = 8 + 32; // type, request id, ephemeral
const TAG = 16;

/** The joiner's secrets kept between request and response. */
export interface JoinPending {
  /** Random id echoed by the leader. */
  requestId: number;
  /** Joiner's ephemeral private key. */
  ephemeral: Uint8Array;
  /** Chaining key after the request. */
  chainKey: Uint8Array;
  /** Handshake hash after the request. */
  hash: Uint8Array;
}

function seal(aead: Aead, key: Uint8Array, plain: Uint8Array, ad: Uint8Array): Uint8Array {
  const out = new Uint8Array(plain.length + TAG);
  const k = aead.key(key);
  k.seal(0, plain, out, ad);
  k.destroy();
  return out;
}

function open(aead: Aead, key: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  if (sealed.length < TAG) return null;
  const out = new Uint8Array(sealed.length - TAG);
  const k = aead.key(key);
  const ok = k.open(0, sealed, out, ad);
  k.destroy();
  return ok ? out : null;
}

/** Builds a join request carrying `payload` to the leader with public key `leaderKey`. */
export function sealJoinRequest(
  dh: Dh,
  aead: Aead,
  leaderKey: Uint8Array,
  payload: Uint8Array,
): { message: Uint8Array; pending: JoinPending } {
  const requestId = crypto.getRandomValues(new Uint32Array(1))[0];
  const e = dh.generatePrivate();
  const ePub = dh.publicKey(e);
  let h = hash(PROTOCOL, leaderKey, ePub);
  let [ck] = kdf1(PROTOCOL, ePub);
  let k: Uint8Array;
  [ck, k] = kdf2(ck, dh.shared(e, leaderKey));
  const ct = seal(aead, k, payload, h);
  h = hash(h, ct);
  const msg = new Uint8Array(HEADER + ct.length);
  writeU32(msg, 0, MSG_JOIN_REQUEST);
  writeU32(msg, 4, requestId);
  msg.set(ePub, 8);
  msg.set(ct, HEADER);
  return { message: msg, pending: { requestId, ephemeral: e, chainKey: ck, hash: h } };
}

/** What the leader learns from a request, and how to answer it. */
export interface OpenedJoinRequest {
  /** The request's plaintext. */
  payload: Uint8Array;
  /** Builds the encrypted response. */
  respond(payload: Uint8Array): Uint8Array;
}

/** Opens a join request with the leader's static private key; null when it does not decrypt. */
export function openJoinRequest(
  dh: Dh,
  aead: Aead,
  leaderPrivate: Uint8Array,
  leaderPublic: Uint8Array,
  msg: Uint8Array,
): OpenedJoinRequest | null {
  if (msg.length < HEADER + TAG || readU32(msg, 0) !== MSG_JOIN_REQUEST) return null;
  const requestId = readU32(msg, 4);
  const ePub = msg.slice(8, 40);
  let h = hash(PROTOCOL, leaderPublic, ePub);
  let [ck] = kdf1(PROTOCOL, ePub);
  let shared: Uint8Array;
  try {
    shared = dh.shared(leaderPrivate, ePub);
  } catch {
    return null;
  }
  let k: Uint8Array;
  [ck, k] = kdf2(ck, shared);
  const ct = msg.subarray(HEADER);
  const payload = open(aead, k, ct, h);
  if (!payload) return null;
  h = hash(h, ct);
  return {
    payload,
    respond(answer: Uint8Array): Uint8Array {
      const e = dh.generatePrivate();
      const eL = dh.publicKey(e);
      const h2 = hash(h, eL);
      let [ck2] = kdf1(ck, eL);
      let k2: Uint8Array;
      [ck2, k2] = kdf2(ck2, dh.shared(e, ePub));
      const ct2 = seal(aead, k2, answer, h2);
      const out = new Uint8Array(HEADER + ct2.length);
      writeU32(out, 0, MSG_JOIN_RESPONSE);
      writeU32(out, 4, requestId);
      out.set(eL, 8);
      out.set(ct2, HEADER);
      e.fill(0);
      return out;
    },
  };
}

/** Opens the leader's response to our request; null when it is not from that leader. */
export function openJoinResponse(
  dh: Dh,
  aead: Aead,
  pending: JoinPending,
  msg: Uint8Array,
): Uint8Array | null {
  if (msg.length < HEADER + TAG || readU32(msg, 0) !== MSG_JOIN_RESPONSE) return null;
  if (readU32(msg, 4) !== pending.requestId) return null;
  const eL = msg.slice(8, 40);
  const h2 = hash(pending.hash, eL);
  let [ck] = kdf1(pending.chainKey, eL);
  let shared: Uint8Array;
  try {
    shared = dh.shared(pending.ephemeral, eL);
  } catch {
    return null;
  }
  let k: Uint8Array;
  [ck, k] = kdf2(ck, shared);
  return open(aead, k, msg.subarray(HEADER), h2);
}
