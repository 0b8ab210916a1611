/**
 * The leader's policy, from its configuration file or from `weft policy apply`: validated whole
 * (an error names the line and the reason, and the previous policy stays in force) and stored as
 * canonical YAML that every node parses to the same document.
 * @module
 */

import { parsePolicy, serializePolicy } from "../policy/parse.ts";
import { PolicyError } from "../policy/schema.ts";
import type { PolicyDocument } from "../policy/schema.ts";
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
 * ```ts
 * import { compilePolicyText, PolicyError } from "@weft/weft";
 * try {
 *   compilePolicyText(await Deno.readTextFile("policy.yaml"));
 * } catch (e) {
 *   if (e instanceof PolicyError) console.error(`policy.yaml: ${e.message}`);
 * }
 * ```
 */
export function compilePolicyText(text: string): { doc: PolicyDocument; canonical: string } {
  const doc = parsePolicy(text);
  return { doc, canonical: serializePolicy(doc) };
}

/**
 * The `policy:` section of a configuration file as policy text; errors are ConfigErrors at the
 * file's own line numbers.
 */
export function policyFromConfig(src: PolicySource): { doc: PolicyDocument; canonical: string } {
  const lines = src.text.split("\n");
  const first = src.line - 1;
  const last = src.lineCounter.linePos(Math.max(src.node.range[2] - 1, src.node.range[0])).line;
  const block = lines.slice(first, last);
  const indent = Math.min(
    ...block.filter((l) => l.trim() && !l.trim().startsWith("#")).map((l) => l.search(/\S/)),
  );
  const text = block.map((l) => l.slice(Math.min(indent, l.search(/\S|$/)))).join("\n");
  try {
    return compilePolicyText(text);
  } catch (e) {
    if (e instanceof PolicyError) {
      const line = e.line === undefined ? src.line : e.line + first;
      const where = e.path ? `policy.${e.path}: ` : "policy: ";
      throw new ConfigError(`${where}${e.reason}`, { file: src.file, line });
    }
    throw e;
  }
}
