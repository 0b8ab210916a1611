/**
 * How the sources combine: the file's values replace the defaults, and the flags the user set
 * replace the file's, each option as a whole (repeatable flags replace the whole list or
 * mapping). `--leader` or `--join` on the command line replaces the run mode of the file: the
 * file's `leader` and `join` are then ignored. Every value keeps its origin (default, file and
 * line, or flag) for messages.
 * @module
 */

import { dirname, resolve } from "node:path";
import { ConfigError } from "./config_error.ts";
import type { AgentConfig, AgentFlags, OptionKey, OptionOrigins } from "./agent_types.ts";
import { flagInput, tooLong, type Where } from "./input.ts";
import { type ParseContext, unknownKey } from "./combinators.ts";
import { FLAG_ATTRIBUTES, KEYS, OPTIONS, YAML_KEYS } from "./options.ts";
import type { OptionSpec } from "./option_spec.ts";
import { lineOf, openYamlFile, yamlInput, yamlKey } from "./yaml_source.ts";
import type { SystemInfo } from "./system.ts";
import { didYouMean } from "../text/did_you_mean.ts";

/**
 * The flags of a commander command that did not come from their defaults (set on the command
 * line, or from the environment), restricted to options of this table.
 */
export function userSetFlags(command: {
  opts(): Record<string, unknown>;
  getOptionValueSource(key: string): string | undefined;
}): AgentFlags {
  const out: Record<string, unknown> = {};
  for (const [attr, value] of Object.entries(command.opts())) {
    const source = command.getOptionValueSource(attr);
    if (FLAG_ATTRIBUTES.has(attr) && source !== undefined && source !== "default") {
      out[attr] = value;
    }
  }
  return out as AgentFlags;
}

/** The values chosen so far, by option: a partial `AgentConfig` being filled in. */
export type Values = { -readonly [K in OptionKey]?: AgentConfig[K] };

/**
 * Reads the YAML file into `values`: every key must be an option's, every value passes its
 * option's parser; relative paths are resolved against the file's directory.
 */
export async function readFileOptions(
  file: string,
  sys: SystemInfo,
  values: Values,
  origin: Partial<OptionOrigins>,
): Promise<void> {
  const { y, root } = await openYamlFile(file);
  if (root === null) return;
  const ctx: ParseContext = { baseDir: dirname(resolve(sys.cwd, file)), sys };
  for (const pair of root.items) {
    const where: Where = { file, line: lineOf(y, pair.key) };
    const name = yamlKey(pair.key, undefined, where);
    const key = YAML_KEYS.get(name);
    if (key === undefined) {
      const reason = name === "config"
        ? `"config" can only be given on the command line (--config)`
        : unknownKey(undefined, name, [...YAML_KEYS.keys()]);
      throw new ConfigError(reason, where);
    }
    const spec = OPTIONS[key] as OptionSpec<unknown>;
    const value = spec.parseNode
      ? spec.parseNode(pair.value, y, where)
      : spec.parse!(yamlInput(pair.value, name, y, where.line), ctx);
    (values as Record<string, unknown>)[key] = value;
    origin[key] = { source: "file", file, line: where.line };
  }
}

/**
 * Lays the flags the user set over `values`, each replacing the file's value of its option as a
 * whole; relative paths are resolved against the working directory. Throws a TypeError for a key
 * that is no option's commander attribute (a bug in the caller).
 */
export function applyFlags(
  flags: AgentFlags,
  sys: SystemInfo,
  values: Values,
  origin: Partial<OptionOrigins>,
): void {
  const given = Object.entries(flags).filter(([, v]) => v !== undefined);
  for (const [attr] of given) {
    if (!FLAG_ATTRIBUTES.has(attr)) {
      const guess = didYouMean(attr, [...FLAG_ATTRIBUTES.keys()]);
      throw new TypeError(
        `loadAgentConfig: unknown flag attribute ${JSON.stringify(attr)}` +
          (guess === undefined ? "" : ` (did you mean ${JSON.stringify(guess)}?)`),
      );
    }
  }
  // The run mode is one choice: a flag for either side replaces the file's choice entirely.
  if (given.some(([attr]) => attr === "leader" || attr === "join")) {
    delete values.leader;
    delete values.join;
    delete origin.leader;
    delete origin.join;
  }
  const ctx: ParseContext = { baseDir: sys.cwd, sys };
  for (const [attr, raw] of given) {
    const key = FLAG_ATTRIBUTES.get(attr)!;
    const spec = OPTIONS[key] as OptionSpec<unknown>;
    const flag = spec.flag!;
    for (const v of Array.isArray(raw) ? raw : [raw]) tooLong(v, flag, {});
    const shaped = spec.fromFlag ? spec.fromFlag(raw, flag) : raw;
    (values as Record<string, unknown>)[key] = spec.parse!(flagInput(shaped, flag), ctx);
    origin[key] = { source: "flag", flag };
  }
}

/** Fills in the default of every option neither the file nor a flag set. */
export function applyDefaults(
  sys: SystemInfo,
  values: Values,
  origin: Partial<OptionOrigins>,
): void {
  for (const key of KEYS) {
    if (key in values) continue;
    (values as Record<string, unknown>)[key] = OPTIONS[key].defaultValue(sys);
    origin[key] = { source: "default" };
  }
}
