/**
 * What is specific to the noble backend; the RFC 8439 / RFC 7748 vectors, tampering and
 * cross-backend agreement are in select_test.ts for every backend.
 */
import assert from "node:assert/strict";
import { nobleAead, nobleDh } from "./noble.ts";

const KEY = Uint8Array.from({ length: 32 }, (_, i) => i + 1);

function seal(k: { seal(c: number, s: Uint8Array, d: Uint8Array): void }, pt: Uint8Array) {
  const out = new Uint8Array(pt.length + 16);
  k.seal(7, pt, out);
  return out;
}

Deno.test("names: both halves say noble", () => {
  assert.equal(nobleAead.name, "noble");
  assert.equal(nobleDh.name, "noble");
});

Deno.test("destroy wipes the key: it then seals as the all-zero key would", () => {
  const pt = Uint8Array.of(1, 2, 3, 4);
  const k = nobleAead.key(KEY);
  const before = seal(k, pt);
  k.destroy();
  const after = seal(k, pt);
  assert.notDeepEqual(after, before);
  assert.deepEqual(after, seal(nobleAead.key(new Uint8Array(32)), pt));
  // The caller's bytes are not the ones wiped.
  assert.equal(KEY[0], 1);
});

Deno.test("open: a destination of the wrong size is a refusal, not a throw", () => {
  const k = nobleAead.key(KEY);
  const sealed = seal(k, new Uint8Array(10));
  assert.equal(k.open(7, sealed, new Uint8Array(9)), false);
  assert.equal(k.open(7, sealed, new Uint8Array(11)), false);
  assert.equal(k.open(7, sealed, new Uint8Array(10)), true);
  // Explicit nonces: the 12 bytes as given (here: the counter form of 7).
  const nonce = new Uint8Array(12);
  nonce[4] = 7;
  assert.equal(k.openWithNonce(nonce, sealed, new Uint8Array(10)), true);
  nonce[0] = 1;
  assert.equal(k.openWithNonce(nonce, sealed, new Uint8Array(10)), false);
});

Deno.test("sealing in place (dst over src's bytes) gives the same bytes as sealing apart", () => {
  const pt = Uint8Array.from({ length: 100 }, (_, i) => i);
  const k = nobleAead.key(KEY);
  const apart = seal(k, pt);
  const buf = new Uint8Array(116);
  buf.set(pt);
  k.seal(7, buf.subarray(0, 100), buf);
  assert.deepEqual(buf, apart);
  assert.equal(k.open(7, buf, buf.subarray(0, 100)), true);
  assert.deepEqual(buf.subarray(0, 100), pt);
});

Deno.test("X25519: keys must be 32 bytes; generated keys agree with publicKey", () => {
  assert.throws(() => nobleDh.publicKey(new Uint8Array(31)), /private key must be 32 bytes/);
  const a = nobleDh.generatePrivate();
  const b = nobleDh.generatePrivate();
  assert.throws(() => nobleDh.shared(a, new Uint8Array(33)), /public key must be 32 bytes/);
  assert.throws(() => nobleDh.shared(new Uint8Array(1), nobleDh.publicKey(b)), /private key/);
  const ab = nobleDh.shared(a, nobleDh.publicKey(b));
  assert.deepEqual(ab, nobleDh.shared(b, nobleDh.publicKey(a)));
  assert.equal(ab.length, 32);
  // The all-zero public key is low order: the same error as every backend gives.
  assert.throws(() => nobleDh.shared(a, new Uint8Array(32)), /low-order/);
});
