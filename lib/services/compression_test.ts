import assert from "node:assert/strict";
import { compressMessage, decompressMessage, isCompressed } from "./compression.ts";

Deno.test("compression: a repetitive message deflates and inflates back", async () => {
  const msg = new TextEncoder().encode("service answer ".repeat(10_000));
  const c = (await compressMessage(msg))!;
  assert.ok(isCompressed(c) && c.length < msg.length / 10);
  assert.deepEqual(await decompressMessage(c, msg.length), msg);
});

Deno.test("compression: random bytes stay plain (null), as deflating gains nothing", async () => {
  const msg = crypto.getRandomValues(new Uint8Array(60_000));
  assert.equal(await compressMessage(msg), null);
});

Deno.test("compression: over the limit, lying or broken input is refused, never inflated whole", async () => {
  const zeros = (await compressMessage(new Uint8Array(1_000_000)))!;
  assert.equal(await decompressMessage(zeros, 999_999), "too-large");
  const liar = zeros.slice();
  new DataView(liar.buffer).setUint32(2, 10);
  assert.equal(await decompressMessage(liar, 1 << 30), "too-large");
  const short = zeros.slice();
  new DataView(short.buffer).setUint32(2, 1_000_001);
  assert.equal(await decompressMessage(short, 1 << 30), "malformed");
  assert.equal(await decompressMessage(zeros.subarray(0, 20), 1 << 30), "malformed");
  assert.equal(await decompressMessage(new Uint8Array([0xc1, 9, 0, 0, 0, 1, 0]), 10), "malformed");
});
