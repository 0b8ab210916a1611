/**
 * The leader's policy, from its configuration file or from `weft policy apply`: validated whole
 * (an error names the line and the reason, and the previous policy stays in force) and stored as
 * canonical YAML that every node parses to the same document.
 * @module
 */

import { parsePolicy, serializePolicy } from "./parse.ts";
import { PolicyError } from "./schema.ts";
import type { PolicyDocument } from "./schema.ts";
import type { PolicySource } from "../config/agent_config.ts";
import { ConfigError } from "../config/config_error.ts";

/** A policy as distributed: its version and canonical text. */
export interface VersionedPolicy {
  /** Increases on every change. */
  version: number;
  /** Canonical YAML. */
  text: string;
}

/**
 * Validates policy text; returns the document and its canonical text, or throws PolicyError.
 *
 * @example
 * ```ts run
 * import { compilePolicyText } from "@weft/weft/mesh";
 * import { PolicyError } from "@weft/weft/policy";
 * const ssh = "policies:\n  - name: ssh\n    action: allow\n    proto: tcp\n    ports: [22]\n";
 * const { canonical } = compilePolicyText(ssh); // the defaults written out
 * console.log(canonical.includes('from: "*"')); // prints: true
 * try {
 *   compilePolicyText("policies:\n  - name: ssh\n    action: maybe\n");
 * } catch (e) {
 *   if (e instanceof PolicyError) console.log(e.message);
 *   // prints: line 3: policies[0].action: bad action: expected allow or deny, got ... "maybe"
 * }
 * ```
 */
export function compilePolicyText(
  text: string,
  opts: { firstLine?: number } = {},
): { doc: PolicyDocument; canonical: string } {
  const doc = parsePolicy(text, opts);
  return { doc, canonical: serializePolicy(doc) };
}

/**
 * The `policy:` section of a configuration file as policy text; errors are ConfigErrors at the
 * file's own line numbers.
 */
export function policyFromConfig(src: PolicySource): { doc: PolicyDocument; canonical: string } {
  // The mapping's own text, by offset: a flow mapping may share its line with the `policy:` key.
  const [start, end] = src.node.range;
  const at = src.lineCounter.linePos(start);
  const lines = (" ".repeat(at.col - 1) + src.text.slice(start, end)).split("\n");
  const indent = Math.min(
    ...lines.filter((l) => l.trim() && !l.trim().startsWith("#")).map((l) => l.search(/\S/)),
  );
  const text = lines.map((l) => l.slice(Math.min(indent, l.search(/\S|$/)))).join("\n");
  try {
    return compilePolicyText(text, { firstLine: at.line });
  } catch (e) {
    if (e instanceof PolicyError) {
      const where = e.path ? `policy.${e.path}: ` : "policy: ";
      throw new ConfigError(`${where}${e.reason}`, { file: src.file, line: e.line ?? at.line });
    }
    throw e;
  }
}
