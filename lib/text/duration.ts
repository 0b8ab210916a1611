/**
 * Durations as people write them (`500ms`, `90s`, `15m`, `24h`, `7d`): the one parser, for the
 * configuration (`probe-interval`) and the control API (a token's `ttl`). Callers bound the
 * value and say what they accept in their own words.
 * @module
 */

import { quote } from "./quote.ts";

/** The length of each unit in milliseconds. */
export const DURATION_UNITS_MS = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
} as const;

const DURATION_RE = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/;

/**
 * Milliseconds from a number and an optional unit (`ms`, `s`, `m`, `h`, `d`; none means
 * seconds), a fraction allowed (`0.5s`). Throws an Error naming the text when it is none.
 * Huge numbers give Infinity: callers check the range.
 */
export function parseDuration(text: string): number {
  const m = DURATION_RE.exec(text);
  if (!m) {
    throw new Error(`bad duration ${quote(text)}: use e.g. 500ms, 90s, 15m, 24h or 7d`);
  }
  return Number(m[1]) * DURATION_UNITS_MS[(m[2] ?? "s") as keyof typeof DURATION_UNITS_MS];
}
