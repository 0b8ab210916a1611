/**
 * wg-quick's `PreUp`, `PostUp`, `PreDown` and `PostDown` hooks: each command runs with
 * `bash -c`, `%i` replaced by the interface name, one after the other, with weft's environment,
 * standard output and standard error.
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { findExecutable } from "./commands.ts";

/** The four moments wg-quick runs hooks at. */
export type HookStage = "PreUp" | "PostUp" | "PreDown" | "PostDown";

/** A hook that could not run or exited non-zero. */
export class HookError extends Error {
  /** The stage whose hook failed. */
  readonly stage: HookStage;

  /** `what` says which hook (1-based among the stage's) and how it failed. */
  constructor(stage: HookStage, what: string) {
    super(`${stage} ${what}`);
    this.name = "HookError";
    this.stage = stage;
  }
}

/** A command with every `%i` replaced by the interface name, as wg-quick does. */
export function expandHook(command: string, interfaceName: string): string {
  return command.replaceAll("%i", interfaceName);
}

/**
 * Runs a stage's commands in order; the first that cannot start or exits non-zero throws a
 * {@linkcode HookError} and the later ones do not run. The commands are not logged: a user's
 * hook may hold a secret, so the log names the stage and the hook's number.
 */
export async function runHooks(
  stage: HookStage,
  commands: readonly string[],
  interfaceName: string,
  logger: Logger,
): Promise<void> {
  if (commands.length === 0) return;
  const bash = findExecutable("bash");
  if (bash === null) throw new HookError(stage, "hooks run with bash, which is not installed");
  for (const [i, command] of commands.entries()) {
    const n = `hook ${i + 1} of ${commands.length}`;
    logger.info("hook", { stage, hook: i + 1, interface: interfaceName });
    let status: Deno.CommandStatus;
    try {
      status = await new Deno.Command(bash, {
        args: ["-c", expandHook(command, interfaceName)],
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn().status;
    } catch (e) {
      throw new HookError(stage, `${n} could not start: ${(e as Error).message}`);
    }
    if (!status.success) {
      const how = status.signal ? `killed by ${status.signal}` : `exit ${status.code}`;
      throw new HookError(stage, `${n} failed (${how})`);
    }
  }
}
