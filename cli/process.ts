/**
 * What the commands need of the process: standard input read with a ceiling, and running until
 * a signal.
 * @module
 */

import { InputTooLargeError, readUpTo } from "../lib/config/mod.ts";
import { UsageError } from "./errors.ts";

/**
 * Standard input as text, refused past `max` bytes (`< /dev/zero` must not fill memory): by
 * `tooLarge()` when given, else as a usage error saying what is read (`what`, in the singular:
 * "a datagram") is at most `max` bytes.
 */
export async function readStdin(
  max: number,
  what: string,
  tooLarge?: () => Error,
): Promise<string> {
  try {
    return new TextDecoder().decode(await readUpTo(Deno.stdin, max)).trim();
  } catch (e) {
    if (e instanceof InputTooLargeError) {
      throw tooLarge?.() ??
        new UsageError(`${what} is at most ${max} bytes; standard input holds more`);
    }
    throw e;
  }
}

/** Runs until SIGINT or SIGTERM, then calls `stop`; rejects when stopping fails (exit 1). */
export function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const handler = () => {
      if (stopping) return;
      stopping = true;
      stop().then(resolve, reject);
    };
    Deno.addSignalListener("SIGINT", handler);
    Deno.addSignalListener("SIGTERM", handler);
  });
}
