import assert from "node:assert/strict";
import { CounterNonceKey, NonceBuffer } from "./nonce.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

/** The nonce as WireGuard defines it: 4 zero bytes, then the counter as u64 little-endian. */
function reference(counter: number): Uint8Array {
  const out = new Uint8Array(12);
  new DataView(out.buffer).setBigUint64(4, BigInt(counter), true);
  return out;
}

Deno.test("nonce: 4 zero bytes then the little-endian 64-bit counter", () => {
  const n = new NonceBuffer();
  assert.deepEqual(n.set(0), new Uint8Array(12));
  assert.deepEqual(n.set(1), Uint8Array.of(0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0));
  assert.deepEqual(n.set(0x0102_0304), Uint8Array.of(0, 0, 0, 0, 4, 3, 2, 1, 0, 0, 0, 0));
  // Across the 32-bit boundary, where bitwise operators would truncate.
  for (const c of [2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 5, 2 ** 52, 2 ** 53 - 1]) {
    assert.deepEqual(n.set(c), reference(c), String(c));
  }
  assert.deepEqual(
    n.set(2 ** 53 - 1),
    Uint8Array.of(0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0),
  );
});

Deno.test("nonce: one buffer reused; every counter overwrites the last one whole", () => {
  const n = new NonceBuffer();
  const first = n.set(2 ** 53 - 1);
  assert.equal(first, n.bytes, "set returns the shared buffer, no allocation");
  assert.deepEqual(n.set(7), reference(7), "high bytes of the previous counter are cleared");
  const rand = seededRandom(0x5eed);
  for (let i = 0; i < 2000; i++) {
    const c = Math.floor(rand() * 2 ** 53);
    assert.equal(n.set(c), first);
    assert.deepEqual(n.bytes, reference(c), `counter ${c}`);
  }
  assert.notEqual(new NonceBuffer().bytes, n.bytes, "each NonceBuffer has its own bytes");
});

Deno.test("nonce: a CounterNonceKey seals and opens with its counter's nonce", () => {
  const seen: Uint8Array[] = [];
  class Spy extends CounterNonceKey {
    sealWithNonce(nonce: Uint8Array): void {
      seen.push(nonce.slice());
    }
    openWithNonce(nonce: Uint8Array): boolean {
      seen.push(nonce.slice());
      return nonce[4] === 9;
    }
    destroy(): void {}
  }
  const k = new Spy();
  const b = new Uint8Array(16);
  k.seal(2 ** 32 + 5, b, b);
  assert.equal(k.open(9, b, b), true, "open answers what openWithNonce does");
  assert.equal(k.open(10, b, b), false);
  assert.deepEqual(seen, [reference(2 ** 32 + 5), reference(9), reference(10)]);
});

Deno.test("nonce: a NonceBuffer over given bytes writes all twelve there and nowhere else", () => {
  const backing = new Uint8Array(32).fill(0xaa);
  const n = new NonceBuffer(backing.subarray(8, 20));
  assert.equal(n.bytes.buffer, backing.buffer, "the given bytes, not a copy");
  assert.equal(n.set(0x0102_0304), n.bytes);
  assert.deepEqual(backing.subarray(8, 20), reference(0x0102_0304), "the first four zeroed too");
  assert.ok(backing.subarray(0, 8).every((b) => b === 0xaa), "nothing before");
  assert.ok(backing.subarray(20).every((b) => b === 0xaa), "nothing after");
  assert.throws(() => new NonceBuffer(new Uint8Array(11)), RangeError);
});
