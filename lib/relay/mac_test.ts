import assert from "node:assert/strict";
import { blake2s } from "npm:@noble/hashes@^2.4.0/blake2.js";
import { RELAY_MAC_SIZE, RelayMacKey } from "./mac.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

/** @noble/hashes' keyed BLAKE2s with an 8-byte digest of `idLE || data`: the reference. */
function reference(key: Uint8Array, id: number, data: Uint8Array): Uint8Array {
  const msg = new Uint8Array(4 + data.length);
  new DataView(msg.buffer).setUint32(0, id, true);
  msg.set(data, 4);
  return blake2s(msg, { key, dkLen: 8 });
}

const rnd = seededRandom(0x5eed);

/** `n` pseudo-random bytes (seeded, so a failure replays). */
function random(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rnd() * 256;
  return b;
}

Deno.test("relay mac: equals keyed BLAKE2s-64 of id || bytes, at every length across blocks", () => {
  // Lengths around each 64-byte block edge (the id shifts the data by 4), and full-size packets.
  const lengths = [
    ...Array.from({ length: 140 }, (_, i) => i),
    ...[188, 189, 190, 191, 192, 193, 251, 252, 253, 1420, 1448, 1452, 1456, 65535],
  ];
  for (const len of lengths) {
    const key = random(32);
    const k = new RelayMacKey(key);
    const id = (rnd() * 2 ** 32) >>> 0;
    // The span starts at an odd offset inside a larger buffer, as an inner message does.
    const buf = random(len + 11);
    const out = new Uint8Array(8 + 3);
    k.sign(id, buf, 5, len, out, 3);
    const want = reference(key, id, buf.subarray(5, 5 + len));
    assert.deepEqual(out.subarray(3), want, `length ${len}`);
    assert.ok(k.verify(id, buf, 5, len, want, 0), `verify at length ${len}`);
  }
});

Deno.test("relay mac: ids at the edges of 32 bits and keys of extreme bytes", () => {
  for (const id of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) {
    for (const fill of [0x00, 0x80, 0xff]) {
      const key = new Uint8Array(32).fill(fill);
      const data = new Uint8Array(100).fill(0xff - fill);
      const out = new Uint8Array(RELAY_MAC_SIZE);
      new RelayMacKey(key).sign(id, data, 0, data.length, out, 0);
      assert.deepEqual(out, reference(key, id, data), `id ${id} key ${fill}`);
    }
  }
});

Deno.test("relay mac: any flipped bit of the id, the bytes or the tag fails verification", () => {
  const key = random(32);
  const k = new RelayMacKey(key);
  const data = random(80);
  const id = 0x12345678;
  const tag = new Uint8Array(8);
  k.sign(id, data, 0, data.length, tag, 0);
  for (let bit = 0; bit < 32; bit++) {
    assert.equal(k.verify((id ^ (1 << bit)) >>> 0, data, 0, data.length, tag, 0), false);
  }
  for (let i = 0; i < data.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      data[i] ^= 1 << bit;
      assert.equal(k.verify(id, data, 0, data.length, tag, 0), false, `byte ${i} bit ${bit}`);
      data[i] ^= 1 << bit;
    }
  }
  for (let i = 0; i < 8; i++) {
    tag[i] ^= 0x40;
    assert.equal(k.verify(id, data, 0, data.length, tag, 0), false, `tag byte ${i}`);
    tag[i] ^= 0x40;
  }
  // A shorter or longer span is a different message.
  assert.equal(k.verify(id, data, 0, data.length - 1, tag, 0), false);
  assert.equal(k.verify(id, data, 1, data.length - 1, tag, 0), false);
  assert.ok(k.verify(id, data, 0, data.length, tag, 0));
});

Deno.test("relay mac: another key does not verify; a destroyed key verifies nothing", () => {
  const data = random(64);
  const tag = new Uint8Array(8);
  const k = new RelayMacKey(random(32));
  k.sign(9, data, 0, 64, tag, 0);
  assert.equal(new RelayMacKey(random(32)).verify(9, data, 0, 64, tag, 0), false);
  k.destroy();
  assert.equal(k.verify(9, data, 0, 64, tag, 0), false);
});

Deno.test("relay mac: the key is copied into the state: wiping it after binding changes nothing", () => {
  const key = random(32);
  const want = reference(key, 7, new Uint8Array(10));
  const k = new RelayMacKey(key);
  key.fill(0);
  const out = new Uint8Array(8);
  k.sign(7, new Uint8Array(10), 0, 10, out, 0);
  assert.deepEqual(out, want);
});

Deno.test("relay mac: keys of the wrong size are refused", () => {
  assert.throws(() => new RelayMacKey(new Uint8Array(31)), /32 bytes/);
  assert.throws(() => new RelayMacKey(new Uint8Array(33)), /32 bytes/);
  assert.throws(() => new RelayMacKey("k".repeat(32) as unknown as Uint8Array), /32 bytes/);
});

/** The reference of the head-and-tag form: keyed BLAKE2s-64 of `id || len || head16 || tag16`. */
function headTagReference(key: Uint8Array, id: number, msg: Uint8Array): Uint8Array {
  const m = new Uint8Array(40);
  const v = new DataView(m.buffer);
  v.setUint32(0, id, true);
  v.setUint32(4, msg.length, true);
  m.set(msg.subarray(0, 16), 8);
  m.set(msg.subarray(msg.length - 16), 24);
  return blake2s(m, { key, dkLen: 8 });
}

Deno.test("relay mac: the head-and-tag form equals keyed BLAKE2s-64 of id || len || head || tag", () => {
  for (const len of [32, 33, 47, 48, 64, 100, 1452, 65535]) {
    const key = random(32);
    const k = new RelayMacKey(key);
    const id = (rnd() * 2 ** 32) >>> 0;
    const buf = random(len + 11);
    const out = new Uint8Array(8 + 3);
    k.signHeadTag(id, buf, 5, len, out, 3);
    const want = headTagReference(key, id, buf.subarray(5, 5 + len));
    assert.deepEqual(out.subarray(3), want, `length ${len}`);
    assert.ok(k.verifyHeadTag(id, buf, 5, len, want, 0), `verify at length ${len}`);
    // Not the whole form's MAC of the same bytes.
    const whole = new Uint8Array(8);
    k.sign(id, buf, 5, len, whole, 0);
    assert.notDeepEqual(whole, want);
  }
  assert.throws(() => new RelayMacKey(random(32)).signHeadTag(1, random(40), 0, 31, random(8), 0));
});

Deno.test("relay mac: the head-and-tag form covers the id, the length, the header and the tag only", () => {
  const k = new RelayMacKey(random(32));
  const msg = random(1452);
  const id = 0x2345678;
  const tag = new Uint8Array(8);
  k.signHeadTag(id, msg, 0, msg.length, tag, 0);
  for (const i of [0, 3, 4, 8, 15, 1436, 1440, 1451]) {
    const m = msg.slice();
    m[i] ^= 1;
    assert.ok(!k.verifyHeadTag(id, m, 0, m.length, tag, 0), `byte ${i} of the header or tag`);
  }
  // The payload between them is WireGuard's to authenticate: changing it keeps the MAC.
  const body = msg.slice();
  body[16] ^= 1;
  body[800] ^= 0xff;
  body[1435] ^= 0x80;
  assert.ok(k.verifyHeadTag(id, body, 0, body.length, tag, 0));
  // Cut short, keeping header and tag: the length is in the MAC.
  const cut = new Uint8Array(1000);
  cut.set(msg.subarray(0, 16));
  cut.set(msg.subarray(1436), 984);
  assert.ok(!k.verifyHeadTag(id, cut, 0, cut.length, tag, 0));
  assert.ok(!k.verifyHeadTag(id + 1, msg, 0, msg.length, tag, 0), "another id");
});
