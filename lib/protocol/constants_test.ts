/** The constants against the WireGuard whitepaper (sections 5.4 and 6) and other implementations. */
import assert from "node:assert/strict";
import {
  CONSTRUCTION,
  COOKIE_REPLY_SIZE,
  DEFAULT_TIMERS,
  IDENTIFIER,
  INITIATION_SIZE,
  LABEL_COOKIE,
  LABEL_MAC1,
  MSG_COOKIE_REPLY,
  MSG_INITIATION,
  MSG_RESPONSE,
  MSG_TRANSPORT,
  PADDING,
  REJECT_AFTER_MESSAGES,
  REKEY_AFTER_MESSAGES,
  resolveTimers,
  RESPONSE_SIZE,
  TAG_SIZE,
  TRANSPORT_HEADER_SIZE,
  TRANSPORT_MIN_SIZE,
} from "./constants.ts";
import { hash } from "../crypto/blake2s.ts";

const enc = new TextEncoder();

Deno.test("constants: construction, identifier and labels are the paper's strings", () => {
  assert.equal(CONSTRUCTION, "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s");
  assert.equal(IDENTIFIER, "WireGuard v1 zx2c4 Jason@zx2c4.com");
  assert.equal(LABEL_MAC1, "mac1----");
  assert.equal(LABEL_COOKIE, "cookie--");
  for (const label of [LABEL_MAC1, LABEL_COOKIE]) assert.equal(enc.encode(label).length, 8);
  // C_i = HASH(CONSTRUCTION) and H_i = HASH(C_i || IDENTIFIER), as boringtun hard-codes them
  // (INITIAL_CHAIN_KEY, INITIAL_CHAIN_HASH): one wrong byte in either string breaks interop.
  const ck = hash(enc.encode(CONSTRUCTION));
  assert.deepEqual(
    Array.from(ck),
    [
      96,
      226,
      109,
      174,
      243,
      39,
      239,
      192,
      46,
      195,
      53,
      226,
      160,
      37,
      210,
      208,
      22,
      235,
      66,
      6,
      248,
      114,
      119,
      245,
      45,
      56,
      209,
      152,
      139,
      120,
      205,
      54,
    ],
  );
  assert.deepEqual(
    Array.from(hash(ck, enc.encode(IDENTIFIER))),
    [
      34,
      17,
      179,
      97,
      8,
      26,
      197,
      102,
      105,
      18,
      67,
      219,
      69,
      138,
      213,
      50,
      45,
      156,
      108,
      102,
      34,
      147,
      232,
      183,
      14,
      225,
      156,
      101,
      186,
      7,
      158,
      243,
    ],
  );
});

Deno.test("constants: message types 1-4 and sizes from the paper's field layouts", () => {
  assert.deepEqual([MSG_INITIATION, MSG_RESPONSE, MSG_COOKIE_REPLY, MSG_TRANSPORT], [1, 2, 3, 4]);
  const header = 1 + 3; // type, reserved
  const aead = (n: number) => n + TAG_SIZE;
  const mac1 = 16;
  const mac2 = 16;
  // type, sender, ephemeral, AEAD(static), AEAD(TAI64N timestamp), mac1, mac2
  assert.equal(INITIATION_SIZE, header + 4 + 32 + aead(32) + aead(12) + mac1 + mac2);
  assert.equal(INITIATION_SIZE, 148);
  // type, sender, receiver, ephemeral, AEAD(empty), mac1, mac2
  assert.equal(RESPONSE_SIZE, header + 4 + 4 + 32 + aead(0) + mac1 + mac2);
  assert.equal(RESPONSE_SIZE, 92);
  // type, receiver, 24-byte nonce, XAEAD(16-byte cookie)
  assert.equal(COOKIE_REPLY_SIZE, header + 4 + 24 + aead(16));
  assert.equal(COOKIE_REPLY_SIZE, 64);
  // type, receiver, 64-bit counter
  assert.equal(TRANSPORT_HEADER_SIZE, header + 4 + 8);
  assert.equal(TAG_SIZE, 16);
  assert.equal(TRANSPORT_MIN_SIZE, 32, "a keepalive: header and the tag of nothing");
  assert.equal(PADDING, 16);
});

Deno.test("constants: message counters stay below the paper's limits, in exact integers", () => {
  // The paper's Reject-After-Messages is 2^64 - 2^13 - 1 and Rekey-After-Messages 2^60; a JS
  // number counts exactly to 2^53 - 1, which is where weft stops, rekeying well before it.
  assert.equal(REJECT_AFTER_MESSAGES, 2 ** 53 - 1);
  assert.ok(Number.isSafeInteger(REJECT_AFTER_MESSAGES));
  assert.ok(BigInt(REJECT_AFTER_MESSAGES) < 2n ** 64n - 2n ** 13n - 1n);
  assert.ok(REKEY_AFTER_MESSAGES <= 2 ** 60);
  assert.ok(REKEY_AFTER_MESSAGES < REJECT_AFTER_MESSAGES);
  assert.ok(Number.isSafeInteger(REKEY_AFTER_MESSAGES + 1));
});

Deno.test("constants: the paper's timers, frozen", () => {
  assert.deepEqual({ ...DEFAULT_TIMERS }, {
    rekeyAfterTime: 120_000,
    rejectAfterTime: 180_000,
    rekeyAttemptTime: 90_000,
    rekeyTimeout: 5_000,
    keepaliveTimeout: 10_000,
    cookieRefreshTime: 120_000,
    rekeyJitter: 333,
    rekeyAfterMessages: REKEY_AFTER_MESSAGES,
  });
  assert.ok(Object.isFrozen(DEFAULT_TIMERS));
});

Deno.test("resolveTimers: defaults filled in, overrides kept, nonsense refused", () => {
  assert.deepEqual(resolveTimers(), { ...DEFAULT_TIMERS });
  assert.notEqual(resolveTimers(), DEFAULT_TIMERS, "a copy the caller may change");
  const fast = resolveTimers({ rekeyAfterTime: 100, rejectAfterTime: 150, rekeyJitter: 0 });
  assert.equal(fast.rekeyAfterTime, 100);
  assert.equal(fast.rejectAfterTime, 150);
  assert.equal(fast.rekeyJitter, 0);
  assert.equal(fast.keepaliveTimeout, 10_000);
  for (const bad of [-1, NaN, Infinity, "5" as unknown as number]) {
    assert.throws(
      () => resolveTimers({ keepaliveTimeout: bad }),
      (e: unknown) => e instanceof RangeError && /timer keepaliveTimeout must be/.test(e.message),
      String(bad),
    );
  }
  for (const [rekey, reject] of [[180_000, 180_000], [200_000, 180_000], [5, 4]]) {
    assert.throws(
      () => resolveTimers({ rekeyAfterTime: rekey, rejectAfterTime: reject }),
      /rekeyAfterTime must be less than rejectAfterTime/,
    );
  }
  assert.throws(() => resolveTimers({ rejectAfterTime: 100_000 }), /less than rejectAfterTime/);
});
