import assert from "node:assert/strict";
import {
  CARRIED,
  PUSH_KEY_ID_BYTES,
  pushKeyOf,
  PushSigner,
  unpackCarried,
  verifyCarried,
} from "./carried.ts";
import { encodeBase64 } from "../../crypto/base64.ts";

const enc = new TextEncoder();
const PART = enc.encode('{"t":"delta","from":1,"v":2}');
// Where the policy version, the signature and the part start in a carried datagram.
const PV_AT = 1 + PUSH_KEY_ID_BYTES;
const SIG_AT = PV_AT + 4;
const PART_AT = SIG_AT + 64;

function flipped(bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice();
  out[at] ^= 0x01;
  return out;
}

Deno.test("carried: a sealed part unpacks as it was made and verifies under its signer's key", () => {
  const signer = new PushSigner();
  const bytes = signer.seal(PART, 7);
  const c = unpackCarried(bytes)!;
  assert.ok(c);
  assert.equal(c.keyId, signer.keyId);
  assert.equal(c.pv, 7);
  assert.deepEqual(c.part, PART);
  assert.equal(c.bytes, bytes);
  assert.equal(c.sig.length, 64);
  const key = pushKeyOf(signer.publicKey)!;
  assert.equal(key.id, signer.keyId);
  assert.equal(key.text, signer.publicKey);
  assert.equal(verifyCarried(key, c), true);
});

Deno.test("carried: a flipped byte in the part, the policy version or the signature fails; another key fails", () => {
  const signer = new PushSigner();
  const key = pushKeyOf(signer.publicKey)!;
  const bytes = signer.seal(PART, 3);
  for (const [what, at] of [["part", PART_AT + 5], ["pv", PV_AT + 3], ["sig", SIG_AT + 10]]) {
    const c = unpackCarried(flipped(bytes, at as number))!;
    assert.ok(c, what as string);
    assert.equal(verifyCarried(key, c), false, what as string);
  }
  // The last byte of the part, too (the signature covers it all).
  assert.equal(verifyCarried(key, unpackCarried(flipped(bytes, bytes.length - 1))!), false);
  // Another signer: its key does not hold for these bytes (by id, and by signature under a
  // datagram that claims its id).
  const other = new PushSigner();
  const otherKey = pushKeyOf(other.publicKey)!;
  assert.equal(verifyCarried(otherKey, unpackCarried(bytes)!), false);
  const claimed = bytes.slice();
  claimed.set(unpackCarried(other.seal(PART, 3))!.bytes.subarray(1, PV_AT), 1);
  const c = unpackCarried(claimed)!;
  assert.equal(c.keyId, other.keyId);
  assert.equal(verifyCarried(otherKey, c), false);
  // A part another signer made verifies under its own key only.
  assert.equal(verifyCarried(otherKey, unpackCarried(other.seal(PART, 3))!), true);
});

Deno.test("carried: unpackCarried takes only its marker and a head with a part", () => {
  const bytes = new PushSigner().seal(PART, 0);
  assert.equal(bytes[0], CARRIED);
  for (const marker of [0x00, 0x01, 0x02, 0x03, 0x05, 0x7b]) {
    const other = bytes.slice();
    other[0] = marker;
    assert.equal(unpackCarried(other), null, `marker ${marker}`);
  }
  // The head alone (no part), and shorter: none.
  assert.equal(unpackCarried(bytes.subarray(0, PART_AT)), null);
  assert.equal(unpackCarried(bytes.subarray(0, 10)), null);
  assert.equal(unpackCarried(new Uint8Array([CARRIED])), null);
  assert.equal(unpackCarried(new Uint8Array(0)), null);
  // One byte of part is a part.
  assert.ok(unpackCarried(bytes.subarray(0, PART_AT + 1)));
});

Deno.test("carried: pushKeyOf takes base64 of 32 bytes only", () => {
  const good = new PushSigner().publicKey;
  assert.ok(pushKeyOf(good));
  for (const bad of [undefined, null, 42, {}, [good], new Uint8Array(32)]) {
    assert.equal(pushKeyOf(bad), null, String(bad));
  }
  // Wrong lengths: 31 and 33 bytes, a cut string, an empty one.
  assert.equal(pushKeyOf(encodeBase64(new Uint8Array(31).fill(1))), null);
  assert.equal(pushKeyOf(encodeBase64(new Uint8Array(33).fill(1))), null);
  assert.equal(pushKeyOf(good.slice(0, 43)), null);
  assert.equal(pushKeyOf(""), null);
  // Not base64, at the right length.
  assert.equal(pushKeyOf("!".repeat(44)), null);
  assert.equal(pushKeyOf(good.slice(0, 40) + "*~*="), null);
});
