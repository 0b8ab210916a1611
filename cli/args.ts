/**
 * Parsers of option and argument values, for commander: integers in a range, protocol timers,
 * repeatable options.
 * @module
 */

import { InvalidArgumentError } from "npm:@commander-js/extra-typings@^15.1.0";
import type { ProtocolTimers } from "../lib/device/mod.ts";
import { UsageError } from "./errors.ts";
import { parseLabel } from "./internal_client.ts";

/** A parser of an integer from `min` to `max`. */
export function intArg(min: number, max: number): (v: string) => number {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}

/** `--timer NAME=MS`, added to the timers given before. */
export function timerArg(v: string, prev: Partial<ProtocolTimers> = {}): Partial<ProtocolTimers> {
  const m = /^([a-zA-Z]+)=(\d+)$/.exec(v);
  const known = [
    "rekeyAfterTime",
    "rejectAfterTime",
    "rekeyAttemptTime",
    "rekeyTimeout",
    "keepaliveTimeout",
    "cookieRefreshTime",
    "rekeyJitter",
  ];
  if (!m || !known.includes(m[1])) {
    throw new InvalidArgumentError(
      `expected NAME=MILLISECONDS with NAME one of ${known.join(", ")}`,
    );
  }
  return { ...prev, [m[1]]: Number(m[2]) };
}

/** A repeatable option: each value added to those before. */
export function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

/**
 * The labels of repeated `--label k=v` flags; a key given twice is a mistake, not "the last one
 * wins" (as the agent's own --label). Throws a UsageError naming the flag.
 */
export function labelFlags(list: readonly string[] | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const l of list ?? []) {
    let p: ReturnType<typeof parseLabel>;
    try {
      p = parseLabel(l);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (Object.hasOwn(labels, p.key)) {
      throw new UsageError(`--label: label ${JSON.stringify(p.key)} is given twice`);
    }
    labels[p.key] = p.value;
  }
  return labels;
}
