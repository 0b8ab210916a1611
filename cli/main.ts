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
import { ArgumentError, UsageError } from "./errors.ts";
import { weftCommand } from "./command.ts";

/** A command group's module: the commands it adds (their first words) and how to load it. */
export interface CommandGroup {
  /** The words its commands start with, in the order the root's help lists them. */
  words: readonly string[];
  /** Loads the module and returns what adds its commands to a program. */
  load(): Promise<(program: Command) => void>;
}

/**
 * Every command group, in the order the root's help lists them. A one-shot command (`weft status`,
 * `weft node list`) loads only its own group's module: the modules the agent needs are loaded by
 * the commands that run one (cli/run.ts, cli/up.ts), so `weft status` parses and loads about a
 * tenth of what `weft --leader` does. Each import names its module literally, so that
 * `deno compile` and `deno publish` see it.
 */
export const COMMAND_GROUPS: readonly CommandGroup[] = [
  { words: ["up"], load: async () => (await import("./up.ts")).addUpCommand },
  { words: ["wireguard"], load: async () => (await import("./wireguard.ts")).addWireguardCommand },
  { words: ["token"], load: async () => (await import("./token.ts")).addTokenCommands },
  { words: ["node"], load: async () => (await import("./node.ts")).addNodeCommands },
  { words: ["route"], load: async () => (await import("./route.ts")).addRouteCommands },
  { words: ["policy"], load: async () => (await import("./policy.ts")).addPolicyCommands },
  { words: ["segment"], load: async () => (await import("./segment.ts")).addSegmentCommands },
  {
    words: ["genkey", "genpsk", "pubkey"],
    load: async () => (await import("./keys.ts")).addKeyCommands,
  },
  {
    words: ["status", "ping", "send", "recv"],
    load: async () => (await import("./local.ts")).addLocalAgentCommands,
  },
  { words: ["set"], load: async () => (await import("./set.ts")).addSetCommand },
  {
    words: ["call", "publish", "subscribe", "service"],
    load: async () => (await import("./services.ts")).addServiceCommands,
  },
  { words: ["store"], load: async () => (await import("./store.ts")).addStoreCommands },
  {
    words: ["install-service"],
    load: async () => (await import("./install_service.ts")).addInstallServiceCommand,
  },
  { words: ["demo"], load: async () => (await import("./demo.ts")).addDemoCommand },
];

/**
 * The command line for `args`: when the first word names a command, a bare root with that
 * command's group only; else (the agent's flags, `--help`, `--version`, a mistyped word) the root
 * command with every group, as its help lists them and its "Did you mean" needs them.
 */
async function build(args: readonly string[]): Promise<Command> {
  const group = COMMAND_GROUPS.find((g) => g.words.includes(args[0]));
  const program = group ? weftCommand() : (await import("./run.ts")).rootCommand();
  const adds = await Promise.all((group ? [group] : COMMAND_GROUPS).map((g) => g.load()));
  for (const add of adds) add(program);
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
  const program = await build(args);
  try {
    await program.parseAsync(args, { from: "user" });
    return typeof Deno.exitCode === "number" ? Deno.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return 0;
      if (e.code === "commander.help") return 0;
      return 2;
    }
    // What the errors below are, loaded only when one comes (the command that threw has loaded
    // them already, or they cost little).
    const [{ AgentAnswerError }, { ConfigError, ServiceError }] = await Promise.all([
      import("../lib/control/mod.ts"),
      import("./internal_client.ts"),
    ]);
    let msg = e instanceof ServiceError
      ? (await import("./service_format.ts")).serviceErrorText(e)
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
