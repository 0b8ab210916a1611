/**
 * The host's programs and files as the Linux drivers use them (iptables, `ip`, resolvectl,
 * resolvconf, sysctls): a runner that takes argument arrays, never a shell, and a queue that
 * runs a driver's calls one at a time. Both can be replaced in tests. {@link HostCommands} puts
 * them together for the drivers that apply host state (the default route, forwarding).
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

/** Where a {@link HostCommands} runs things; both default to the real host. */
export interface HostCommandOptions {
  /** Runs the host's programs; default `Deno.Command`. */
  run?: CommandRunner;
  /** The sysctl files; default `Deno.readTextFile` and `Deno.writeTextFile`. */
  sysctl?: SysctlFiles;
}

/**
 * A driver's way to the host: its runner and sysctl files, one queue so its calls never
 * interleave, and {@link must} for a command that has to succeed.
 */
export class HostCommands {
  /** Runs a program (throws `Deno.errors.NotFound` when it is not installed). */
  readonly run: CommandRunner;
  /** The sysctl files. */
  readonly sysctl: SysctlFiles;
  readonly #queue = new SerialQueue();

  /** The real host's, or what `opts` gives. */
  constructor(opts: HostCommandOptions = {}) {
    this.run = opts.run ?? runCommand;
    this.sysctl = opts.sysctl ?? hostSysctls;
  }

  /** Runs `fn` once every earlier call has settled (see {@link SerialQueue}). */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.#queue.run(fn);
  }

  /**
   * Runs `cmd` with `args`, which must succeed: when `cmd` is not installed the error is
   * `missing` (what needs it, and what to install); when it fails, the command and its standard
   * error (or exit code).
   */
  async must(cmd: string, args: string[], missing: string): Promise<void> {
    let r: CommandResult;
    try {
      r = await this.run(cmd, args);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      throw new Error(missing);
    }
    if (r.code !== 0) {
      throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr.trim() || `exit ${r.code}`}`);
    }
  }
}
