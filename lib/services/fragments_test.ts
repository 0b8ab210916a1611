import assert from "node:assert/strict";
import {
  FRAGMENT_HEADER,
  MAX_DATAGRAM,
  MIN_CHUNK,
  Reassembler,
  splitMessage,
  WHOLE_HEADER,
} from "./fragments.ts";

function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

Deno.test("fragments: a small message goes whole, in one datagram", () => {
  const m = bytes(MAX_DATAGRAM - WHOLE_HEADER);
  const ds = splitMessage(m, 1);
  assert.equal(ds.length, 1);
  assert.equal(ds[0].length, MAX_DATAGRAM);
  assert.deepEqual(new Reassembler().add(ds[0], "a"), m);
});

Deno.test("fragments: a large message is cut and put back together in any order", () => {
  const m = bytes(100_000);
  const ds = splitMessage(m, 7);
  assert.equal(ds.length, Math.ceil(m.length / (MAX_DATAGRAM - FRAGMENT_HEADER)));
  for (const d of ds) assert.ok(d.length <= MAX_DATAGRAM);
  const r = new Reassembler();
  const order = ds.map((_, i) => i).reverse();
  let out: Uint8Array | null = null;
  for (const [n, i] of order.entries()) {
    out = r.add(ds[i], "a");
    if (n < ds.length - 1) assert.equal(out, null);
  }
  assert.deepEqual(out, m);
  assert.equal(r.heldBytes, 0);
  assert.equal(r.open, 0);
});

Deno.test("fragments: duplicates are ignored, also after the message completed", () => {
  const m = bytes(3000);
  const ds = splitMessage(m, 9);
  const r = new Reassembler();
  assert.equal(r.add(ds[0], "a"), null);
  assert.equal(r.add(ds[0], "a"), null);
  assert.equal(r.drops.get("duplicate"), 1);
  for (const d of ds.slice(1, -1)) assert.equal(r.add(d, "a"), null);
  assert.deepEqual(r.add(ds.at(-1)!, "a"), m);
  // A late copy of a fragment of that message starts nothing new.
  assert.equal(r.add(ds[1], "a"), null);
  assert.equal(r.drops.get("duplicate"), 2);
  assert.equal(r.open, 0);
});

Deno.test("fragments: senders and ids do not mix", () => {
  const m1 = bytes(2500, 1);
  const m2 = bytes(2500, 2);
  const a = splitMessage(m1, 5);
  const b = splitMessage(m2, 5);
  const r = new Reassembler();
  assert.equal(r.add(a[0], "x"), null);
  assert.equal(r.add(b[0], "y"), null);
  assert.equal(r.add(a[1], "x"), null);
  assert.equal(r.add(b[1], "y"), null);
  assert.deepEqual(r.add(b[2], "y"), m2);
  assert.deepEqual(r.add(a[2], "x"), m1);
});

Deno.test("fragments: messages over the limit are dropped early and counted", () => {
  const r = new Reassembler({ maxMessageBytes: 4000 });
  // The count alone says it is too large.
  const big = splitMessage(bytes(50_000), 1);
  assert.equal(r.add(big[0], "a"), null);
  assert.equal(r.drops.get("too-large"), 1);
  assert.equal(r.open, 0);
  // A count that could fit, but chunks that add up to more, is given up once it goes over.
  const ds = splitMessage(bytes(5000), 2, 1000 + FRAGMENT_HEADER);
  for (const d of ds) assert.equal(r.add(d, "a"), null);
  assert.equal(r.drops.get("too-large"), 2);
  assert.equal(r.heldBytes, 0);
  // A whole message over the limit too.
  const whole = new Reassembler({ maxMessageBytes: 100 }).add(splitMessage(bytes(101), 3)[0], "a");
  assert.equal(whole, null);
});

Deno.test("fragments: a few reassemblies per sender; a new one evicts the oldest", () => {
  const r = new Reassembler({ maxPerSender: 2 });
  const msgs = [1, 2, 3].map((id) => splitMessage(bytes(2500, id), id));
  for (const ds of msgs) assert.equal(r.add(ds[0], "a"), null);
  assert.equal(r.open, 2);
  assert.equal(r.drops.get("evicted"), 1);
  // Message 1 was evicted: its remaining fragments start it again but cannot finish it.
  assert.equal(r.add(msgs[0][1], "a"), null);
  assert.equal(r.add(msgs[0][2], "a"), null);
  // Message 3 still completes.
  assert.equal(r.add(msgs[2][1], "a"), null);
  assert.deepEqual(r.add(msgs[2][2], "a"), bytes(2500, 3));
});

Deno.test("fragments: bytes held across senders are capped", () => {
  const r = new Reassembler({ maxTotalBytes: 3000 });
  const a = splitMessage(bytes(5000, 1), 1);
  for (const d of a.slice(0, 2)) r.add(d, "a");
  const b = splitMessage(bytes(5000, 2), 1);
  r.add(b[0], "b");
  assert.equal(r.drops.get("memory"), 1);
  assert.ok(r.heldBytes <= 3000);
});

Deno.test("fragments: a reassembly that stops getting fragments expires", () => {
  let now = 0;
  const r = new Reassembler({ timeoutMs: 1000 }, () => now);
  const ds = splitMessage(bytes(3000), 4);
  r.add(ds[0], "a");
  assert.equal(r.open, 1);
  now = 999;
  r.sweep();
  assert.equal(r.open, 1);
  now = 1000;
  r.sweep();
  assert.equal(r.open, 0);
  assert.equal(r.drops.get("expired"), 1);
  assert.equal(r.heldBytes, 0);
});

Deno.test("fragments: malformed datagrams are counted drops", () => {
  const r = new Reassembler();
  const frag = (id: number, index: number, count: number, len: number) => {
    const d = new Uint8Array(FRAGMENT_HEADER + len);
    const v = new DataView(d.buffer);
    d[0] = 1;
    d[1] = 1;
    v.setUint32(2, id);
    v.setUint16(6, index);
    v.setUint16(8, count);
    return d;
  };
  const bad = [
    new Uint8Array(),
    new Uint8Array([1]),
    new Uint8Array([2, 0, 1]),
    new Uint8Array([1, 7, 1]),
    new Uint8Array([1, 1, 0, 0]),
    frag(1, 0, 1, 500), // a count of one
    frag(1, 3, 3, 500), // index past the count
    frag(1, 0, 3, MIN_CHUNK - 1), // a short chunk that is not the last
    frag(1, 0, 3, 0), // no chunk
  ];
  for (const d of bad) assert.equal(r.add(d, "a"), null);
  assert.equal(r.drops.get("malformed"), bad.length);
  // The same id with another count does not join the first.
  r.add(frag(2, 0, 3, 500), "a");
  r.add(frag(2, 1, 4, 500), "a");
  assert.equal(r.drops.get("malformed"), bad.length + 1);
  assert.equal(r.open, 1);
});

Deno.test("fragments: too small a datagram size is refused", () => {
  assert.throws(() => splitMessage(bytes(10), 1, 100), RangeError);
});

Deno.test("fragments: one sender holds at most its share; the others still get theirs", () => {
  const r = new Reassembler({
    maxMessageBytes: 10_000,
    maxTotalBytes: 40_000,
    maxBytesPerSender: 10_000,
    maxPerSender: 8,
  });
  // A member (its IPv4 and IPv6 addresses: one sender key) starts many messages it never ends.
  for (let id = 1; id <= 8; id++) {
    const ds = splitMessage(bytes(9_000, id), id);
    for (const d of ds.slice(0, -1)) r.add(d, "member-1");
  }
  assert.ok(r.heldBytes <= 10_000, String(r.heldBytes));
  assert.ok(r.drops.get("memory") > 0);
  // Another member's message still goes through.
  const other = splitMessage(bytes(9_000, 99), 1);
  let out: Uint8Array | null = null;
  for (const d of other) out = r.add(d, "member-2");
  assert.deepEqual(out, bytes(9_000, 99));
});
