/**
 * The host's programs and files as the Linux drivers use them (iptables, `ip`, resolvectl,
 * resolvconf, sysctls): a runner that takes argument arrays, never a shell, and a queue that
 * runs a driver's calls one at a time. Both can be replaced in tests.
 * @module
 */

/** The outcome of a command run by a {@link CommandRunner}. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `cmd` with `args` (and `input` on its standard input, if given); throws
 * `Deno.errors.NotFound` when `cmd` is not installed.
 */
export type CommandRunner = (
  cmd: string,
  args: string[],
  input?: string,
) => Promise<CommandResult>;

/** Reads and writes sysctl files (`/proc/sys/...`). */
export interface SysctlFiles {
  read(path: string): Promise<string>;
  write(path: string, value: string): Promise<void>;
}

/** The real sysctl files. */
export const hostSysctls: SysctlFiles = {
  read: (path) => Deno.readTextFile(path),
  write: (path, value) => Deno.writeTextFile(path, value),
};

/** The default runner: `Deno.Command` with piped output. */
export async function runCommand(
  cmd: string,
  args: string[],
  input?: string,
): Promise<CommandResult> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const w = child.stdin.getWriter();
    // A program that exits without reading its input closes the pipe: its exit code tells.
    await w.write(new TextEncoder().encode(input)).catch(() => {});
    await w.close().catch(() => {});
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs functions one after another: a driver's calls never interleave their commands. */
export class SerialQueue {
  #queue: Promise<unknown> = Promise.resolve();

  /** Runs `fn` once every earlier call has settled; its result or error is the caller's. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#queue.then(fn);
    this.#queue = p.catch(() => {});
    return p;
  }
}
