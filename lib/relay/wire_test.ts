import assert from "node:assert/strict";
import { RelayMacKey } from "./mac.ts";
import {
  isFromRelay,
  isHeadTag,
  isToRelay,
  MSG_RELAY_FROM_RELAY,
  MSG_RELAY_FROM_RELAY_HT,
  MSG_RELAY_TO_RELAY,
  MSG_RELAY_TO_RELAY_HT,
  openRelay,
  RELAY_HEADER_SIZE,
  relayId,
  relayType,
  sealRelay,
  sealRelayInPlace,
  toFromRelay,
} from "./wire.ts";

const key = new RelayMacKey(crypto.getRandomValues(new Uint8Array(32)));
const inner = crypto.getRandomValues(new Uint8Array(148)); // a handshake initiation's size

function sealed(id = 0xdeadbeef, body = inner): Uint8Array {
  const out = new Uint8Array(RELAY_HEADER_SIZE + body.length);
  assert.equal(sealRelay(id, key, body, out), out.length);
  return out;
}

Deno.test("relay wire: the header is type, id, MAC, then the inner message unchanged", () => {
  const p = sealed();
  assert.deepEqual([...p.subarray(0, 4)], [0x15, 0, 0, 0]);
  assert.deepEqual([...p.subarray(4, 8)], [0xef, 0xbe, 0xad, 0xde]);
  assert.equal(relayType(p), MSG_RELAY_TO_RELAY);
  assert.equal(relayId(p), 0xdeadbeef);
  assert.deepEqual(p.subarray(RELAY_HEADER_SIZE), inner);
  assert.ok(openRelay(p, key));
});

Deno.test("relay wire: a full-size WireGuard message still fits a 1,500-byte IPv4 underlay", () => {
  const wg = new Uint8Array(1420 + 32); // 1,420-byte MTU: 16-byte header, 16-byte tag
  const p = sealed(1, wg);
  assert.equal(p.length + 20 + 8, 1496);
  assert.ok(p.length + 28 <= 1500);
});

Deno.test("relay wire: sealing writes into a larger caller buffer and returns the length", () => {
  const out = new Uint8Array(4096).fill(0xaa);
  const n = sealRelay(5, key, inner, out);
  assert.equal(n, 16 + inner.length);
  assert.ok(openRelay(out.subarray(0, n), key));
  assert.equal(out[n], 0xaa, "nothing written past the packet");
  assert.throws(() => sealRelay(5, key, inner, new Uint8Array(16 + inner.length - 1)), RangeError);
});

Deno.test("relay wire: every flipped bit of every byte is caught by the type check or the MAC", () => {
  const p = sealed();
  for (let i = 0; i < p.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      p[i] ^= 1 << bit;
      const caught = relayType(p) !== MSG_RELAY_TO_RELAY || !openRelay(p, key);
      assert.ok(caught, `byte ${i} bit ${bit} went through`);
      p[i] ^= 1 << bit;
    }
  }
  assert.ok(openRelay(p, key));
});

Deno.test("relay wire: relayType refuses short packets, reserved bytes and other types", () => {
  const p = sealed();
  assert.equal(relayType(p.subarray(0, 47)), 0, "shorter than header + keepalive");
  assert.equal(relayType(p.subarray(0, 48)), MSG_RELAY_TO_RELAY);
  for (const t of [1, 2, 3, 4, 0x10, 0x14, 0x19, 0x115, 0x1500]) {
    const q = p.slice();
    new DataView(q.buffer).setUint32(0, t, true);
    assert.equal(relayType(q), 0, `type ${t}`);
  }
});

Deno.test("relay wire: the relay's rewrite changes only the type; the MAC holds for the receiver", () => {
  const p = sealed(77);
  const before = p.slice();
  toFromRelay(p);
  assert.equal(relayType(p), MSG_RELAY_FROM_RELAY);
  assert.deepEqual(p.subarray(4), before.subarray(4));
  assert.ok(openRelay(p, key), "the receiver holds the same id and key as the sender");
});

/** A WireGuard transport data message of `n` bytes (type 4), its other bytes random. */
function dataMessage(n: number): Uint8Array<ArrayBuffer> {
  const m = crypto.getRandomValues(new Uint8Array(n));
  m.set([4, 0, 0, 0]);
  return m;
}

Deno.test("relay wire: head-and-tag packets are types 0x17 and 0x18 and MAC a data message's header and tag", () => {
  const msg = dataMessage(1452);
  const p = new Uint8Array(16 + msg.length);
  assert.equal(sealRelay(9, key, msg, p, true), p.length);
  assert.equal(relayType(p), MSG_RELAY_TO_RELAY_HT);
  assert.ok(isToRelay(p) && isHeadTag(p) && !isFromRelay(p));
  assert.ok(openRelay(p, key));
  // The ciphertext between header and tag is not the relay's to check: it opens.
  const body = p.slice();
  body[16 + 700] ^= 0x40;
  assert.ok(openRelay(body, key));
  // The inner header, the tag, the id: each stops it.
  for (const i of [4, 16, 16 + 4, 16 + 8, 16 + 15, p.length - 16, p.length - 1]) {
    const q = p.slice();
    q[i] ^= 1;
    assert.ok(!openRelay(q, key), `byte ${i}`);
  }
  // The relay's rewrite keeps the form; the receiver's check holds.
  toFromRelay(p);
  assert.equal(relayType(p), MSG_RELAY_FROM_RELAY_HT);
  assert.ok(isFromRelay(p) && isHeadTag(p));
  assert.ok(openRelay(p, key));
});

Deno.test("relay wire: the two forms never stand for each other", () => {
  const msg = dataMessage(200);
  const whole = sealed(3, msg);
  const ht = new Uint8Array(whole.length);
  sealRelay(3, key, msg, ht, true);
  // The same packet with the other type fails: each form's MAC is of other bytes.
  const a = whole.slice();
  a[0] = MSG_RELAY_TO_RELAY_HT;
  assert.ok(!openRelay(a, key));
  const b = ht.slice();
  b[0] = MSG_RELAY_TO_RELAY;
  assert.ok(!openRelay(b, key));
});

Deno.test("relay wire: handshakes and cookies keep the whole-message MAC in the head-and-tag form", () => {
  for (const [type, n] of [[1, 148], [2, 92], [3, 64]]) {
    const msg = crypto.getRandomValues(new Uint8Array(n));
    msg.set([type, 0, 0, 0]);
    const p = new Uint8Array(16 + n);
    sealRelay(11, key, msg, p, true);
    assert.equal(relayType(p), MSG_RELAY_TO_RELAY_HT);
    assert.ok(openRelay(p, key));
    for (const i of [16 + 20, 16 + n / 2, 16 + n - 17]) {
      const q = p.slice();
      q[i] ^= 1;
      assert.ok(!openRelay(q, key), `type ${type} byte ${i}: the whole message is covered`);
    }
  }
});

Deno.test("relay wire: sealing in place builds the same packet as sealing a copy", () => {
  const msg = dataMessage(600);
  for (const ht of [false, true]) {
    const copy = new Uint8Array(16 + msg.length);
    sealRelay(21, key, msg, copy, ht);
    const place = new Uint8Array(2048);
    place.set(msg, 16);
    assert.equal(sealRelayInPlace(21, key, place, msg.length, ht), copy.length);
    assert.deepEqual(place.subarray(0, copy.length), copy);
  }
});
