import assert from "node:assert/strict";
import { clip, quote } from "./quote.ts";

Deno.test("quote: short text is JSON-quoted whole, escapes included", () => {
  assert.equal(quote("abc"), '"abc"');
  assert.equal(quote(""), '""');
  assert.equal(quote('a"b\nc'), '"a\\"b\\nc"');
  const exact = "x".repeat(64);
  assert.equal(quote(exact), JSON.stringify(exact));
});

Deno.test("quote: long text is cut to 64 characters and its length said", () => {
  const long = "y".repeat(65);
  assert.equal(quote(long), `"${"y".repeat(64)}"... (65 characters)`);
  const huge = "z".repeat(1_000_000);
  const q = quote(huge);
  assert.ok(q.length < 100, `${q.length} characters`);
  assert.match(q, /\.\.\. \(1000000 characters\)$/);
  assert.equal(quote("abcdef", 3), '"abc"... (6 characters)');
  assert.equal(quote("abc", 3), '"abc"');
});

Deno.test("clip: the same cut, unquoted and unescaped", () => {
  assert.equal(clip('a"b'), 'a"b');
  assert.equal(clip("x".repeat(64)), "x".repeat(64));
  assert.equal(clip("x".repeat(70)), `${"x".repeat(64)}... (70 characters)`);
  assert.equal(clip("abcdef", 2), "ab... (6 characters)");
  assert.equal(clip("", 0), "");
});
