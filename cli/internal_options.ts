/**
 * The agent's option table as the root command's help shows it, beyond the public entries: apart
 * from `cli/internal.ts` (the agent's run path) so that `weft --help` loads the table and not the
 * agent (see cli/internal_client.ts).
 * @module
 */

export { type OptionHelp, optionHelp } from "../lib/config/help.ts";
