/**
 * What is specific to the node:crypto backend; the RFC 8439 / RFC 7748 vectors, tampering and
 * cross-backend agreement are in select_test.ts for every backend.
 */
import assert from "node:assert/strict";
import { nodeAead, nodeDh } from "./node.ts";
import { nobleAead, nobleDh } from "./noble.ts";

const KEY = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);

Deno.test("names: both halves say node", () => {
  assert.equal(nodeAead.name, "node");
  assert.equal(nodeDh.name, "node");
});

Deno.test("a destroyed key refuses to be used, loudly", () => {
  const k = nodeAead.key(KEY);
  const sealed = new Uint8Array(20);
  k.seal(1, new Uint8Array(4), sealed);
  k.destroy();
  assert.throws(() => k.seal(1, new Uint8Array(4), new Uint8Array(20)), /after destroy/);
  // Not "false" (a forgery): a use after destroy is a bug the caller must hear of.
  assert.throws(() => k.open(1, sealed, new Uint8Array(4)), /after destroy/);
  assert.equal(KEY[0], 255);
});

Deno.test("open: wrong destination size or too short is false; Buffer output lands in dst", () => {
  const k = nodeAead.key(KEY);
  const pt = Uint8Array.from({ length: 33 }, (_, i) => i);
  const sealed = new Uint8Array(49);
  k.seal(3, pt, sealed);
  assert.equal(k.open(3, sealed, new Uint8Array(32)), false);
  assert.equal(k.open(3, sealed.subarray(0, 15), new Uint8Array(0)), false);
  const out = new Uint8Array(33);
  assert.equal(k.open(3, sealed, out), true);
  assert.deepEqual(out, pt);
  // Same bytes as the reference backend.
  const ref = new Uint8Array(49);
  nobleAead.key(KEY).seal(3, pt, ref);
  assert.deepEqual(sealed, ref);
});

Deno.test("X25519: DER wrapping gives the same keys and secrets as noble", () => {
  for (let i = 0; i < 8; i++) {
    const a = nodeDh.generatePrivate();
    const b = nobleDh.generatePrivate();
    const pubA = nodeDh.publicKey(a);
    assert.ok(pubA instanceof Uint8Array && pubA.length === 32);
    assert.deepEqual(pubA, nobleDh.publicKey(a));
    assert.deepEqual(nodeDh.shared(a, nobleDh.publicKey(b)), nobleDh.shared(b, pubA));
  }
  assert.throws(() => nodeDh.publicKey(new Uint8Array(16)), /32 bytes/);
  assert.throws(() => nodeDh.shared(new Uint8Array(32), new Uint8Array(31)), /32 bytes/);
});
