/**
 * What the commands need of the process: standard input read with a ceiling, and running until
 * a signal.
 * @module
 */

import { InputTooLargeError, readUpTo } from "../lib/config/mod.ts";
import { UsageError } from "./errors.ts";

/** Standard input as text, refused past `max` bytes (`< /dev/zero` must not fill memory). */
export async function readStdin(max: number, what: string): Promise<string> {
  try {
    return new TextDecoder().decode(await readUpTo(Deno.stdin, max)).trim();
  } catch (e) {
    if (e instanceof InputTooLargeError) {
      throw new UsageError(`${what} on standard input is at most ${max} bytes`);
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
