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
} from "../mod.ts";

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

/** `--status-listen`: where the agent's HTTP server is (or is to be). */
export const statusListenOption = () =>
  new Option("--status-listen <host:port>", "the agent's HTTP server").default(DEFAULT_STATUS);

const stateDirOption = () =>
  new Option("--state-dir <dir>", "the agent's state directory (holds control.token)");

/**
 * A command that drives the local agent, with `--status-listen` and `--state-dir` added after
 * its own options (so they show last in its help).
 */
export function agentOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
) {
  return cmd.addOption(statusListenOption()).addOption(stateDirOption());
}

/** The logger `--log-level` and `--log-format` ask for. */
export function loggerFrom(opts: { logLevel: string; logFormat: string }): Logger {
  return createLogger({
    level: parseLogLevel(opts.logLevel),
    format: parseLogFormat(opts.logFormat),
  });
}
