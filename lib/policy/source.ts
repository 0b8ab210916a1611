/**
 * The leader's policy, from its configuration file or from `weft policy apply`: validated whole
 * (an error names the line and the reason, and the previous policy stays in force) and stored as
 * canonical YAML that every node parses to the same document.
 * @module
 */

import { checkPolicyText, type PolicyCheckOptions, serializePolicy } from "./parse.ts";
import { PolicyError } from "./schema.ts";
import type { PolicyDocument } from "./schema.ts";
import type { PolicySource } from "../config/agent_config.ts";
import type { MembershipView } from "../members/member.ts";
import { ConfigError } from "../config/config_error.ts";

/** A policy as distributed: its version and canonical text. */
export interface VersionedPolicy {
  /** Increases on every change. */
  version: number;
  /** Canonical YAML. */
  text: string;
}

/**
 * Validates policy text (and checks it against `opts.view`'s members, when given: names no
 * member has, failing tests); returns the document, its canonical text and the warnings, or
 * throws a PolicyError listing every problem.
 *
 * @example
 * ```ts run
 * import { compilePolicyText, PolicyError } from "@weft/weft/policy";
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
  opts: PolicyCheckOptions = {},
): { doc: PolicyDocument; canonical: string; warnings: string[] } {
  const { doc, warnings } = checkPolicyText(text, opts);
  return { doc, canonical: serializePolicy(doc), warnings };
}

/** Where a policy's text sits in its file: a configuration's `policy:` section. */
export interface PolicyOrigin {
  /** The file, when the text came from one. */
  file?: string;
  /** The line the policy's text starts at. */
  firstLine: number;
}

/** The `policy:` section of a configuration file as policy text of its own, and where it is. */
export function policySection(src: PolicySource): { text: string; origin: PolicyOrigin } {
  // The mapping's own text, by offset: a flow mapping may share its line with the `policy:` key.
  const [start, end] = src.node.range;
  const at = src.lineCounter.linePos(start);
  const lines = (" ".repeat(at.col - 1) + src.text.slice(start, end)).split("\n");
  const indent = Math.min(
    ...lines.filter((l) => l.trim() && !l.trim().startsWith("#")).map((l) => l.search(/\S/)),
  );
  const text = lines.map((l) => l.slice(Math.min(indent, l.search(/\S|$/)))).join("\n");
  return { text, origin: { file: src.file, firstLine: at.line } };
}

/**
 * The `policy:` section of a configuration file as policy text; errors are ConfigErrors at the
 * file's own line numbers.
 */
export function policyFromConfig(src: PolicySource): { doc: PolicyDocument; canonical: string } {
  const { text, origin } = policySection(src);
  return compileAt(text, origin);
}

/**
 * Policy text as {@link compilePolicyText} compiles it, at `origin` in its file: a PolicyError
 * becomes a ConfigError at that file's lines, listing every problem.
 */
export function compileAt(
  text: string,
  origin: PolicyOrigin,
  view?: MembershipView | null,
): { doc: PolicyDocument; canonical: string; warnings: string[] } {
  try {
    return compilePolicyText(text, { firstLine: origin.firstLine, view });
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    const where = { file: origin.file, line: e.line ?? origin.firstLine };
    if (e.problems.length === 1) {
      throw new ConfigError(`${e.path ? `policy.${e.path}` : "policy"}: ${e.reason}`, where);
    }
    // Listed as a PolicyError lists them, with the paths inside the file.
    const inFile = PolicyError.of(
      e.problems.map((p) => ({ ...p, path: p.path ? `policy.${p.path}` : "policy" })),
    );
    throw new ConfigError(`the policy has ${inFile.message}`, where);
  }
}
