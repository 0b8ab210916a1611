/**
 * The bare `weft` command that every command hangs under.
 * @module
 */

import { Command } from "npm:@commander-js/extra-typings@^15.1.0";

/**
 * A `weft` command with the settings its subcommands inherit when added (commander copies them
 * then): errors thrown rather than exiting, options placed after their command. The root
 * (cli/run.ts), and the bare root a one-shot command is parsed under (cli/main.ts).
 */
export function weftCommand(): Command {
  return new Command()
    .name("weft")
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeErr: (s) => Deno.stderr.writeSync(new TextEncoder().encode(s)) });
}
