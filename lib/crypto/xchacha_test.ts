/**
 * The draft-irtf-cfrg-xchacha A.3.1 vector and forgeries are in keys_test.ts; here: argument
 * checks, round trips of every size, and what each input binds.
 */
import assert from "node:assert/strict";
import { nobleXChaCha, xchachaBackend, xchachaOpen, xchachaSeal } from "./xchacha.ts";
import { loadSodium, loadSodiumXChaCha } from "./sodium.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

function bytes(rand: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
}

Deno.test("xchacha: keys must be 32 bytes and nonces 24, on seal and open", () => {
  const key = new Uint8Array(32);
  const nonce = new Uint8Array(24);
  const none = new Uint8Array(0);
  for (const bad of [new Uint8Array(31), new Uint8Array(33), new Uint8Array(0)]) {
    assert.throws(() => xchachaSeal(bad, nonce, none, none));
    assert.throws(() => xchachaOpen(bad, nonce, new Uint8Array(16), none));
  }
  for (const bad of [new Uint8Array(12), new Uint8Array(23), new Uint8Array(25)]) {
    assert.throws(() => xchachaSeal(key, bad, none, none), /nonce must be 24 bytes/);
    assert.throws(() => xchachaOpen(key, bad, new Uint8Array(16), none), /nonce must be 24 bytes/);
  }
  const notBytes = Array.from({ length: 24 }, () => 0) as unknown as Uint8Array;
  assert.throws(() => xchachaSeal(key, notBytes, none, none), /nonce must be 24 bytes/);
});

Deno.test("xchacha: round trips of every size up to 300 bytes; the tag adds 16", () => {
  const rand = seededRandom(24);
  for (let n = 0; n <= 300; n++) {
    const key = bytes(rand, 32);
    const nonce = bytes(rand, 24);
    const ad = bytes(rand, n % 40);
    const pt = bytes(rand, n);
    const sealed = xchachaSeal(key, nonce, pt, ad);
    assert.equal(sealed.length, n + 16);
    assert.deepEqual(xchachaOpen(key, nonce, sealed, ad), pt, `size ${n}`);
  }
});

Deno.test("xchacha: the key, every nonce byte and the associated data are bound", () => {
  const rand = seededRandom(7);
  const key = bytes(rand, 32);
  const nonce = bytes(rand, 24);
  const ad = bytes(rand, 16);
  const pt = bytes(rand, 16);
  const sealed = xchachaSeal(key, nonce, pt, ad);
  // The extended (HChaCha20) part of the nonce counts as much as the last 8 bytes.
  for (let i = 0; i < 24; i++) {
    const n2 = nonce.slice();
    n2[i] ^= 0x80;
    assert.equal(xchachaOpen(key, n2, sealed, ad), null, `nonce byte ${i}`);
  }
  const k2 = key.slice();
  k2[31] ^= 1;
  assert.equal(xchachaOpen(k2, nonce, sealed, ad), null);
  assert.equal(xchachaOpen(key, nonce, sealed, new Uint8Array(0)), null);
  for (let i = 0; i < sealed.length; i++) {
    const s2 = sealed.slice();
    s2[i] ^= 1;
    assert.equal(xchachaOpen(key, nonce, s2, ad), null, `sealed byte ${i}`);
  }
  // Too short to hold a tag: null, not an exception.
  for (let n = 0; n < 16; n++) {
    assert.equal(xchachaOpen(key, nonce, sealed.subarray(0, n), ad), null);
  }
  // Inputs are left as they were.
  assert.deepEqual(xchachaOpen(key, nonce, sealed, ad), pt);
  assert.notDeepEqual(sealed.subarray(0, 16), pt, "the plaintext is not sent in the clear");
});

Deno.test("xchacha: libsodium where it loads, sealing and opening as @noble/ciphers does", () => {
  const sodium = loadSodiumXChaCha();
  assert.equal(sodium === null, loadSodium() === null);
  assert.equal(xchachaBackend, sodium === null ? "noble" : "sodium");
  if (sodium === null) return; // no libsodium here: noble is the one in use, tested above
  const rand = seededRandom(51);
  for (let n = 0; n <= 200; n += 7) {
    const key = bytes(rand, 32);
    const nonce = bytes(rand, 24);
    const ad = bytes(rand, n % 33);
    const pt = bytes(rand, n);
    const sealed: Uint8Array = sodium.seal(key, nonce, pt, ad);
    assert.deepEqual(sealed, nobleXChaCha.seal(key, nonce, pt, ad), `size ${n}`);
    assert.deepEqual(nobleXChaCha.open(key, nonce, sealed, ad), pt);
    assert.deepEqual(sodium.open(key, nonce, sealed, ad), pt);
    const forged = sealed.slice();
    forged[forged.length - 1] ^= 1;
    assert.equal(sodium.open(key, nonce, forged, ad), null);
    assert.equal(sodium.open(key, nonce, sealed.subarray(0, 15), ad), null);
  }
});
