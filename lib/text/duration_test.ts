import assert from "node:assert/strict";
import { DURATION_UNITS_MS, parseDuration } from "./duration.ts";

Deno.test("duration: units, bare seconds, fractions, spaces", () => {
  const cases: [string, number][] = [
    ["500ms", 500],
    ["90s", 90_000],
    ["15m", 900_000],
    ["24h", 86_400_000],
    ["7d", 604_800_000],
    ["5", 5000],
    ["0.5s", 500],
    [" 5 s ", 5000],
    ["0s", 0],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
  assert.equal(DURATION_UNITS_MS.d, 24 * DURATION_UNITS_MS.h);
});

Deno.test("duration: anything else is refused, naming the text cut short", () => {
  for (
    const bad of ["", "s", "5x", "2 days", "-1s", "1e3s", "1.s", ".5s", "5s5", "1h30m", "soon"]
  ) {
    assert.throws(() => parseDuration(bad), /bad duration/, bad);
  }
  const e = (() => {
    try {
      parseDuration("9".repeat(5000) + "x");
    } catch (e) {
      return e as Error;
    }
  })()!;
  assert.ok(e.message.length < 200, e.message.slice(0, 200));
});

Deno.test("duration: huge numbers are Infinity, for the caller's range check", () => {
  assert.equal(parseDuration("1".repeat(400) + "d"), Infinity);
});
