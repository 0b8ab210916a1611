/**
 * What the commands need of the process: standard input read with a ceiling, and running until
 * a signal.
 * @module
 */

import { UsageError } from "./errors.ts";
import { InputTooLargeError, readUpTo } from "./internal_client.ts";

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
export async function untilSignal(stop: () => Promise<void>): Promise<void> {
  const signals = new SignalWatch();
  try {
    await signals.first;
    await stop();
  } finally {
    signals.close();
  }
}

/** What the shell reports for a process a second signal ended (128 + its number). */
const FORCED_EXIT: Record<Deno.Signal, number> = { SIGINT: 130, SIGTERM: 143 } as Record<
  Deno.Signal,
  number
>;

/**
 * SIGINT and SIGTERM, watched from a command's first line: a signal while an agent starts is
 * kept (the start finishes or fails, then the agent stops as a failed start is undone, instead
 * of the default action killing it half-made: its UAPI socket and state left behind). A second
 * signal exits at once, with 128 + its number, for a stop that hangs.
 */
export class SignalWatch {
  #got: Deno.Signal | null = null;
  #wake!: () => void;
  readonly #handlers: [Deno.Signal, () => void][] = [];
  /** Resolves at the first signal. */
  readonly first: Promise<void> = new Promise((resolve) => this.#wake = resolve);

  /** Starts watching; `close` stops it. */
  constructor() {
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      const handler = () => {
        if (this.#got !== null) Deno.exit(FORCED_EXIT[sig]);
        this.#got = sig;
        this.#wake();
      };
      Deno.addSignalListener(sig, handler);
      this.#handlers.push([sig, handler]);
    }
  }

  /** The first signal that came, or null. */
  get signalled(): Deno.Signal | null {
    return this.#got;
  }

  /** Stops watching (the default actions are back). */
  close(): void {
    for (const [sig, handler] of this.#handlers.splice(0)) {
      Deno.removeSignalListener(sig, handler);
    }
  }
}
