/**
 * The `weft` command line: one module per command group, over the package's public entries
 * (`mod.ts` and the `mod.ts` of each part) like any program. `main.ts` at the root runs it.
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration.
 *
 * @example
 * ```ts
 * import { main } from "./main.ts";
 *
 * Deno.exit(await main(["status", "--json"]));
 * ```
 * @module
 */

import { type Command, CommanderError } from "npm:@commander-js/extra-typings@^15.1.0";
import { ConfigError } from "../mod.ts";
import { AgentAnswerError } from "../lib/control/mod.ts";
import { ServiceError } from "../lib/services/mod.ts";
import { addDemoCommand } from "./demo.ts";
import { addInstallServiceCommand } from "./install_service.ts";
import { ArgumentError, UsageError } from "./errors.ts";
import { addKeyCommands } from "./keys.ts";
import { addLocalAgentCommands } from "./local.ts";
import { addNodeCommands } from "./node.ts";
import { addRouteCommands } from "./route.ts";
import { addPolicyCommands } from "./policy.ts";
import { addSegmentCommands } from "./segment.ts";
import { rootCommand } from "./run.ts";
import { serviceErrorText } from "./service_format.ts";
import { addServiceCommands } from "./services.ts";
import { addSetCommand } from "./set.ts";
import { addTokenCommands } from "./token.ts";
import { addUpCommand } from "./up.ts";
import { addWireguardCommand } from "./wireguard.ts";
import { addStoreCommands } from "./store.ts";

/** The whole command line: the root command and every subcommand. */
function build(): Command {
  const program = rootCommand();
  for (
    const add of [
      addUpCommand,
      addWireguardCommand,
      addTokenCommands,
      addNodeCommands,
      addRouteCommands,
      addPolicyCommands,
      addSegmentCommands,
      addKeyCommands,
      addLocalAgentCommands,
      addSetCommand,
      addServiceCommands,
      addStoreCommands,
      addInstallServiceCommand,
      addDemoCommand,
    ]
  ) add(program);
  hintHelpAfterErrors(program);
  return program;
}

/**
 * After a usage error, every command points at its own `--help` in one line: the whole help
 * (100 lines at the root) after the error buried the error and its "Did you mean".
 */
function hintHelpAfterErrors(cmd: Command, path = "weft"): void {
  cmd.showHelpAfterError(`(${path} --help lists what it takes)`);
  for (const sub of cmd.commands) hintHelpAfterErrors(sub as Command, `${path} ${sub.name()}`);
}

/** Runs the CLI on `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const program = build();
  try {
    await program.parseAsync(args, { from: "user" });
    return typeof Deno.exitCode === "number" ? Deno.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return 0;
      if (e.code === "commander.help") return 0;
      return 2;
    }
    let msg = e instanceof ServiceError
      ? serviceErrorText(e)
      : e instanceof Error
      ? e.message
      : String(e);
    // The CLI sends a control token only where it is sure of the agent (cli/client.ts): say how
    // to give it one.
    if (e instanceof AgentAnswerError && e.status === 401) {
      msg += " (give the agent's --state-dir: its control token is read from there; on the " +
        "agent's host, as its owner, the CLI needs no token)";
    }
    console.error(`weft: ${msg}`);
    // A request the agent refused (4xx: bad input, wrong token) is a refusal like a bad flag; so
    // is a service call the service layer calls malformed. Other service errors (nobody offers
    // it, no answer, the handler failed) are failures.
    const refused = (e instanceof AgentAnswerError && e.status >= 400 && e.status < 500) ||
      (e instanceof ServiceError && e.code === "bad-request");
    const usage = e instanceof UsageError || e instanceof ArgumentError ||
      e instanceof ConfigError;
    return usage || refused ? 2 : 1;
  }
}
