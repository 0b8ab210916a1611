import assert from "node:assert/strict";
import { framed, unframed } from "./framing.ts";

const enc = new TextEncoder();

Deno.test("framing: a header and a body round-trip; the body is the datagram's tail, not a copy", () => {
  const d = framed(0x05, { t: "x", v: 7 }, 3);
  const head = enc.encode(JSON.stringify({ t: "x", v: 7 }));
  assert.equal(d.length, 3 + head.length + 3);
  assert.deepEqual([...d.subarray(0, 3)], [0x05, 0, head.length]);
  assert.deepEqual([...d.subarray(d.length - 3)], [0, 0, 0], "the body's room is zero");
  d.set([1, 2, 3], d.length - 3);
  const f = unframed(d, 0x05)!;
  assert.deepEqual(f.head, { t: "x", v: 7 });
  assert.deepEqual([...f.body], [1, 2, 3]);
  assert.equal(f.body.buffer, d.buffer);
  // No body at all, and a header longer than a byte says (the length's high byte).
  const long = { pad: "a".repeat(300) };
  const g = unframed(framed(0x05, long, 0), 0x05)!;
  assert.deepEqual(g.head, long);
  assert.equal(g.body.length, 0);
});

Deno.test("framing: anything else is no frame, never thrown", () => {
  const bad: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["no length", Uint8Array.of(0x05)],
    ["a length byte short", Uint8Array.of(0x05, 0)],
    ["another marker", framed(0x06, {}, 0)],
    ["header past the end", Uint8Array.of(0x05, 0, 50, 0x7b)],
    ["header not JSON", Uint8Array.of(0x05, 0, 3, ...enc.encode("{x}"))],
    ["header an array", Uint8Array.of(0x05, 0, 2, ...enc.encode("[]"))],
    ["header null", Uint8Array.of(0x05, 0, 4, ...enc.encode("null"))],
    ["header a number", Uint8Array.of(0x05, 0, 1, ...enc.encode("5"))],
    ["header not UTF-8 JSON", Uint8Array.of(0x05, 0, 2, 0xff, 0xfe)],
  ];
  for (const [why, d] of bad) assert.equal(unframed(d, 0x05), null, why);
  // A header that ends exactly at the datagram's end: a frame with an empty body.
  assert.deepEqual(unframed(Uint8Array.of(0x05, 0, 2, ...enc.encode("{}")), 0x05)?.head, {});
});

Deno.test("framing: a header its 2-byte length cannot say is refused when framed", () => {
  // 65,535 bytes fit (the length says 0xffff); one more would wrap to 0 and misframe the body.
  const fits = { s: "x".repeat(0xffff - 8) }; // {"s":"…"} is 8 bytes around the string
  const d = framed(0x05, fits, 1);
  assert.deepEqual(unframed(d, 0x05)?.head, fits);
  assert.throws(() => framed(0x05, { s: "x".repeat(0xffff - 7) }, 1), RangeError);
});
