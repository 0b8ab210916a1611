/**
 * Options several commands share: logging, and the local agent's address and state directory
 * (declared here once; {@link agentOptions} adds them to a command that drives the agent).
 * @module
 */

import { type Command, Option, type OptionValues } from "npm:@commander-js/extra-typings@^15.1.0";
import {
  createLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  type Logger,
  parseLogFormat,
  parseLogLevel,
} from "./internal_client.ts";

/** The local agent's status and control address when none is given. */
export const DEFAULT_STATUS = "127.0.0.1:51880";

/** `--log-level`. */
export const logLevelOption = () =>
  new Option("--log-level <level>", "debug, info, warn or error").choices(LOG_LEVELS).default(
    "info",
  );

/** `--log-format`. */
export const logFormatOption = () =>
  new Option("--log-format <format>", "text or json").choices(LOG_FORMATS).default("text");

/** `--status-listen` of `weft up`: where its HTTP server is to listen. */
export const statusListenOption = () =>
  new Option("--status-listen <host:port>", "the agent's HTTP server").default(DEFAULT_STATUS);

/**
 * A command that talks to the local agent, with `--status-listen` and `--state-dir` added after
 * its own options (so they show last in its help). Neither has a default here: the client finds
 * the agent from what is given (cli/client.ts, `localClient`).
 */
export function agentOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
) {
  return cmd.addOption(
    new Option(
      "--status-listen <host:port>",
      "the agent's HTTP server, reached over TCP with the control token (default: the agent's " +
        `socket in its state directory, else the address it wrote there, else ${DEFAULT_STATUS} ` +
        "with no token)",
    ),
  ).addOption(
    new Option(
      "--state-dir <dir>",
      "the agent's state directory: its control socket, token and status address (default: " +
        "the agent's default)",
    ),
  );
}

/** The logger `--log-level` and `--log-format` ask for. */
export function loggerFrom(opts: { logLevel: string; logFormat: string }): Logger {
  return createLogger({
    level: parseLogLevel(opts.logLevel),
    format: parseLogFormat(opts.logFormat),
  });
}
