/**
 * The `weft` executable, also `jsr:@weft/weft/cli`: runs the command line (cli/main.ts) on the
 * process's arguments and exits with its code (0 ok, 1 runtime failure, 2 bad usage or
 * configuration).
 *
 * @example
 * ```sh
 * deno run --unstable-net -A jsr:@weft/weft/cli --help
 * ```
 * @module
 */

import { main } from "./cli/main.ts";

/** Runs the CLI on `args`; returns the exit code (as `weft` exits with). */
export { main };

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
