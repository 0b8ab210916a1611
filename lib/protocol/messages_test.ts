/**
 * Message layouts: the field offsets of the four WireGuard messages against the sizes in the
 * whitepaper (§5.4.2 to §5.4.7), and `messageType`'s reading of the type word.
 */
import assert from "node:assert/strict";
import { CookieReply, Initiation, messageType, Response, Transport } from "./messages.ts";
import {
  COOKIE_REPLY_SIZE,
  INITIATION_SIZE,
  MSG_COOKIE_REPLY,
  MSG_INITIATION,
  MSG_RESPONSE,
  MSG_TRANSPORT,
  RESPONSE_SIZE,
  TRANSPORT_HEADER_SIZE,
} from "./constants.ts";

/** Field [offset, size] pairs must tile the message from byte 4 to its end. */
function assertTiles(name: string, fields: [string, number, number][], total: number): void {
  let at = 4; // the type word
  for (const [field, off, size] of fields) {
    assert.equal(off, at, `${name}.${field} starts where the previous field ends`);
    at += size;
  }
  assert.equal(at, total, `${name} fields add up to its size`);
}

Deno.test("messages: handshake initiation layout (148 bytes)", () => {
  assert.equal(INITIATION_SIZE, 148);
  assertTiles("initiation", [
    ["sender", Initiation.sender, 4],
    ["ephemeral", Initiation.ephemeral, 32],
    ["static", Initiation.static, Initiation.staticSize],
    ["timestamp", Initiation.timestamp, Initiation.timestampSize],
    ["mac1", Initiation.mac1, 16],
    ["mac2", Initiation.mac2, 16],
  ], INITIATION_SIZE);
  // AEAD fields are their plaintext plus a 16-byte tag: a 32-byte key, a 12-byte TAI64N.
  assert.equal(Initiation.staticSize, 32 + 16);
  assert.equal(Initiation.timestampSize, 12 + 16);
  // The MACs are the last 32 bytes, as the cookie code assumes for every handshake message.
  assert.equal(Initiation.mac1, INITIATION_SIZE - 32);
});

Deno.test("messages: handshake response layout (92 bytes)", () => {
  assert.equal(RESPONSE_SIZE, 92);
  assertTiles("response", [
    ["sender", Response.sender, 4],
    ["receiver", Response.receiver, 4],
    ["ephemeral", Response.ephemeral, 32],
    ["empty", Response.empty, Response.emptySize],
    ["mac1", Response.mac1, 16],
    ["mac2", Response.mac2, 16],
  ], RESPONSE_SIZE);
  assert.equal(Response.emptySize, 16, "an empty AEAD payload is its tag");
  assert.equal(Response.mac1, RESPONSE_SIZE - 32);
});

Deno.test("messages: cookie reply layout (64 bytes)", () => {
  assert.equal(COOKIE_REPLY_SIZE, 64);
  assertTiles("cookie reply", [
    ["receiver", CookieReply.receiver, 4],
    ["nonce", CookieReply.nonce, CookieReply.nonceSize],
    ["cookie", CookieReply.cookie, CookieReply.cookieSize],
  ], COOKIE_REPLY_SIZE);
  assert.equal(CookieReply.nonceSize, 24, "XChaCha20 nonce");
  assert.equal(CookieReply.cookieSize, 16 + 16, "a 16-byte cookie and its tag");
});

Deno.test("messages: transport header layout (16 bytes, then the payload)", () => {
  assertTiles("transport", [
    ["receiver", Transport.receiver, 4],
    ["counter", Transport.counter, 8],
  ], Transport.payload);
  assert.equal(Transport.payload, TRANSPORT_HEADER_SIZE);
});

Deno.test("messageType: types 1 to 4 with zero reserved bytes; anything else is 0", () => {
  const types = [MSG_INITIATION, MSG_RESPONSE, MSG_COOKIE_REPLY, MSG_TRANSPORT];
  assert.deepEqual(types, [1, 2, 3, 4]);
  for (const t of types) {
    assert.equal(messageType(Uint8Array.of(t, 0, 0, 0)), t);
    // Only the first four bytes count.
    const long = new Uint8Array(INITIATION_SIZE).fill(0xff);
    long.set([t, 0, 0, 0]);
    assert.equal(messageType(long), t);
    // A set reserved byte makes it no message.
    for (let i = 1; i < 4; i++) {
      const m = Uint8Array.of(t, 0, 0, 0);
      m[i] = 1;
      assert.equal(messageType(m), 0, `type ${t}, reserved byte ${i} set`);
    }
  }
  for (const t of [0, 5, 0x10, 0xff]) assert.equal(messageType(Uint8Array.of(t, 0, 0, 0)), 0);
  // The type is little-endian: 1 in the last byte is not type 1.
  assert.equal(messageType(Uint8Array.of(0, 0, 0, 1)), 0);
  // Too short to hold the type word.
  assert.equal(messageType(new Uint8Array(0)), 0);
  assert.equal(messageType(Uint8Array.of(1)), 0);
  assert.equal(messageType(Uint8Array.of(1, 0, 0)), 0);
  // A view into a larger buffer is read from its own start.
  const buf = Uint8Array.of(9, 9, 2, 0, 0, 0);
  assert.equal(messageType(buf.subarray(2)), 2);
});
