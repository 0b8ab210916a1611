/**
 * The root command: `weft --leader` / `weft --join <token>` runs a mesh agent until a signal,
 * with every option of the configuration. Its definition only: the agent is loaded when it runs
 * (cli/run_mesh.ts), so that `weft --help` does not load it.
 * @module
 */

import { type Command, Option } from "npm:@commander-js/extra-typings@^15.1.0";
import { collect } from "./args.ts";
import { weftCommand } from "./command.ts";
import { VERSION } from "./internal_client.ts";
import { type OptionHelp, optionHelp } from "./internal_options.ts";

/** The root command: `weft --leader` / `weft --join`, with every option of the configuration. */
export function rootCommand(): Command {
  const program = weftCommand()
    .description(
      "An encrypted WireGuard-compatible overlay mesh.\n\n" +
        "  weft --leader [options]        start (or restart) a mesh\n" +
        "  weft --join <token> [options]  join one (a restarted node needs no token)",
    )
    .version(VERSION, "-V, --version")
    // The root runs an agent, so commander would call a mistyped command "too many arguments"
    // (or a flag after it an unknown option): the words are taken here and refused as the
    // subcommands refuse theirs.
    .usage("[options] [command]")
    .argument("[command...]")
    .allowUnknownOption();
  for (const o of optionHelp()) {
    if (!o.flag) continue;
    const opt = new Option(`${o.flag}${o.arg ? ` ${o.arg}` : ""}`, flagHelp(o));
    if (o.repeatable) opt.argParser(collect);
    program.addOption(opt);
  }
  program.action(() => {
    if (program.args.length > 0) return refuseWords(program as unknown as Command);
    return import("./run_mesh.ts").then((m) => m.runMesh(program as unknown as Command));
  });
  return program as unknown as Command;
}

/**
 * A flag's line of `--help`: the option's description, said of what the flag does. A `--no-*`
 * flag turns off what the description says the option does (on by default); a flag with a value
 * says its default, as the option table does (switches are off unless given).
 */
export function flagHelp(o: OptionHelp): string {
  if (o.flag?.startsWith("--no-")) return `turn off (on by default): ${o.description}`;
  if (o.arg === undefined || o.default === "none" || o.default === "") return o.description;
  return `${o.description} (default: ${o.default})`;
}

/**
 * Refuses what the root does not take, with commander's own messages and "Did you mean" (as a
 * mistyped subcommand or option gets them): the first word given where a command goes, or the
 * first unknown option. Its `unknownCommand` and `unknownOption` are left out of its typings.
 */
function refuseWords(program: Command): never {
  const own = program as unknown as {
    unknownCommand?: () => void;
    unknownOption?: (flag: string) => void;
    allowUnknownOption(on: boolean): unknown;
  };
  const first = program.args[0];
  own.allowUnknownOption(false); // unknownOption says nothing while they are allowed
  if (first.startsWith("-")) own.unknownOption?.(first);
  else own.unknownCommand?.();
  program.error(`error: unknown ${first.startsWith("-") ? "option" : "command"} '${first}'`);
}
