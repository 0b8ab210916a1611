import assert from "node:assert/strict";
import * as zlib from "node:zlib";
import { deflateRawSync, inflateRawSync } from "./node_zlib.ts";

const enc = new TextEncoder();

Deno.test("browser zlib: raw DEFLATE both ways agrees with node:zlib", () => {
  const text = enc.encode(JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ n: `m${i}` }))));
  assert.deepEqual(new Uint8Array(zlib.inflateRawSync(deflateRawSync(text))), text);
  assert.deepEqual(inflateRawSync(zlib.deflateRawSync(text)), text);
});

Deno.test("browser zlib: inflating past maxOutputLength throws, as node's does", () => {
  const bomb = zlib.deflateRawSync(new Uint8Array(8 * 1024 * 1024));
  assert.throws(() => inflateRawSync(bomb, { maxOutputLength: 1024 * 1024 }), RangeError);
  assert.equal(inflateRawSync(bomb, { maxOutputLength: 8 * 1024 * 1024 }).length, 8 * 1024 * 1024);
});

Deno.test("browser zlib: what is not DEFLATE, or ends early, throws", () => {
  const z = zlib.deflateRawSync(enc.encode("hello hello hello"));
  assert.throws(() => inflateRawSync(z.subarray(0, z.length - 3)));
  assert.throws(() => inflateRawSync(new Uint8Array([0xff, 0xff, 0xff, 0xff])));
});
