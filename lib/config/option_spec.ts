/**
 * What a row of the option table says of its option (flag, YAML key, type, default, help, parser),
 * and the type of a set of rows: `options.ts` assembles the rows of each area into the one table.
 * @module
 */

import type { AgentConfig, OptionKey } from "./agent_types.ts";
import type { Where } from "./input.ts";
import type { Parser } from "./combinators.ts";
import type { YamlSource } from "./yaml_source.ts";
import type { SystemInfo } from "./system.ts";

/** One option: how it is named, documented, defaulted and parsed. */
export interface OptionSpec<T> {
  /** The flag, e.g. `--listen-port`; absent for file-only options. */
  flag?: string;
  /** The flag's argument, e.g. `<port>`; absent for switches. */
  arg?: string;
  /** Commander's attribute name when it is not the option's name (`label`, `service`, ...). */
  attribute?: string;
  /** The YAML key; absent for flag-only options. */
  yaml?: string;
  /** Whether the flag may be given more than once. */
  repeatable?: boolean;
  /** The value's type, for help. */
  type: string;
  /** The default, as help shows it. */
  default: string;
  /** What values are accepted, for help. */
  validation: string;
  /** What the option does, for help. */
  description: string;
  /** The value when neither the file nor a flag sets it. */
  defaultValue(sys: SystemInfo): T;
  /** Parses the value from the file or a flag. */
  parse?: Parser<T>;
  /** For YAML-only options that keep the raw node. */
  parseNode?(node: unknown, y: YamlSource, where: Where): T;
  /** Brings a commander value to the shape `parse` reads from YAML. */
  fromFlag?(value: unknown, flag: string): unknown;
}

/** Rows of the option table: the options `K`, each with the spec of its value's type. */
export type OptionRows<K extends OptionKey> = { readonly [P in K]: OptionSpec<AgentConfig[P]> };

/** The default of an option that has none. */
export const none = (): undefined => undefined;
