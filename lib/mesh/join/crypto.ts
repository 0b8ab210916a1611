/**
 * The join exchange's encryption: a Noise-NK-style pattern bound to the leader's static key.
 * The joiner encrypts its request to the leader's public key with a fresh ephemeral key; only
 * the leader can read it, and the response key also depends on that secret, so an impostor can
 * neither read a request nor produce an answer the joiner accepts. An observer sees random-
 * looking datagrams.
 *
 * Before it spends a DH on a request, the leader checks two MACs, as WireGuard does for
 * handshakes: mac1 is keyed by the token (only its holders and the leader know the key), so a
 * request without a token costs one table lookup; under load, mac2 must be keyed by a cookie
 * the leader sent to the request's source address (a cookie reply, message 0x12).
 *
 * Request: type 0x10, request id, token id (6 bytes), ephemeral (32), sealed payload, mac1 (16),
 * mac2 (16). Response: type 0x11, request id, ephemeral (32), sealed payload.
 * @module
 */

import type { Aead, Dh } from "../../crypto/types.ts";
import { hash, kdf1, kdf2, mac } from "../../crypto/blake2s.ts";
import { equalBytes } from "../../crypto/bytes.ts";
import { xchachaOpen } from "../../crypto/xchacha.ts";
import { readU32, writeU32 } from "../../protocol/bytes.ts";
import { COOKIE_REPLY_SIZE, LABEL_COOKIE } from "../../protocol/constants.ts";
import { CookieReply } from "../../protocol/messages.ts";

/** Message type of a join request on the underlay port. */
export const MSG_JOIN_REQUEST = 0x10;
/** Message type of a join response. */
export const MSG_JOIN_RESPONSE = 0x11;
/** Message type of a join cookie reply (the leader is under load: retry with mac2). */
export const MSG_JOIN_COOKIE = 0x12;
/** Bytes of a token id on the wire. */
export const TOKEN_ID_SIZE = 6;
/** Where the token id sits in a request. */
export const REQUEST_TOKEN_ID = 8;
/** Where the joiner's ephemeral public key (32 bytes) sits in a request. */
export const REQUEST_EPHEMERAL = REQUEST_TOKEN_ID + TOKEN_ID_SIZE;

const enc = new TextEncoder();
const PROTOCOL = hash(enc.encode("weft join v2 NK 25519 ChaChaPoly BLAKE2s"));
const LABEL_JOIN_MAC1 = enc.encode("weft join v2 mac1");
const REQUEST_HEADER = 8 + TOKEN_ID_SIZE + 32; // type, request id, token id, ephemeral
const RESPONSE_HEADER = 8 + 32; // type, request id, ephemeral
const TAG = 16;
const MAC = 16;

/** The mac1 key of requests made with a token: from the leader's key and the secret's hash. */
export function joinMac1Key(leaderKey: Uint8Array, secretHash: Uint8Array): Uint8Array {
  return hash(LABEL_JOIN_MAC1, leaderKey, secretHash);
}

/** The token id of a request as a number (6 bytes, big-endian): a lookup key with no allocation. */
export function requestTokenId(msg: Uint8Array): number {
  let v = 0;
  for (let i = 0; i < TOKEN_ID_SIZE; i++) v = v * 256 + msg[REQUEST_TOKEN_ID + i];
  return v;
}

/** The numeric form of a token id (12 hex digits), or null when it is not one. */
export function tokenIdNumber(id: string): number | null {
  return /^[0-9a-f]{12}$/.test(id) ? parseInt(id, 16) : null;
}

/** True when a datagram is long enough to be a request (a cheap first filter). */
export function isJoinRequestShape(msg: Uint8Array): boolean {
  return msg.length >= REQUEST_HEADER + TAG + 2 * MAC && readU32(msg, 0) === MSG_JOIN_REQUEST;
}

/** True when mac1 of a request is right for `key`. */
export function checkJoinMac1(msg: Uint8Array, key: Uint8Array): boolean {
  const off = msg.length - 2 * MAC;
  return equalBytes(mac(key, msg.subarray(0, off)), msg.subarray(off, off + MAC));
}

/** Sets mac2 of a request from a cookie (or clears it, with null). */
export function setJoinMac2(msg: Uint8Array, cookie: Uint8Array | null): void {
  const off = msg.length - MAC;
  if (cookie) msg.set(mac(cookie, msg.subarray(0, off)), off);
  else msg.fill(0, off);
}

/** Opens a join cookie reply to `request` from the leader with key `leaderKey`; null if not. */
export function openJoinCookie(
  leaderKey: Uint8Array,
  request: Uint8Array,
  reply: Uint8Array,
): Uint8Array | null {
  if (reply.length !== COOKIE_REPLY_SIZE || readU32(reply, 0) !== MSG_JOIN_COOKIE) return null;
  if (readU32(reply, CookieReply.receiver) !== readU32(request, 4)) return null;
  const off = request.length - 2 * MAC;
  const mac1 = request.subarray(off, off + MAC);
  const nonce = reply.subarray(CookieReply.nonce, CookieReply.nonce + CookieReply.nonceSize);
  const sealed = reply.subarray(CookieReply.cookie, CookieReply.cookie + CookieReply.cookieSize);
  return xchachaOpen(hash(enc.encode(LABEL_COOKIE), leaderKey), nonce, sealed, mac1);
}

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

/**
 * Builds a join request carrying `payload` to the leader with public key `leaderKey`, made with
 * the token whose id is `tokenId` (6 bytes) and whose mac1 key is `mac1Key`. mac2 is left zero.
 * `payload` may be made from the request's ephemeral public key (what a key proof is bound to).
 */
export function sealJoinRequest(
  dh: Dh,
  aead: Aead,
  leaderKey: Uint8Array,
  tokenId: Uint8Array,
  mac1Key: Uint8Array,
  payload: Uint8Array | ((ephemeral: Uint8Array) => Uint8Array),
): { message: Uint8Array; pending: JoinPending } {
  if (tokenId.length !== TOKEN_ID_SIZE) throw new RangeError("a token id is 6 bytes");
  const requestId = crypto.getRandomValues(new Uint32Array(1))[0];
  const e = dh.generatePrivate();
  const ePub = dh.publicKey(e);
  let h = hash(PROTOCOL, leaderKey, tokenId, ePub);
  let [ck] = kdf1(PROTOCOL, ePub);
  let k: Uint8Array;
  [ck, k] = kdf2(ck, dh.shared(e, leaderKey));
  const plain = typeof payload === "function" ? payload(ePub) : payload;
  const ct = seal(aead, k, plain, h);
  h = hash(h, ct);
  const msg = new Uint8Array(REQUEST_HEADER + ct.length + 2 * MAC);
  writeU32(msg, 0, MSG_JOIN_REQUEST);
  writeU32(msg, 4, requestId);
  msg.set(tokenId, REQUEST_TOKEN_ID);
  msg.set(ePub, REQUEST_TOKEN_ID + TOKEN_ID_SIZE);
  msg.set(ct, REQUEST_HEADER);
  const off = msg.length - 2 * MAC;
  msg.set(mac(mac1Key, msg.subarray(0, off)), off);
  return { message: msg, pending: { requestId, ephemeral: e, chainKey: ck, hash: h } };
}

/** What the leader learns from a request, and how to answer it. */
export interface OpenedJoinRequest {
  /** The request's plaintext. */
  payload: Uint8Array;
  /** Builds the encrypted response. */
  respond(payload: Uint8Array): Uint8Array;
}

/**
 * Opens a join request with the leader's static private key; null when it does not decrypt.
 * Costs a DH: check the MACs first.
 */
export function openJoinRequest(
  dh: Dh,
  aead: Aead,
  leaderPrivate: Uint8Array,
  leaderPublic: Uint8Array,
  msg: Uint8Array,
): OpenedJoinRequest | null {
  if (!isJoinRequestShape(msg)) return null;
  const requestId = readU32(msg, 4);
  const tokenId = msg.subarray(REQUEST_TOKEN_ID, REQUEST_TOKEN_ID + TOKEN_ID_SIZE);
  const ePub = msg.slice(REQUEST_EPHEMERAL, REQUEST_HEADER);
  let h = hash(PROTOCOL, leaderPublic, tokenId, ePub);
  let [ck] = kdf1(PROTOCOL, ePub);
  let shared: Uint8Array;
  try {
    shared = dh.shared(leaderPrivate, ePub);
  } catch {
    return null;
  }
  let k: Uint8Array;
  [ck, k] = kdf2(ck, shared);
  const ct = msg.subarray(REQUEST_HEADER, msg.length - 2 * MAC);
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
      const out = new Uint8Array(RESPONSE_HEADER + ct2.length);
      writeU32(out, 0, MSG_JOIN_RESPONSE);
      writeU32(out, 4, requestId);
      out.set(eL, 8);
      out.set(ct2, RESPONSE_HEADER);
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
  if (msg.length < RESPONSE_HEADER + TAG || readU32(msg, 0) !== MSG_JOIN_RESPONSE) return null;
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
  return open(aead, k, msg.subarray(RESPONSE_HEADER), h2);
}
