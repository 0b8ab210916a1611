import assert from "node:assert/strict";
import { decodeLanKey, LAN_KEY_SIZE, lanKeyId, newLanKey } from "./lan_key.ts";
import { encodeBase64 } from "../../crypto/base64.ts";

Deno.test("lan key: fresh keys are 32 random bytes in base64", () => {
  const a = newLanKey();
  const b = newLanKey();
  assert.notEqual(a, b);
  assert.equal(decodeLanKey(a)!.length, LAN_KEY_SIZE);
});

Deno.test("lan key: only 32 bytes of base64 decode", () => {
  assert.equal(decodeLanKey(encodeBase64(new Uint8Array(31))), null);
  assert.equal(decodeLanKey(encodeBase64(new Uint8Array(33))), null);
  assert.equal(decodeLanKey("not base64!"), null);
  assert.equal(decodeLanKey(undefined), null);
  assert.equal(decodeLanKey(32), null);
  assert.deepEqual(
    decodeLanKey(encodeBase64(new Uint8Array(32).fill(7))),
    new Uint8Array(32).fill(7),
  );
});

Deno.test("lan key: its id is 8 hex digits, the same for the same key, and tells keys apart", () => {
  const k = decodeLanKey(newLanKey())!;
  assert.match(lanKeyId(k), /^[0-9a-f]{8}$/);
  assert.equal(lanKeyId(k), lanKeyId(k.slice()));
  assert.notEqual(lanKeyId(k), lanKeyId(decodeLanKey(newLanKey())!));
});
