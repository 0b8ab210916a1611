/**
 * aliasBomb on parsed documents directly; agent_config_test.ts checks that a configuration file
 * with a bomb in `policy:` is refused at the right line.
 */
import assert from "node:assert/strict";
import { type Document, isAlias, LineCounter, parseDocument } from "npm:yaml@^2.9.1";
import { aliasBomb, MAX_ALIAS_EXPANSION } from "./yaml_aliases.ts";

function doc(text: string): Document {
  return parseDocument(text);
}

/** `levels` lines, each a list of `width` aliases to the line before. */
function laughs(levels: number, width = 9): string {
  const lines = [`x0: &a0 [${Array(width).fill("lol").join(", ")}]`];
  for (let i = 1; i <= levels; i++) {
    lines.push(`x${i}: &a${i} [${Array(width).fill(`*a${i - 1}`).join(", ")}]`);
  }
  return lines.join("\n") + "\n";
}

Deno.test("aliasBomb: no aliases, or a few, is no bomb", () => {
  assert.equal(MAX_ALIAS_EXPANSION, 10_000);
  for (const text of ["", "a: 1\nb: [1, 2, {c: d}]\n", "a: &x {k: v}\nb: *x\nc: *x\n", "- ~\n"]) {
    const d = doc(text);
    assert.equal(aliasBomb(d.contents, d), null, JSON.stringify(text));
  }
  assert.equal(aliasBomb(null, doc("")), null);
  assert.equal(aliasBomb(undefined, doc("")), null);
});

Deno.test("aliasBomb: counts every value reached through an alias, keys included", () => {
  // *x copies a map of one pair: the map, its key and its value, so 3 values per alias.
  const d = doc("a: &x {k: v}\nb: *x\nc: *x\n");
  assert.equal(aliasBomb(d.contents, d, 6), null);
  const over = aliasBomb(d.contents, d, 5);
  assert.ok(over !== null);
  assert.ok(isAlias(over), "the alias is named, not a value inside its target");
  const offsets = ["a: &x {k: v}\nb: ".length, "a: &x {k: v}\nb: *x\nc: ".length];
  assert.ok(offsets.includes(over.range![0]), `offset ${over.range![0]}`);
  // A scalar alias is one value.
  const s = doc("a: &s 1\nb: [*s, *s, *s]\n");
  assert.equal(aliasBomb(s.contents, s, 3), null);
  assert.ok(aliasBomb(s.contents, s, 2) !== null);
});

Deno.test("aliasBomb: the billion laughs is caught at the outermost alias, in bounded steps", () => {
  const text = laughs(9); // 9^9 values, were they expanded
  const lc = new LineCounter();
  const d = parseDocument(text, { lineCounter: lc });
  const bomb = aliasBomb(d.contents, d);
  assert.ok(bomb !== null && isAlias(bomb));
  const line = lc.linePos(bomb.range![0]).line;
  assert.ok(line >= 2 && line <= 10, `line ${line}`);
  // Named is the alias the text wrote where it is walked from, not one inside the copies.
  const boom = parseDocument(`${laughs(4)}boom: *a4\n`);
  const root = boom.get("boom", true);
  const at = aliasBomb(root, boom, 5000);
  assert.equal(at, root);
  // *a4 copies 9^4 + 9^3 + 9^2 + 9 + 1 values (and the aliases on the way): under 100,000.
  assert.equal(aliasBomb(root, boom, 100_000), null);
  // A bomb's expansion under the bound is fine; a smaller bound catches it sooner.
  const small = doc(laughs(3));
  assert.equal(aliasBomb(small.contents, small), null);
  const tight = aliasBomb(small.contents, small, 50);
  assert.ok(tight !== null);
});

Deno.test("aliasBomb: a subtree is checked on its own", () => {
  const d = doc(`safe: {a: 1}\n${laughs(8).replace(/^/gm, "").trimEnd()}\n`);
  const safe = d.get("safe", true);
  assert.equal(aliasBomb(safe, d), null);
  assert.ok(aliasBomb(d.contents, d) !== null);
});
