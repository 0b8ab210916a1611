import assert from "node:assert/strict";
import { encodeKey, generatePrivateKey } from "../crypto/keys.ts";
import {
  decodeRelayMessage,
  encodeRelayMessage,
  isKeyText,
  isRelayMessageType,
  isSessionId,
  MAX_RELAY_MESSAGE_BYTES,
  type RelayMessage,
  validateRelayMessage,
} from "./messages.ts";

const A = encodeKey(generatePrivateKey());
const B = encodeKey(generatePrivateKey());
const K1 = encodeKey(crypto.getRandomValues(new Uint8Array(32)));
const K2 = encodeKey(crypto.getRandomValues(new Uint8Array(32)));

const session: RelayMessage = {
  t: "relay-session",
  peer: B,
  send: { id: 1, key: K1 },
  recv: { id: 0xffffffff, key: K2 },
};
const all: RelayMessage[] = [
  { t: "relay-open", to: B },
  { t: "relay-close", to: B },
  session,
  { t: "relay-closed", peer: A },
];

const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

Deno.test("relay messages: each type survives encode and decode", () => {
  for (const m of all) {
    assert.deepEqual(decodeRelayMessage(encodeRelayMessage(m)), m);
    assert.ok(isRelayMessageType(m.t));
  }
  assert.ok(!isRelayMessageType("hello"));
  assert.ok(encodeRelayMessage(session).length < 300, "a session fits any control datagram");
});

Deno.test("relay messages: fields this version does not know are dropped, not passed on", () => {
  const got = validateRelayMessage({
    t: "relay-session",
    peer: B,
    send: { id: 1, key: K1, extra: 1 },
    recv: { id: 2, key: K2 },
    note: "x".repeat(50),
  });
  assert.deepEqual(got, {
    t: "relay-session",
    peer: B,
    send: { id: 1, key: K1 },
    recv: { id: 2, key: K2 },
  });
  assert.deepEqual(validateRelayMessage({ t: "relay-open", to: A, x: [1] }), {
    t: "relay-open",
    to: A,
  });
});

Deno.test("relay messages: keys must be canonical 32-byte base64", () => {
  const bad: unknown[] = [
    undefined,
    null,
    42,
    "",
    A.slice(0, 43),
    ` ${A}`,
    `${A} `,
    A.slice(0, 42) + "B=", // a non-canonical last character (low bits set)
    A.replace(/=$/, "A"),
    "A".repeat(44),
    [A],
    { key: A },
  ];
  for (const k of bad) {
    assert.equal(isKeyText(k), false, String(k));
    assert.equal(validateRelayMessage({ t: "relay-open", to: k }), null);
    assert.equal(validateRelayMessage({ t: "relay-closed", peer: k }), null);
    assert.equal(validateRelayMessage({ ...session, peer: k }), null);
    assert.equal(validateRelayMessage({ ...session, send: { id: 1, key: k } }), null);
  }
});

Deno.test("relay messages: ids are 32-bit unsigned integers other than 0, one per direction", () => {
  for (const id of [0, -1, 1.5, 2 ** 32, NaN, Infinity, "5", null, undefined, true]) {
    assert.equal(isSessionId(id), false, String(id));
    assert.equal(validateRelayMessage({ ...session, recv: { id, key: K2 } }), null, String(id));
  }
  for (const id of [1, 0x7fffffff, 0xffffffff]) assert.ok(isSessionId(id));
  assert.equal(
    validateRelayMessage({ ...session, send: { id: 9, key: K1 }, recv: { id: 9, key: K2 } }),
    null,
    "both directions on one id",
  );
});

Deno.test("relay messages: wrong shapes are refused", () => {
  const bad: unknown[] = [
    null,
    "relay-open",
    [],
    [{ t: "relay-open", to: A }],
    {},
    { t: "relay-opened", to: A },
    { t: "relay-open" },
    { t: "relay-open", peer: A },
    { t: "relay-session", peer: B, send: { id: 1, key: K1 } },
    { t: "relay-session", peer: B, send: [1, K1], recv: { id: 2, key: K2 } },
    { t: "relay-session", peer: B, send: null, recv: { id: 2, key: K2 } },
  ];
  for (const v of bad) assert.equal(validateRelayMessage(v), null, JSON.stringify(v));
  assert.throws(() => encodeRelayMessage({ t: "relay-open", to: "nope" }), /invalid relay message/);
});

Deno.test("relay messages: decoding refuses non-JSON, bad UTF-8 and oversized input", () => {
  assert.equal(decodeRelayMessage(new TextEncoder().encode("{")), null);
  assert.equal(decodeRelayMessage(Uint8Array.of(0x7b, 0xff, 0x7d)), null);
  assert.equal(decodeRelayMessage(new Uint8Array(0)), null);
  const padded = bytes({ t: "relay-open", to: A, pad: "x".repeat(MAX_RELAY_MESSAGE_BYTES) });
  assert.equal(decodeRelayMessage(padded), null);
  assert.deepEqual(decodeRelayMessage(bytes({ t: "relay-open", to: A })), {
    t: "relay-open",
    to: A,
  });
});

Deno.test("relay messages: `ht` (the head-and-tag MAC form) is kept only as true", () => {
  assert.deepEqual(validateRelayMessage({ t: "relay-open", to: A, ht: true }), {
    t: "relay-open",
    to: A,
    ht: true,
  });
  for (const ht of [false, 1, "true", null]) {
    assert.deepEqual(validateRelayMessage({ t: "relay-open", to: A, ht }), {
      t: "relay-open",
      to: A,
    });
  }
  const m = validateRelayMessage({
    t: "relay-session",
    peer: B,
    send: { id: 1, key: K1, ht: true },
    recv: { id: 2, key: K2, ht: "yes" },
  });
  assert.deepEqual(m, {
    t: "relay-session",
    peer: B,
    send: { id: 1, key: K1, ht: true },
    recv: { id: 2, key: K2 },
  });
  assert.deepEqual(decodeRelayMessage(encodeRelayMessage(m!)), m);
});
