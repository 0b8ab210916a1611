/**
 * The join exchange's encryption: request and response round trip, what binds each to the
 * leader's key, the token and the request, and the MACs and cookie replies checked before a DH.
 */
import assert from "node:assert/strict";
import { blake2s } from "npm:@noble/hashes@^2.4.0/blake2.js";
import { xchacha20poly1305 } from "npm:@noble/ciphers@^2.4.0/chacha.js";
import {
  checkJoinMac1,
  isJoinRequestShape,
  joinMac1Key,
  MSG_JOIN_COOKIE,
  MSG_JOIN_REQUEST,
  MSG_JOIN_RESPONSE,
  openJoinCookie,
  openJoinRequest,
  openJoinResponse,
  REQUEST_TOKEN_ID,
  requestTokenId,
  sealJoinRequest,
  setJoinMac2,
  TOKEN_ID_SIZE,
  tokenIdNumber,
} from "./crypto.ts";
import { nobleAead as aead, nobleDh as dh } from "../../crypto/noble.ts";
import { readU32, writeU32 } from "../../protocol/bytes.ts";

const enc = new TextEncoder();
const leaderPriv = dh.generatePrivate();
const leaderPub = dh.publicKey(leaderPriv);
const TOKEN_ID = Uint8Array.of(0x01, 0x23, 0x45, 0x67, 0x89, 0xab);
const SECRET_HASH = crypto.getRandomValues(new Uint8Array(32));
const MAC1_KEY = joinMac1Key(leaderPub, SECRET_HASH);
const PAYLOAD = enc.encode(JSON.stringify({ hostname: "n1", time: 1 }));
const ANSWER = enc.encode(JSON.stringify({ ok: true, address: "10.77.0.2" }));

function seal(payload = PAYLOAD, leaderKey = leaderPub) {
  return sealJoinRequest(dh, aead, leaderKey, TOKEN_ID, MAC1_KEY, payload);
}

function flip(b: Uint8Array, i: number): Uint8Array {
  const c = b.slice();
  c[i] ^= 1;
  return c;
}

Deno.test("join crypto: request and response round trip between joiner and leader", () => {
  const { message, pending } = seal();
  const opened = openJoinRequest(dh, aead, leaderPriv, leaderPub, message);
  assert.ok(opened);
  assert.deepEqual(opened.payload, PAYLOAD);
  const response = opened.respond(ANSWER);
  assert.deepEqual(openJoinResponse(dh, aead, pending, response), ANSWER);
  // Empty and large payloads too.
  for (const size of [0, 1, 1500, 60_000]) {
    const p = crypto.getRandomValues(new Uint8Array(size));
    const s = seal(p);
    const o = openJoinRequest(dh, aead, leaderPriv, leaderPub, s.message)!;
    assert.deepEqual(o.payload, p, `request of ${size}`);
    assert.deepEqual(openJoinResponse(dh, aead, s.pending, o.respond(p)), p, `answer of ${size}`);
  }
});

Deno.test("join crypto: request layout: type, request id, token id, ephemeral, sealed, mac1, mac2", () => {
  const { message, pending } = seal();
  assert.equal(message.length, 4 + 4 + TOKEN_ID_SIZE + 32 + PAYLOAD.length + 16 + 32);
  assert.equal(readU32(message, 0), MSG_JOIN_REQUEST);
  assert.equal(readU32(message, 4), pending.requestId);
  assert.deepEqual(message.subarray(REQUEST_TOKEN_ID, REQUEST_TOKEN_ID + 6), TOKEN_ID);
  assert.deepEqual(message.subarray(14, 46), dh.publicKey(pending.ephemeral));
  assert.deepEqual(message.subarray(message.length - 16), new Uint8Array(16), "mac2 left zero");
  // The plaintext does not appear on the wire.
  const text = new TextDecoder("latin1").decode(message);
  assert.ok(!text.includes("hostname"));
  assert.ok(isJoinRequestShape(message));
  // Fresh ephemeral and request id each time.
  const again = seal();
  assert.notDeepEqual(again.message.subarray(14, 46), message.subarray(14, 46));
  assert.notDeepEqual(again.message, message);
  assert.throws(
    () => sealJoinRequest(dh, aead, leaderPub, new Uint8Array(5), MAC1_KEY, PAYLOAD),
    RangeError,
  );
});

Deno.test("join crypto: response layout: type, the request's id, ephemeral, sealed answer", () => {
  const { message, pending } = seal();
  const opened = openJoinRequest(dh, aead, leaderPriv, leaderPub, message)!;
  const r1 = opened.respond(ANSWER);
  assert.equal(r1.length, 8 + 32 + ANSWER.length + 16);
  assert.equal(readU32(r1, 0), MSG_JOIN_RESPONSE);
  assert.equal(readU32(r1, 4), pending.requestId);
  // Each response has its own ephemeral key; both open.
  const r2 = opened.respond(ANSWER);
  assert.notDeepEqual(r1.subarray(8, 40), r2.subarray(8, 40));
  assert.deepEqual(openJoinResponse(dh, aead, pending, r2), ANSWER);
});

Deno.test("join crypto: only the leader's private key opens a request", () => {
  const { message } = seal();
  const otherPriv = dh.generatePrivate();
  assert.equal(openJoinRequest(dh, aead, otherPriv, dh.publicKey(otherPriv), message), null);
  // The right private key with another public key (the hash binds the leader's key).
  assert.equal(openJoinRequest(dh, aead, leaderPriv, dh.publicKey(otherPriv), message), null);
  // A request made for another leader.
  const forOther = seal(PAYLOAD, dh.publicKey(otherPriv));
  assert.equal(openJoinRequest(dh, aead, leaderPriv, leaderPub, forOther.message), null);
});

Deno.test("join crypto: a request changed anywhere from the token id to the sealed payload fails", () => {
  const { message } = seal();
  const macStart = message.length - 32;
  for (let i = REQUEST_TOKEN_ID; i < macStart; i++) {
    assert.equal(
      openJoinRequest(dh, aead, leaderPriv, leaderPub, flip(message, i)),
      null,
      `flip at ${i}`,
    );
  }
  // Every byte up to mac1 is covered by mac1 (the request id too).
  for (let i = 0; i < macStart; i++) {
    assert.equal(checkJoinMac1(flip(message, i), MAC1_KEY), false, `mac1 after flip at ${i}`);
  }
  // Truncated, wrong type, too short for a request.
  assert.equal(openJoinRequest(dh, aead, leaderPriv, leaderPub, message.subarray(0, 60)), null);
  const wrongType = message.slice();
  writeU32(wrongType, 0, MSG_JOIN_RESPONSE);
  assert.equal(isJoinRequestShape(wrongType), false);
  assert.equal(openJoinRequest(dh, aead, leaderPriv, leaderPub, wrongType), null);
  assert.equal(isJoinRequestShape(message.subarray(0, 4 + 4 + 6 + 32 + 16 + 32 - 1)), false);
  assert.ok(isJoinRequestShape(seal(new Uint8Array(0)).message), "the smallest request");
});

Deno.test("join crypto: a low-order ephemeral key is refused, not thrown", () => {
  const { message, pending } = seal();
  const zeroEph = message.slice();
  zeroEph.fill(0, 14, 46);
  assert.equal(openJoinRequest(dh, aead, leaderPriv, leaderPub, zeroEph), null);
  const response = openJoinRequest(dh, aead, leaderPriv, leaderPub, message)!.respond(ANSWER);
  response.fill(0, 8, 40);
  assert.equal(openJoinResponse(dh, aead, pending, response), null);
});

Deno.test("join crypto: the joiner accepts only the answer to its own request, untouched", () => {
  const a = seal();
  const b = seal();
  const ra = openJoinRequest(dh, aead, leaderPriv, leaderPub, a.message)!.respond(ANSWER);
  const rb = openJoinRequest(dh, aead, leaderPriv, leaderPub, b.message)!.respond(ANSWER);
  assert.deepEqual(openJoinResponse(dh, aead, a.pending, ra), ANSWER);
  assert.equal(openJoinResponse(dh, aead, a.pending, rb), null, "another request's answer");
  // Another request's answer with our request id written in: the keys still differ.
  const relabelled = rb.slice();
  writeU32(relabelled, 4, a.pending.requestId);
  assert.equal(openJoinResponse(dh, aead, a.pending, relabelled), null);
  for (let i = 0; i < ra.length; i++) {
    assert.equal(openJoinResponse(dh, aead, a.pending, flip(ra, i)), null, `flip at ${i}`);
  }
  assert.equal(openJoinResponse(dh, aead, a.pending, ra.subarray(0, 8 + 32 + 15)), null);
  // An impostor that knows everything public answers with its own keys: refused.
  const impostorPriv = dh.generatePrivate();
  const forged = openJoinRequest(dh, aead, impostorPriv, leaderPub, a.message);
  assert.equal(forged, null, "it cannot even read the request");
});

Deno.test("join crypto: mac1 keys bind the leader's key and the token's secret hash", () => {
  const ref = blake2s(
    new Uint8Array([...enc.encode("weft join v2 mac1"), ...leaderPub, ...SECRET_HASH]),
  );
  assert.deepEqual(MAC1_KEY, ref);
  const { message } = seal();
  assert.ok(checkJoinMac1(message, MAC1_KEY));
  const off = message.length - 32;
  assert.deepEqual(
    message.subarray(off, off + 16),
    blake2s(message.subarray(0, off), { key: MAC1_KEY, dkLen: 16 }),
  );
  const otherSecret = joinMac1Key(leaderPub, crypto.getRandomValues(new Uint8Array(32)));
  const otherLeader = joinMac1Key(dh.publicKey(dh.generatePrivate()), SECRET_HASH);
  assert.equal(checkJoinMac1(message, otherSecret), false);
  assert.equal(checkJoinMac1(message, otherLeader), false);
  // mac2 is not covered by mac1.
  assert.ok(checkJoinMac1(flip(message, message.length - 1), MAC1_KEY));
});

Deno.test("join crypto: mac2 is the cookie's MAC over everything before it, or zeros", () => {
  const { message } = seal();
  const cookie = crypto.getRandomValues(new Uint8Array(16));
  setJoinMac2(message, cookie);
  const off = message.length - 16;
  assert.deepEqual(
    message.subarray(off),
    blake2s(message.subarray(0, off), { key: cookie, dkLen: 16 }),
  );
  assert.ok(checkJoinMac1(message, MAC1_KEY), "mac1 unchanged");
  assert.ok(openJoinRequest(dh, aead, leaderPriv, leaderPub, message), "still opens");
  setJoinMac2(message, null);
  assert.deepEqual(message.subarray(off), new Uint8Array(16));
});

/** A join cookie reply as the whitepaper's cookie reply, with type 0x12 (reference: @noble). */
function cookieReply(request: Uint8Array, cookie: Uint8Array, leaderKey = leaderPub): Uint8Array {
  const out = new Uint8Array(64);
  writeU32(out, 0, MSG_JOIN_COOKIE);
  writeU32(out, 4, readU32(request, 4));
  const nonce = crypto.getRandomValues(new Uint8Array(24));
  out.set(nonce, 8);
  const key = blake2s(new Uint8Array([...enc.encode("cookie--"), ...leaderKey]));
  const mac1 = request.subarray(request.length - 32, request.length - 16);
  out.set(xchacha20poly1305(key, nonce, mac1).encrypt(cookie), 32);
  return out;
}

Deno.test("join crypto: a cookie reply opens for the request it answers, from that leader only", () => {
  const { message } = seal();
  const cookie = crypto.getRandomValues(new Uint8Array(16));
  const reply = cookieReply(message, cookie);
  assert.deepEqual(openJoinCookie(leaderPub, message, reply), cookie);
  // Another leader's key, another request, another request id, another type, another size.
  assert.equal(openJoinCookie(dh.publicKey(dh.generatePrivate()), message, reply), null);
  const other = seal().message;
  assert.equal(openJoinCookie(leaderPub, other, reply), null);
  const sameIdOther = other.slice();
  sameIdOther.set(message.subarray(4, 8), 4);
  setJoinMac2(sameIdOther, null);
  assert.equal(openJoinCookie(leaderPub, sameIdOther, reply), null, "mac1 is the AD");
  const wrongType = reply.slice();
  writeU32(wrongType, 0, 3);
  assert.equal(openJoinCookie(leaderPub, message, wrongType), null);
  assert.equal(openJoinCookie(leaderPub, message, reply.subarray(0, 63)), null);
  assert.equal(openJoinCookie(leaderPub, message, new Uint8Array([...reply, 0])), null);
  for (let i = 4; i < 64; i++) {
    assert.equal(openJoinCookie(leaderPub, message, flip(reply, i)), null, `flip at ${i}`);
  }
  // A reply sealed under another leader's cookie key.
  const forged = cookieReply(message, cookie, dh.publicKey(dh.generatePrivate()));
  assert.equal(openJoinCookie(leaderPub, message, forged), null);
});

Deno.test("join crypto: token ids read as 48-bit big-endian numbers, from the wire or from hex", () => {
  assert.equal(tokenIdNumber("0123456789ab"), 0x0123456789ab);
  assert.equal(tokenIdNumber("000000000000"), 0);
  assert.equal(tokenIdNumber("ffffffffffff"), 2 ** 48 - 1);
  for (
    const bad of [
      "",
      "0123456789a",
      "0123456789abc",
      "0123456789AB",
      "0123456789ag",
      " 0123456789a",
    ]
  ) {
    assert.equal(tokenIdNumber(bad), null, JSON.stringify(bad));
  }
  const { message } = seal();
  assert.equal(requestTokenId(message), 0x0123456789ab);
  const m = message.slice();
  m.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], REQUEST_TOKEN_ID);
  assert.equal(requestTokenId(m), 2 ** 48 - 1);
  // Every token id maps to a distinct number.
  const id = crypto.getRandomValues(new Uint8Array(6));
  const hex = [...id].map((b) => b.toString(16).padStart(2, "0")).join("");
  m.set(id, REQUEST_TOKEN_ID);
  assert.equal(requestTokenId(m), tokenIdNumber(hex));
});
