/**
 * The option table as help: one row per option for `--help` text, and as the Markdown table of
 * docs/configuration.md (a docs test keeps the two equal).
 * @module
 */

import type { OptionKey } from "./agent_types.ts";
import { KEYS, OPTIONS } from "./options.ts";

/** One row of the option table, for `--help` text and docs/configuration.md. */
export interface OptionHelp {
  /** The property of `AgentConfig`. */
  name: OptionKey;
  /** The flag, e.g. `--listen-port`; absent for options only the file can set. */
  flag?: string;
  /** The flag's argument, e.g. `<port>`; absent for switches. */
  arg?: string;
  /** Commander's attribute name for the flag (the key in `AgentFlags`). */
  attribute?: string;
  /** Whether the flag may be given more than once. */
  repeatable: boolean;
  /** The YAML key; absent for options only a flag can set. */
  yaml?: string;
  /** The value's type, e.g. `integer`, `list of HOST:PORT`. */
  type: string;
  /** The default, as text (`none` when unset). */
  default: string;
  /** What values are accepted. */
  validation: string;
  /** What the option does. */
  description: string;
}

/** Every option, in table order, for `--help` text and docs/configuration.md. */
export function optionHelp(): OptionHelp[] {
  return KEYS.map((name) => {
    const o = OPTIONS[name];
    const row: OptionHelp = {
      name,
      repeatable: o.repeatable ?? false,
      type: o.type,
      default: o.default,
      validation: o.validation,
      description: o.description,
    };
    if (o.flag !== undefined) {
      row.flag = o.flag;
      row.attribute = o.attribute ?? name;
    }
    if (o.arg !== undefined) row.arg = o.arg;
    if (o.yaml !== undefined) row.yaml = o.yaml;
    return row;
  });
}

/** The option table as Markdown (flag, YAML key, type, default, accepted values, meaning). */
export function optionTableMarkdown(): string {
  const cell = (s: string) => s.replaceAll("|", "\\|");
  const lines = [
    "| Flag | YAML key | Type | Default | Accepted | Meaning |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of optionHelp()) {
    const flag = r.flag === undefined
      ? "—"
      : `\`${r.flag}${r.arg ? ` ${r.arg}` : ""}\`${r.repeatable ? " (repeatable)" : ""}`;
    const yaml = r.yaml === undefined ? "—" : `\`${r.yaml}\``;
    lines.push(
      `| ${cell(flag)} | ${yaml} | ${cell(r.type)} | ${cell(r.default)} | ` +
        `${cell(r.validation)} | ${cell(r.description)} |`,
    );
  }
  return lines.join("\n");
}
