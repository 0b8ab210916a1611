/**
 * What is specific to the libsodium backend; the RFC 8439 / RFC 7748 vectors, tampering and
 * cross-backend agreement are in select_test.ts for every backend (it also checks the library
 * loads in the test image).
 */
import assert from "node:assert/strict";
import { loadWithoutFfi } from "./testing/without_ffi.ts";
import { loadSodium } from "./sodium.ts";
import { nobleAead } from "./noble.ts";

const sodium = loadSodium();
const KEY = Uint8Array.from({ length: 32 }, (_, i) => i * 3);

Deno.test("loadSodium is cached: the same suite object every call", () => {
  assert.equal(loadSodium(), sodium);
  if (sodium !== null) {
    assert.equal(sodium.aead.name, "sodium");
    assert.equal(sodium.dh.name, "sodium");
  }
});

Deno.test("without FFI permission loadSodium is null, not an error", async () => {
  const url = new URL("./sodium.ts", import.meta.url).href;
  assert.equal(await loadWithoutFfi(url, "loadSodium"), "null");
});

Deno.test({
  name: "explicit nonces must be 12 bytes",
  ignore: sodium === null,
  fn: () => {
    const k = sodium!.aead.key(KEY);
    const pt = new Uint8Array(8);
    assert.throws(() => k.sealWithNonce(new Uint8Array(8), pt, new Uint8Array(24)), RangeError);
    assert.throws(() => k.openWithNonce(new Uint8Array(24), new Uint8Array(24), pt), RangeError);
  },
});

Deno.test({
  name: "destroy wipes the key: it then seals as the all-zero key would",
  ignore: sodium === null,
  fn: () => {
    const pt = Uint8Array.of(9, 8, 7);
    const sealWith = (k: { seal(c: number, s: Uint8Array, d: Uint8Array): void }) => {
      const out = new Uint8Array(19);
      k.seal(5, pt, out);
      return out;
    };
    const k = sodium!.aead.key(KEY);
    const before = sealWith(k);
    assert.deepEqual(before, sealWith(nobleAead.key(KEY)));
    k.destroy();
    assert.deepEqual(sealWith(k), sealWith(nobleAead.key(new Uint8Array(32))));
    assert.equal(KEY[1], 3);
  },
});

Deno.test({
  name: "a forged packet opened apart leaves dst zeroed, never partial plaintext",
  ignore: sodium === null,
  fn: () => {
    const k = sodium!.aead.key(KEY);
    const pt = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
    const sealed = new Uint8Array(80);
    k.seal(1, pt, sealed);
    sealed[70] ^= 1;
    const dst = new Uint8Array(64).fill(0xaa);
    assert.equal(k.open(1, sealed, dst), false);
    assert.ok(dst.every((b) => b === 0));
    // A wrong-size destination is refused before the library is called.
    const untouched = new Uint8Array(63).fill(0xaa);
    assert.equal(k.open(1, sealed, untouched), false);
    assert.ok(untouched.every((b) => b === 0xaa));
  },
});

Deno.test({
  name: "X25519: generated keys are clamped; argument sizes are checked",
  ignore: sodium === null,
  fn: () => {
    const dh = sodium!.dh;
    for (let i = 0; i < 16; i++) {
      const k = dh.generatePrivate();
      assert.equal(k[0] & 7, 0);
      assert.equal(k[31] & 0xc0, 0x40);
    }
    assert.throws(() => dh.publicKey(new Uint8Array(31)), /private key must be 32 bytes/);
    assert.throws(() => dh.shared(dh.generatePrivate(), new Uint8Array(0)), /public key/);
  },
});
