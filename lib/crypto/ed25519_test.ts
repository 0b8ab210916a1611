import assert from "node:assert/strict";
import { ed25519Signer, ed25519Verifier } from "./ed25519.ts";
import * as page from "../browser/platform/ed25519.ts";

const msg = new TextEncoder().encode("weft carried push");

for (
  const [name, impl] of [["node:crypto", { ed25519Signer, ed25519Verifier }], [
    "the browser's",
    page,
  ]] as const
) {
  Deno.test(`ed25519 (${name}): a signature checks under its key only, and not over other bytes`, () => {
    const s = impl.ed25519Signer();
    assert.equal(s.publicKey.length, 32);
    const sig = s.sign(msg);
    assert.equal(sig.length, 64);
    const v = impl.ed25519Verifier(s.publicKey)!;
    assert.ok(v.verify(msg, sig));
    const other = msg.slice();
    other[0] ^= 1;
    assert.equal(v.verify(other, sig), false);
    const bad = sig.slice();
    bad[10] ^= 1;
    assert.equal(v.verify(msg, bad), false);
    assert.equal(v.verify(msg, sig.subarray(0, 63)), false);
    assert.equal(impl.ed25519Verifier(impl.ed25519Signer().publicKey)!.verify(msg, sig), false);
    assert.equal(impl.ed25519Verifier(new Uint8Array(31)), null);
  });
}

Deno.test("ed25519: node:crypto's and the browser's signatures check under each other", () => {
  const a = ed25519Signer();
  const b = page.ed25519Signer();
  assert.ok(page.ed25519Verifier(a.publicKey)!.verify(msg, a.sign(msg)));
  assert.ok(ed25519Verifier(b.publicKey)!.verify(msg, b.sign(msg)));
});
