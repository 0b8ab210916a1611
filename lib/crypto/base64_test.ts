import assert from "node:assert/strict";
import { base64Head24, decodeBase64, encodeBase64 } from "./base64.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

const enc = new TextEncoder();

// RFC 4648 §10.
const VECTORS: [string, string][] = [
  ["", ""],
  ["f", "Zg=="],
  ["fo", "Zm8="],
  ["foo", "Zm9v"],
  ["foob", "Zm9vYg=="],
  ["fooba", "Zm9vYmE="],
  ["foobar", "Zm9vYmFy"],
];

Deno.test("RFC 4648 test vectors, both ways", () => {
  for (const [plain, b64] of VECTORS) {
    assert.equal(encodeBase64(enc.encode(plain)), b64);
    assert.deepEqual(decodeBase64(b64), enc.encode(plain));
  }
});

Deno.test("every byte value, and inputs longer than one 32 KiB chunk, round-trip", () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.deepEqual(decodeBase64(encodeBase64(all)), all);
  const rand = seededRandom(99);
  for (const n of [0x7fff, 0x8000, 0x8001, 3 * 0x8000 + 5]) {
    const data = Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
    const text = encodeBase64(data);
    assert.equal(text.length, Math.ceil(n / 3) * 4);
    assert.deepEqual(decodeBase64(text), data);
  }
  assert.equal(encodeBase64(Uint8Array.of(0xfb, 0xff)), "+/8=");
});

Deno.test("decoding is strict: anything but padded standard base64 is null", () => {
  for (
    const bad of [
      "Zg", // missing padding
      "Zg=", // short padding
      "Zg===",
      "Zm9v\n", // whitespace
      " Zm9v",
      "Zm 9v",
      "-_8=", // URL-safe alphabet
      "Zm9v=",
      "=Zm9",
      "Z",
      "Zm9vY",
      "Zm9v!A==",
    ]
  ) {
    assert.equal(decodeBase64(bad), null, JSON.stringify(bad));
  }
});

Deno.test("base64Head24: the first three bytes of a key from its first four characters, as decoding says", () => {
  for (let i = 0; i < 200; i++) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const text = encodeBase64(bytes);
    assert.equal(base64Head24(text), bytes[0] << 16 | bytes[1] << 8 | bytes[2]);
  }
  assert.equal(base64Head24("////"), 0xffffff);
  assert.equal(base64Head24("AAAA"), 0);
  for (const bad of ["", "AAA", "AA=A", "AA-A", "AAé=", "A A="]) {
    assert.equal(base64Head24(bad), -1, bad);
  }
});
