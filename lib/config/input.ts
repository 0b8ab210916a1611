/**
 * Option values as read from either source, the YAML file or the command line, as one tree
 * ({@link Input}) that keeps what is needed to say where a bad value came from: the path of the
 * value (`services[1].port`, `--listen-port`) and the file and line.
 * @module
 */

import { ConfigError } from "./config_error.ts";
import { clip, quote } from "../text/quote.ts";

/** Where a value was written: the file and 1-based line; empty for a flag. */
export interface Where {
  /** The configuration file. */
  file?: string;
  /** The line in it. */
  line?: number;
}

/** What every input carries. */
export interface InputBase {
  /** What the message calls the value: `listen-port`, `services[1].port`, `--listen-port`. */
  path: string;
  /** Where it was written. */
  where: Where;
  /** Whether it came from the command line (text the CLI may not have parsed yet). */
  fromFlag: boolean;
}

/** One value: a string, number, boolean or null as YAML or commander made it. */
export interface ScalarInput extends InputBase {
  /** The tag. */
  kind: "scalar";
  /** The value. */
  value: unknown;
  /** The text as written in YAML, before it became a number or boolean. */
  text?: string;
}

/** A list. */
export interface SeqInput extends InputBase {
  /** The tag. */
  kind: "seq";
  /** The items, in order. */
  items: Input[];
}

/** One key of a mapping and its value. */
export interface MapEntry {
  /** The key as written. */
  key: string;
  /** Where the key was written. */
  where: Where;
  /** The value. */
  value: Input;
}

/** A mapping, its keys in the order written. */
export interface MapInput extends InputBase {
  /** The tag. */
  kind: "map";
  /** The entries. */
  entries: MapEntry[];
}

/** A value from the file or a flag, with its name and place for messages. */
export type Input = ScalarInput | SeqInput | MapInput;

/** Throws a ConfigError `path: reason` at the input's place. */
export function fail(input: Input, reason: string): never {
  throw new ConfigError(`${input.path}: ${reason}`, input.where);
}

/** The input as an error message shows it: quoted and cut short, or its kind. */
export function describe(input: Input): string {
  if (input.kind === "seq") return "a list";
  if (input.kind === "map") return "a mapping";
  const v = input.value;
  if (v === null || v === undefined) return "no value";
  // A flag's text is shown as typed unless quotes are needed to see where it starts and ends.
  if (typeof v === "string") return input.fromFlag && /^\S+$/.test(v) ? clip(v) : quote(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return v instanceof Uint8Array ? "binary data" : `a value of type ${typeof v}`;
}

/** Longest text one option value may have, from a flag or the file. */
export const MAX_VALUE_CHARS = 4096;

/** A commander value (text, list, plain object) as an {@link Input} named `path`. */
export function flagInput(value: unknown, path: string): Input {
  const base = { path, where: {}, fromFlag: true };
  if (Array.isArray(value)) {
    return {
      ...base,
      kind: "seq",
      items: value.map((v, i) => flagInput(v, `${path}[${i}]`)),
    };
  }
  if (
    typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype
  ) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]): MapEntry => ({ key: k, where: {}, value: flagInput(v, `${path}.${k}`) }));
    return { ...base, kind: "map", entries };
  }
  tooLong(value, path, base.where);
  return { ...base, kind: "scalar", value };
}

/** Refuses a text value over {@link MAX_VALUE_CHARS} before anything parses or echoes it. */
export function tooLong(value: unknown, path: string, where: Where): void {
  if (typeof value === "string" && value.length > MAX_VALUE_CHARS) {
    throw new ConfigError(
      `${path}: the value is ${value.length} characters long (at most ${MAX_VALUE_CHARS})`,
      where,
    );
  }
}
