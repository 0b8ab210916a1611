import assert from "node:assert/strict";
import { LentViewCache, OpenViewCache, SealViewCache } from "./views.ts";

const HEADER = 16;
const TAG = 16;

Deno.test("SealViewCache: views at the right offsets and lengths over the one buffer", () => {
  const buf = new Uint8Array(1024);
  const c = new SealViewCache(buf, HEADER, TAG);
  const v = c.get(32);
  assert.equal(v.plain.buffer, buf.buffer);
  assert.equal(v.plain.byteOffset, HEADER);
  assert.equal(v.plain.length, 32);
  assert.equal(v.sealed.byteOffset, HEADER);
  assert.equal(v.sealed.length, 32 + TAG);
  assert.equal(v.wire.byteOffset, 0);
  assert.equal(v.wire.length, HEADER + 32 + TAG);
  // They alias the buffer: a write through a view is a write to it.
  v.plain[0] = 0xab;
  assert.equal(buf[HEADER], 0xab);
  assert.equal(v.wire[HEADER], 0xab);
  const empty = c.get(0);
  assert.equal(empty.plain.length, 0);
  assert.equal(empty.wire.length, HEADER + TAG);
});

Deno.test("SealViewCache: the same length gives the same objects; another length others", () => {
  const c = new SealViewCache(new Uint8Array(256), HEADER, TAG);
  const a = c.get(48);
  assert.equal(c.get(48), a);
  assert.equal(c.get(48).plain, a.plain);
  const b = c.get(64);
  assert.notEqual(b, a);
  assert.equal(b.plain.length, 64);
  assert.equal(c.get(48), a);
});

Deno.test("OpenViewCache: sealed after the header, plain without the tag, per buffer object", () => {
  const c = new OpenViewCache(HEADER, TAG);
  const msg = Uint8Array.from({ length: HEADER + 40 + TAG }, (_, i) => i);
  const v = c.get(msg);
  assert.equal(v.sealed.byteOffset, HEADER);
  assert.equal(v.sealed.length, 40 + TAG);
  assert.equal(v.plain.byteOffset, HEADER);
  assert.equal(v.plain.length, 40);
  assert.equal(v.plain[0], HEADER);
  assert.equal(v.packet, null);
  assert.equal(c.get(msg), v);
  // A different object over the same bytes is a different entry (views depend on the object).
  const alias = msg.subarray(0);
  assert.notEqual(c.get(alias), v);
  // A buffer of another length gets views of its own length.
  assert.equal(c.get(new Uint8Array(HEADER + TAG)).plain.length, 0);
});

Deno.test("OpenViewCache.packet: the first n plaintext bytes, kept until the length changes", () => {
  const c = new OpenViewCache(HEADER, TAG);
  const msg = new Uint8Array(HEADER + 64 + TAG);
  const v = c.get(msg);
  const p20 = c.packet(v, 20);
  assert.equal(p20.length, 20);
  assert.equal(p20.byteOffset, HEADER);
  assert.equal(v.packet, p20);
  assert.equal(c.packet(v, 20), p20); // reused
  const p30 = c.packet(v, 30);
  assert.notEqual(p30, p20);
  assert.equal(p30.length, 30);
  // The whole plaintext is the plain view itself, not a copy of it.
  assert.equal(c.packet(v, 64), v.plain);
  // Writes land in the message buffer.
  p30[0] = 9;
  assert.equal(msg[HEADER], 9);
});

Deno.test("LentViewCache: one view per (object, offset, length), reaching past the object if asked", () => {
  const c = new LentViewCache();
  const buf = new ArrayBuffer(4096);
  const slot = new Uint8Array(buf, 1024, 2048);
  const v = c.get(slot, 16, 100);
  assert.equal(v.buffer, buf);
  assert.equal(v.byteOffset, 1024 + 16);
  assert.equal(v.length, 100);
  assert.equal(c.get(slot, 16, 100), v, "the same view again");
  assert.notEqual(c.get(slot, 16, 116), v);
  assert.notEqual(c.get(slot, 0, 100), v);
  // Another object over the same bytes has views of its own.
  assert.notEqual(c.get(new Uint8Array(buf, 1024, 2048), 16, 100), v);
  // A packet's view may reach into the room after it, within the buffer.
  const pkt = new Uint8Array(buf, 3000, 52);
  assert.equal(c.get(pkt, 0, 64).length, 64);
  assert.throws(() => c.get(pkt, 0, 2000), RangeError);
  assert.throws(() => c.get(slot, -1, 10), RangeError);
  assert.throws(() => c.get(slot, 4096, 10), RangeError);
});

Deno.test("LentViewCache: past its bound it forgets every view and starts over", () => {
  const c = new LentViewCache();
  const base = new Uint8Array(new ArrayBuffer(70_000));
  const first = c.get(base, 0, 0);
  for (let len = 1; len < 65536; len++) c.get(base, 0, len);
  assert.equal(c.get(base, 0, 0), first, "65,536 views are kept");
  c.get(base, 0, 65536);
  assert.notEqual(c.get(base, 0, 0), first, "one more, and they are forgotten");
});

Deno.test("LentViewCache: views of many objects and keys stay theirs through the front", () => {
  const c = new LentViewCache();
  const bases = Array.from({ length: 2100 }, () => new Uint8Array(new ArrayBuffer(4096), 1024, 64));
  // More objects than front entries: the second round finds many evicted from the front, and
  // the view it gets then is still the one the first round got (kept in the weak map).
  const first = new Map<string, Uint8Array>();
  for (let round = 0; round < 2; round++) {
    bases.forEach((b, i) => {
      for (const [off, len] of [[0, 64], [16, 48], [16, 1000]]) {
        const v = c.get(b, off, len);
        assert.equal(v.buffer, b.buffer);
        assert.equal(v.byteOffset, 1024 + off);
        assert.equal(v.length, len);
        const k = `${i}/${off}/${len}`;
        if (round === 0) first.set(k, v);
        else assert.equal(v, first.get(k), k);
      }
    });
  }
  assert.equal(c.get(bases[3], 16, 48), c.get(bases[3], 16, 48));
});
