/**
 * The small typed parsers option values go through: each takes an {@link Input} (from the file
 * or a flag) and returns a typed value, or throws a ConfigError naming the value and where it
 * came from. Generic ones here; weft's own kinds (networks, endpoints, labels, services) are in
 * `values.ts`.
 * @module
 */

import { ConfigError } from "./config_error.ts";
import { describe, fail, type Input } from "./input.ts";
import type { SystemInfo } from "./system.ts";
import { quote } from "../text/quote.ts";
import { parseDuration } from "../text/duration.ts";
import { didYouMean } from "../text/did_you_mean.ts";

/** What a parser may need besides the value. */
export interface ParseContext {
  /** Relative paths are resolved against this directory. */
  baseDir: string;
  /** Machine facts (`~` needs $HOME). */
  sys: SystemInfo;
}

/** Turns an input into a typed value or throws a ConfigError saying where and why. */
export type Parser<T> = (input: Input, ctx: ParseContext) => T;

/** `true` or `false` (YAML booleans; commander gives switches as booleans). */
export function boolean(input: Input): boolean {
  if (input.kind === "scalar" && typeof input.value === "boolean") return input.value;
  return fail(input, `expected true or false, got ${describe(input)}`);
}

/** An integer from `min` to `max`; a flag's decimal text counts. */
export function integer(min: number, max: number): Parser<number> {
  return (input) => {
    if (input.kind === "scalar") {
      let v = input.value;
      // Flags arrive as text unless the CLI already parsed them.
      if (input.fromFlag && typeof v === "string" && /^\s*[0-9]+\s*$/.test(v)) v = Number(v);
      if (typeof v === "number" && Number.isInteger(v) && v >= min && v <= max) return v;
    }
    return fail(input, `expected an integer from ${min} to ${max}, got ${describe(input)}`);
  };
}

/** `auto` (any case), or an integer from `min` to `max`. */
export function integerOrAuto(min: number, max: number): Parser<number | "auto"> {
  const int = integer(min, max);
  return (input, ctx) => {
    if (
      input.kind === "scalar" && typeof input.value === "string" &&
      input.value.trim().toLowerCase() === "auto"
    ) {
      return "auto";
    }
    if (input.kind === "scalar" && typeof input.value === "number") return int(input, ctx);
    if (input.kind === "scalar" && input.fromFlag && /^\s*[0-9]+\s*$/.test(String(input.value))) {
      return int(input, ctx);
    }
    return fail(input, `expected auto or an integer from ${min} to ${max}, got ${describe(input)}`);
  };
}

/** Any string; a YAML number or boolean is refused with a hint to quote it. */
export function string(input: Input): string {
  if (input.kind === "scalar" && typeof input.value === "string") return input.value;
  const hint = input.kind === "scalar" &&
      (typeof input.value === "number" || typeof input.value === "boolean")
    ? " (put it in quotes to make it a string)"
    : "";
  return fail(input, `expected a string, got ${describe(input)}${hint}`);
}

/** A string option whose text `convert` checks and normalises, throwing an Error if bad. */
export function text<T>(convert: (s: string, input: Input, ctx: ParseContext) => T): Parser<T> {
  return (input, ctx) => {
    const s = string(input);
    try {
      return convert(s, input, ctx);
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      return fail(input, (e as Error).message);
    }
  };
}

/** A list whose every item passes `item`. */
export function listOf<T>(item: Parser<T>): Parser<T[]> {
  return (input, ctx) => {
    if (input.kind !== "seq") return fail(input, `expected a list, got ${describe(input)}`);
    return input.items.map((i) => item(i, ctx));
  };
}

/**
 * A duration in ms from `500ms`, `5s`, `1m`, `1h` or a bare number of seconds (YAML `5`), kept
 * within `min`..`max` ms.
 */
export function duration(minMs: number, maxMs: number): Parser<number> {
  return (input) => {
    let ms = NaN;
    // YAML reads `5` as a number: seconds, as a bare number is in text.
    if (input.kind === "scalar" && typeof input.value === "number") ms = input.value * 1000;
    if (input.kind === "scalar" && typeof input.value === "string") {
      try {
        ms = parseDuration(input.value);
      } catch {
        // Said below, with the range.
      }
    }
    if (ms >= minMs && ms <= maxMs) return ms;
    return fail(
      input,
      `expected a duration from ${minMs} ms to ${maxMs / 1000} s, as 500ms, 5s or 1m, ` +
        `got ${describe(input)}`,
    );
  };
}

/** One of `names`, in any case and with spaces around; stored lowercase. */
export function oneOf<T extends string>(names: readonly T[]): Parser<T> {
  return text((s) => {
    const v = s.trim().toLowerCase();
    if ((names as readonly string[]).includes(v)) return v as T;
    throw new Error(`expected one of ${names.join(", ")}, got ${quote(s)}`);
  });
}

/** The message for an unknown key at `path`, with the closest known key as a guess. */
export function unknownKey(
  path: string | undefined,
  key: string,
  known: readonly string[],
): string {
  const guess = didYouMean(key, known);
  const hint = guess === undefined ? "" : ` (did you mean ${JSON.stringify(guess)}?)`;
  return `${path === undefined ? "" : `${path}: `}unknown key ${JSON.stringify(key)}${hint}`;
}
