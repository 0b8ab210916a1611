import assert from "node:assert/strict";
import { hash53 } from "./hash53.ts";

Deno.test("hash53: the same bytes the same hash; a byte, the length or the tail changes it", () => {
  const a = new Uint8Array(1400).map((_, i) => (i * 7) & 0xff);
  assert.equal(hash53(a), hash53(a.slice()));
  assert.ok(Number.isSafeInteger(hash53(a)) && hash53(a) >= 0);
  const b = a.slice();
  b[700] ^= 1;
  assert.notEqual(hash53(b), hash53(a));
  assert.notEqual(hash53(a.subarray(0, 1399)), hash53(a));
  const tail = new Uint8Array(1403).map((_, i) => (i * 7) & 0xff);
  const other = tail.slice();
  other[1402] ^= 1;
  assert.notEqual(hash53(tail), hash53(other), "bytes past the last whole word count");
});
