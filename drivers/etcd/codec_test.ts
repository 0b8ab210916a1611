import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { StoreError } from "../../lib/store/kv.ts";
import { b64, id, keyValue, num, prefixEnd, unb64 } from "./codec.ts";

const bytes = (s: string) => [...Buffer.from(s, "base64")];

Deno.test("prefixEnd is the first key after every key with the prefix", () => {
  assert.deepEqual(bytes(prefixEnd("/weft/")), [...new TextEncoder().encode("/weft0")]);
  assert.deepEqual(bytes(prefixEnd("a\u00ff")), [0x61, 0xc3, 0xc0]); // UTF-8 c3 bf: bf + 1
  assert.deepEqual(bytes(prefixEnd("")), [0]);
});

Deno.test("the gateway's fields decode, and bad ones are protocol errors", () => {
  assert.equal(unb64(b64("β/x"), "k"), "β/x");
  assert.equal(unb64(undefined, "k"), "");
  assert.equal(num("12", "n"), 12);
  assert.equal(num(undefined, "n"), 0);
  assert.equal(id("7587862072183582220", "l"), "7587862072183582220");
  assert.equal(id("0", "l"), "");
  assert.deepEqual(keyValue({ key: b64("k"), mod_revision: "3", version: "1" }), {
    key: "k",
    value: "",
    createRevision: 0,
    modRevision: 3,
    version: 1,
    lease: "",
  });
  const isProtocol = (e: unknown) => e instanceof StoreError && e.kind === "protocol";
  assert.throws(() => num("1e3", "n"), isProtocol);
  assert.throws(() => num("99999999999999999", "n"), isProtocol);
  assert.throws(() => unb64("not base64!", "k"), isProtocol);
  assert.throws(() => keyValue([]), isProtocol);
  assert.throws(() => id({}, "l"), isProtocol);
});
