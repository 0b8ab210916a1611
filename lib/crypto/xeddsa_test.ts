import assert from "node:assert/strict";
import { x25519 } from "npm:@noble/curves@^2.4.0/ed25519.js";
import { edwardsOfMontgomery, xeddsaSign, xeddsaVerify } from "./xeddsa.ts";

const enc = new TextEncoder();

Deno.test("xeddsa: a signature verifies under the signer's X25519 public key only", () => {
  for (let i = 0; i < 16; i++) {
    const priv = x25519.utils.randomSecretKey();
    const pub = x25519.getPublicKey(priv);
    const msg = enc.encode(`announcement ${i}`);
    const sig = xeddsaSign(priv, msg);
    assert.equal(sig.length, 64);
    assert.ok(xeddsaVerify(pub, msg, sig), `round ${i}`);
    assert.equal(xeddsaVerify(pub, enc.encode(`announcement ${i + 1}`), sig), false);
    const other = x25519.getPublicKey(x25519.utils.randomSecretKey());
    assert.equal(xeddsaVerify(other, msg, sig), false);
    const bad = sig.slice();
    bad[i % 64] ^= 1;
    assert.equal(xeddsaVerify(pub, msg, bad), false);
  }
});

Deno.test("xeddsa: malformed keys and signatures are refused, not thrown", () => {
  const priv = x25519.utils.randomSecretKey();
  const msg = enc.encode("m");
  const sig = xeddsaSign(priv, msg);
  assert.equal(xeddsaVerify(new Uint8Array(31), msg, sig), false);
  assert.equal(xeddsaVerify(x25519.getPublicKey(priv), msg, sig.subarray(0, 63)), false);
  // u = p - 1 has no Edwards point.
  const pMinus1 = new Uint8Array(32).fill(0xff);
  pMinus1[0] = 0xec;
  pMinus1[31] = 0x7f;
  assert.equal(edwardsOfMontgomery(pMinus1), null);
  assert.equal(xeddsaVerify(pMinus1, msg, sig), false);
  assert.throws(() => xeddsaSign(new Uint8Array(16), msg), RangeError);
});
