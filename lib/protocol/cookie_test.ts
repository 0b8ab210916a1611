/**
 * MAC1, MAC2 and cookie replies (WireGuard whitepaper §5.4.4 and §5.4.7), between a
 * CookieGenerator (the initiator's side) and a CookieChecker (the responder's). Time is the
 * `nowMs` each call takes: no wall clock.
 */
import assert from "node:assert/strict";
import { blake2s } from "npm:@noble/hashes@^2.4.0/blake2.js";
import { xchacha20poly1305 } from "npm:@noble/ciphers@^2.4.0/chacha.js";
import { CookieChecker, CookieGenerator, mac2IsZero, sourceBytes } from "./cookie.ts";
import {
  COOKIE_REPLY_SIZE,
  DEFAULT_TIMERS,
  INITIATION_SIZE,
  MSG_COOKIE_REPLY,
  RESPONSE_SIZE,
} from "./constants.ts";
import { Initiation } from "./messages.ts";
import { readU32 } from "./bytes.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

const REFRESH = DEFAULT_TIMERS.cookieRefreshTime;
const T0 = 1_000;
const enc = new TextEncoder();

function bytes(n: number, seed: number): Uint8Array {
  const r = seededRandom(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

/** The responder's static public key (any 32 bytes do for MACs). */
const RESPONDER = bytes(32, 1);
const OTHER = bytes(32, 2);
const SRC = sourceBytes("192.0.2.7", 51820);

/** A handshake initiation with a random body and empty MACs. */
function initiation(seed = 3): Uint8Array {
  const m = bytes(INITIATION_SIZE, seed);
  m.set([1, 0, 0, 0]);
  m.fill(0, Initiation.mac1);
  return m;
}

/** Reference MAC1 straight from the whitepaper, on @noble/hashes. */
function referenceMac1(responderKey: Uint8Array, msg: Uint8Array): Uint8Array {
  const key = blake2s(new Uint8Array([...enc.encode("mac1----"), ...responderKey]));
  return blake2s(msg.subarray(0, msg.length - 32), { key, dkLen: 16 });
}

/** A generator that holds a cookie from `checker` for `source`, got at `now`. */
function withCookie(checker: CookieChecker, source: Uint8Array, now: number): CookieGenerator {
  const gen = new CookieGenerator(RESPONDER, REFRESH);
  const m = initiation(10);
  gen.addMacs(m, now);
  const reply = new Uint8Array(COOKIE_REPLY_SIZE);
  checker.createReply(m, 0x1234, source, now, reply);
  assert.ok(gen.consumeReply(reply, now));
  return gen;
}

Deno.test('cookie: mac1 is keyed BLAKE2s over the message under HASH("mac1----" || key)', () => {
  const gen = new CookieGenerator(RESPONDER, REFRESH);
  const m = initiation();
  gen.addMacs(m, T0);
  assert.deepEqual(m.subarray(Initiation.mac1, Initiation.mac2), referenceMac1(RESPONDER, m));
  assert.ok(mac2IsZero(m), "no cookie yet: mac2 is zero");
  assert.deepEqual(m.subarray(Initiation.mac2), new Uint8Array(16));
  // The body is untouched.
  const body = initiation();
  assert.deepEqual(m.subarray(0, Initiation.mac1), body.subarray(0, Initiation.mac1));
  // Handshake responses have their MACs in their last 32 bytes too.
  const resp = bytes(RESPONSE_SIZE, 4);
  gen.addMacs(resp, T0);
  assert.deepEqual(
    resp.subarray(RESPONSE_SIZE - 32, RESPONSE_SIZE - 16),
    referenceMac1(RESPONDER, resp),
  );
});

Deno.test("cookie: the checker accepts mac1 for its key only, and refuses any change", () => {
  const checker = new CookieChecker(RESPONDER, REFRESH);
  const m = initiation();
  new CookieGenerator(RESPONDER, REFRESH).addMacs(m, T0);
  assert.ok(checker.checkMac1(m));
  // MAC1 made for another responder's key.
  const wrong = initiation();
  new CookieGenerator(OTHER, REFRESH).addMacs(wrong, T0);
  assert.equal(checker.checkMac1(wrong), false);
  assert.equal(new CookieChecker(OTHER, REFRESH).checkMac1(m), false);
  // Every single-bit change up to and including mac1 is caught; mac2 is not covered by mac1.
  for (let i = 0; i < Initiation.mac2; i++) {
    const t = m.slice();
    t[i] ^= 1 << (i % 8);
    assert.equal(checker.checkMac1(t), false, `bit flip at byte ${i}`);
  }
  const m2 = m.slice();
  m2[Initiation.mac2] ^= 1;
  assert.ok(checker.checkMac1(m2));
  // Too short to hold a type and two MACs.
  assert.equal(checker.checkMac1(new Uint8Array(35)), false);
  assert.equal(checker.checkMac1(new Uint8Array(0)), false);
});

Deno.test("cookie: a cookie reply opens for the initiator and gives a mac2 the checker accepts", () => {
  const checker = new CookieChecker(RESPONDER, REFRESH);
  const gen = new CookieGenerator(RESPONDER, REFRESH);
  const m = initiation();
  gen.addMacs(m, T0);
  assert.equal(checker.checkMac2(m, SRC, T0), false, "no cookie, no mac2");
  const reply = new Uint8Array(COOKIE_REPLY_SIZE).fill(0xaa);
  checker.createReply(m, 0xdeadbeef, SRC, T0, reply);
  assert.equal(readU32(reply, 0), MSG_COOKIE_REPLY, "type 3, reserved zeros");
  assert.equal(readU32(reply, 4), 0xdeadbeef, "receiver index");
  assert.ok(gen.consumeReply(reply, T0));
  // The next message carries mac2; mac1 is unchanged by it.
  const next = initiation(5);
  gen.addMacs(next, T0 + 1);
  assert.equal(mac2IsZero(next), false);
  assert.deepEqual(next.subarray(Initiation.mac1, Initiation.mac2), referenceMac1(RESPONDER, next));
  assert.ok(checker.checkMac1(next));
  assert.ok(checker.checkMac2(next, SRC, T0 + 1));
  // The cookie is bound to the source address and port.
  assert.equal(checker.checkMac2(next, sourceBytes("192.0.2.8", 51820), T0 + 1), false);
  assert.equal(checker.checkMac2(next, sourceBytes("192.0.2.7", 51821), T0 + 1), false);
  // mac2 covers the whole message up to it, mac1 included.
  for (const i of [0, 50, Initiation.mac1, Initiation.mac2 - 1, INITIATION_SIZE - 1]) {
    const t = next.slice();
    t[i] ^= 0x80;
    assert.equal(checker.checkMac2(t, SRC, T0 + 1), false, `flip at ${i}`);
  }
});

Deno.test("cookie: the reply and mac2 have the whitepaper's layout (checked with @noble)", () => {
  const checker = new CookieChecker(RESPONDER, REFRESH);
  const gen = new CookieGenerator(RESPONDER, REFRESH);
  const m = initiation();
  gen.addMacs(m, T0);
  const reply = new Uint8Array(COOKIE_REPLY_SIZE);
  checker.createReply(m, 42, SRC, T0, reply);
  // msg.cookie = XAEAD(HASH("cookie--" || Spub), nonce, cookie, msg.mac1), nonce at 8..32.
  const key = blake2s(new Uint8Array([...enc.encode("cookie--"), ...RESPONDER]));
  const nonce = reply.subarray(8, 32);
  const cookie = xchacha20poly1305(key, nonce, m.subarray(Initiation.mac1, Initiation.mac2))
    .decrypt(reply.subarray(32, 64));
  assert.equal(cookie.length, 16);
  assert.ok(gen.consumeReply(reply, T0));
  // mac2 = MAC(cookie, msg up to mac2).
  const next = initiation(5);
  gen.addMacs(next, T0);
  assert.deepEqual(
    next.subarray(Initiation.mac2),
    blake2s(next.subarray(0, Initiation.mac2), { key: cookie, dkLen: 16 }),
  );
});

Deno.test("cookie: replies are sealed with a fresh random nonce each time", () => {
  const checker = new CookieChecker(RESPONDER, REFRESH);
  const m = initiation();
  new CookieGenerator(RESPONDER, REFRESH).addMacs(m, T0);
  const a = new Uint8Array(COOKIE_REPLY_SIZE);
  const b = new Uint8Array(COOKIE_REPLY_SIZE);
  checker.createReply(m, 1, SRC, T0, a);
  checker.createReply(m, 1, SRC, T0, b);
  assert.notDeepEqual(a.subarray(8, 32), b.subarray(8, 32), "nonces differ");
  assert.notDeepEqual(a.subarray(32), b.subarray(32), "so do the sealed cookies");
});

Deno.test("cookie: a reply for another key, another message, tampered or mis-sized is refused", () => {
  const checker = new CookieChecker(RESPONDER, REFRESH);
  const m = initiation();
  const reply = new Uint8Array(COOKIE_REPLY_SIZE);
  const fresh = () => {
    const g = new CookieGenerator(RESPONDER, REFRESH);
    g.addMacs(m.slice(), T0);
    return g;
  };
  new CookieGenerator(RESPONDER, REFRESH).addMacs(m, T0);
  checker.createReply(m, 7, SRC, T0, reply);

  // A generator that never sent anything has no mac1 to check the reply against.
  assert.equal(new CookieGenerator(RESPONDER, REFRESH).consumeReply(reply, T0), false);
  // A reply from a responder with another key.
  const other = new Uint8Array(COOKIE_REPLY_SIZE);
  new CookieChecker(OTHER, REFRESH).createReply(m, 7, SRC, T0, other);
  assert.equal(fresh().consumeReply(other, T0), false);
  // A generator for another peer key cannot open ours.
  const g2 = new CookieGenerator(OTHER, REFRESH);
  g2.addMacs(m.slice(), T0);
  assert.equal(g2.consumeReply(reply, T0), false);
  // A reply to a different message (mac1 is the associated data).
  const g3 = new CookieGenerator(RESPONDER, REFRESH);
  g3.addMacs(initiation(99), T0);
  assert.equal(g3.consumeReply(reply, T0), false);
  // Any flipped bit in the nonce or the sealed cookie.
  for (let i = 8; i < COOKIE_REPLY_SIZE; i++) {
    const t = reply.slice();
    t[i] ^= 1;
    assert.equal(fresh().consumeReply(t, T0), false, `flip at ${i}`);
  }
  assert.equal(fresh().consumeReply(reply.subarray(0, 63), T0), false);
  assert.equal(fresh().consumeReply(new Uint8Array([...reply, 0]), T0), false);
  // The untouched reply still opens.
  assert.ok(fresh().consumeReply(reply, T0));
});

Deno.test("cookie: a refused reply does not replace a good cookie", () => {
  const checker = new CookieChecker(RESPONDER, REFRESH);
  const gen = withCookie(checker, SRC, T0);
  const junk = new Uint8Array(COOKIE_REPLY_SIZE);
  assert.equal(gen.consumeReply(junk, T0 + 1), false);
  const m = initiation(6);
  gen.addMacs(m, T0 + 2);
  assert.ok(checker.checkMac2(m, SRC, T0 + 2));
});

Deno.test("cookie: the initiator stops using a cookie once it is refresh-time old", () => {
  const checker = new CookieChecker(RESPONDER, REFRESH);
  const gen = withCookie(checker, SRC, T0);
  const m = initiation(6);
  gen.addMacs(m, T0 + REFRESH - 1);
  assert.equal(mac2IsZero(m), false);
  assert.ok(checker.checkMac2(m, SRC, T0 + REFRESH - 1));
  gen.addMacs(m, T0 + REFRESH);
  assert.ok(mac2IsZero(m), "an old cookie is not sent");
  assert.ok(checker.checkMac1(m), "mac1 still right");
});

Deno.test("cookie: the checker refuses every mac2 once its secret is 2 minutes old", () => {
  assert.equal(REFRESH, 120_000);
  const checker = new CookieChecker(RESPONDER, REFRESH);
  // The secret is made by the first reply, at T0.
  const gen = withCookie(checker, SRC, T0);
  const m = initiation(6);
  gen.addMacs(m, T0 + 10);
  assert.ok(checker.checkMac2(m, SRC, T0 + REFRESH - 1));
  assert.equal(checker.checkMac2(m, SRC, T0 + REFRESH), false, "secret expired");
  assert.equal(checker.checkMac2(m, SRC, T0 + 10 * REFRESH), false);
});

Deno.test("cookie: the secret rotates at the first reply after 2 minutes; older cookies stop working", () => {
  const checker = new CookieChecker(RESPONDER, REFRESH);
  const a = sourceBytes("192.0.2.1", 1000);
  const b = sourceBytes("192.0.2.2", 2000);
  const genA = withCookie(checker, a, T0);
  // Within the refresh time the secret stays: a reply to another source keeps A's cookie valid.
  withCookie(checker, b, T0 + REFRESH - 1);
  const m = initiation(8);
  genA.addMacs(m, T0 + REFRESH - 1);
  assert.ok(checker.checkMac2(m, a, T0 + REFRESH - 1));

  // A's second cookie, got just before the rotation: the initiator thinks it is fresh for 2 min.
  const genA2 = withCookie(checker, a, T0 + REFRESH - 1);
  // The next reply, past the refresh time, makes a new secret.
  const genB = withCookie(checker, b, T0 + REFRESH + 5);
  const mb = initiation(9);
  genB.addMacs(mb, T0 + REFRESH + 6);
  assert.ok(checker.checkMac2(mb, b, T0 + REFRESH + 6), "the new cookie works");
  const ma = initiation(11);
  genA2.addMacs(ma, T0 + REFRESH + 6);
  assert.equal(mac2IsZero(ma), false, "the initiator still sends its cookie");
  assert.equal(checker.checkMac2(ma, a, T0 + REFRESH + 6), false, "made with the old secret");
});

Deno.test("cookie: the same source gets the same cookie until the secret rotates", () => {
  const checker = new CookieChecker(RESPONDER, REFRESH);
  const g1 = withCookie(checker, SRC, T0);
  const g2 = withCookie(checker, SRC, T0 + 1_000);
  const m1 = initiation(12);
  const m2 = m1.slice();
  g1.addMacs(m1, T0 + 2_000);
  g2.addMacs(m2, T0 + 2_000);
  assert.deepEqual(m1, m2, "same cookie, same mac2");
  const g3 = withCookie(checker, SRC, T0 + REFRESH);
  const m3 = initiation(12);
  g3.addMacs(m3, T0 + REFRESH);
  assert.notDeepEqual(m3.subarray(Initiation.mac2), m1.subarray(Initiation.mac2));
  assert.ok(checker.checkMac2(m3, SRC, T0 + REFRESH));
});

Deno.test("cookie: a zero mac2 is never accepted, and mac2IsZero looks at the last 16 bytes only", () => {
  const checker = new CookieChecker(RESPONDER, REFRESH);
  withCookie(checker, SRC, T0); // a secret exists
  const m = initiation();
  new CookieGenerator(RESPONDER, REFRESH).addMacs(m, T0);
  assert.ok(mac2IsZero(m));
  assert.equal(checker.checkMac2(m, SRC, T0), false);
  const t = m.slice();
  t[INITIATION_SIZE - 1] = 1;
  assert.equal(mac2IsZero(t), false);
  const u = m.slice();
  u[Initiation.mac2 - 1] ^= 1;
  assert.ok(mac2IsZero(u), "mac1 bytes do not count");
  assert.equal(checker.checkMac2(new Uint8Array(20), SRC, T0), false, "too short");
});

Deno.test("cookie: sourceBytes tells address and port apart", () => {
  const seen = new Set(
    [
      sourceBytes("192.0.2.1", 1),
      sourceBytes("192.0.2.1", 11),
      sourceBytes("192.0.2.11", 1),
      sourceBytes("2001:db8::1", 1),
      sourceBytes("2001:db8::", 11),
    ].map((b) => new TextDecoder().decode(b)),
  );
  assert.equal(seen.size, 5);
});
