import assert from "node:assert/strict";
import { asciiLower, canonicalName, labelText, nameToLabels } from "./names.ts";

const bytes = (labels: Uint8Array[]) => labels.map((l) => Array.from(l));

Deno.test("labelText: printable ASCII as is; dot and backslash escaped; the rest as \\DDD", () => {
  const buf = Uint8Array.of(0x41, 0x2e, 0x5c, 0x20, 0x00, 0x09, 0x7f, 0xff, 0x7e, 0x21);
  assert.equal(labelText(buf, 0, buf.length), "A\\.\\\\\\032\\000\\009\\127\\255~!");
  // Only the given range is read.
  assert.equal(labelText(Uint8Array.of(0x78, 0x61, 0x62, 0x79), 1, 2), "ab");
  assert.equal(labelText(buf, 3, 0), "");
});

Deno.test("labelText and nameToLabels are inverses for every byte value", () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  for (let start = 0; start < 256; start += 32) {
    const text = labelText(all, start, 32);
    assert.deepEqual(bytes(nameToLabels(text)), [Array.from(all.subarray(start, start + 32))]);
  }
});

Deno.test("asciiLower lowers A-Z and leaves everything else alone", () => {
  assert.equal(asciiLower("Web-01.Overlay.LOCAL"), "web-01.overlay.local");
  assert.equal(asciiLower("already.lower"), "already.lower");
  assert.equal(asciiLower("\\065B"), "\\065b"); // an escaped 'A' stays escaped
  assert.equal(asciiLower(""), "");
});

Deno.test({
  name: "asciiLower leaves non-ASCII letters unchanged even beside ASCII capitals",
  fn: () => {
    assert.equal(asciiLower("ÀB"), "Àb");
    assert.equal(asciiLower("A\u212a"), "a\u212a");
  },
});

Deno.test("canonicalName: lower case, one trailing dot removed unless it is escaped", () => {
  assert.equal(canonicalName("Host.Overlay.Local."), "host.overlay.local");
  assert.equal(canonicalName("host.overlay.local"), "host.overlay.local");
  assert.equal(canonicalName("."), "");
  assert.equal(canonicalName(""), "");
  // a\. : the dot belongs to the label; a\\. : an escaped backslash, then the root dot.
  assert.equal(canonicalName("a\\."), "a\\.");
  assert.equal(canonicalName("a\\\\."), "a\\\\");
  assert.equal(canonicalName("a\\\\\\."), "a\\\\\\.");
});

Deno.test("nameToLabels: root, relative and absolute names", () => {
  assert.deepEqual(nameToLabels(""), []);
  assert.deepEqual(nameToLabels("."), []);
  const enc = new TextEncoder();
  assert.deepEqual(bytes(nameToLabels("a.bc")), [[0x61], [0x62, 0x63]]);
  assert.deepEqual(nameToLabels("a.bc."), nameToLabels("a.bc"));
  // Case is kept: only comparisons fold it.
  assert.deepEqual(bytes(nameToLabels("AbC")), [Array.from(enc.encode("AbC"))]);
});

Deno.test("nameToLabels: escapes and UTF-8", () => {
  assert.deepEqual(bytes(nameToLabels("\\a\\.\\\\")), [[0x61, 0x2e, 0x5c]]);
  assert.deepEqual(bytes(nameToLabels("\\000\\255\\046")), [[0, 255, 0x2e]]);
  assert.deepEqual(bytes(nameToLabels("é")), [[0xc3, 0xa9]]);
  // A character outside the BMP (a surrogate pair in JS) is its 4 UTF-8 bytes, once.
  assert.deepEqual(bytes(nameToLabels("x\u{1f600}y")), [[0x78, 0xf0, 0x9f, 0x98, 0x80, 0x79]]);
});

Deno.test("nameToLabels: malformed names throw RangeError", () => {
  for (
    const bad of [
      ".a", // empty first label
      "a..b",
      "..",
      "a\\", // dangling escape
      "a\\25", // two digits
      "a\\2x5",
      "a\\256", // over 255
      "x".repeat(64),
    ]
  ) {
    assert.throws(() => nameToLabels(bad), RangeError, JSON.stringify(bad));
  }
  // A 63-byte label is the most; escapes count as the byte they stand for.
  assert.equal(nameToLabels("\\255".repeat(63))[0].length, 63);
  assert.throws(() => nameToLabels("\\255".repeat(64)), RangeError);
  // 255 bytes in wire form is the most: 3 x (1+63) + (1+61) + root = 255.
  const max = ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61)].join(".");
  assert.equal(nameToLabels(max).length, 4);
  assert.throws(() => nameToLabels(max + "d"), RangeError);
  assert.throws(() => nameToLabels(max + ".e"), RangeError);
});
