/**
 * Policy files as YAML: parsing with line numbers for every error, and serializing back. The
 * format is documented in `schema.ts`. A file with any error, YAML or policy, is rejected whole.
 * @module
 */

import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  stringify,
} from "npm:yaml@^2.9.1";
import {
  type LineLocator,
  type PolicyDocument,
  PolicyError,
  type PolicyPath,
  type PolicyProblem,
  policyToWire,
  validatePolicyParts,
} from "./schema.ts";
import { checkPolicyMembers } from "./check.ts";
import type { MembershipView } from "../members/member.ts";
import { aliasBomb, MAX_ALIAS_EXPANSION } from "../config/yaml_aliases.ts";

/** Policy files larger than this are refused before parsing (1 MiB). */
export const MAX_POLICY_BYTES = 1 << 20;

interface Lines {
  values: Map<string, number>;
  keys: Map<string, number>;
}

const pathKey = (path: PolicyPath): string => JSON.stringify(path);

/** Turns the YAML tree into plain values, noting each value's and key's line. */
function toPlain(
  node: unknown,
  path: (string | number)[],
  lines: Lines,
  lineOf: (offset: number) => number,
  resolve: (n: Node) => Node | undefined,
): unknown {
  if (node === null || node === undefined) return null;
  let n = node as Node;
  const line = n.range ? lineOf(n.range[0]) : undefined;
  if (line !== undefined) lines.values.set(pathKey(path), line);
  if (isAlias(n)) {
    const target = resolve(n);
    if (!target) throw new PolicyError(`unresolved alias *${n.source}`, "", line);
    n = target;
  }
  if (isScalar(n)) return n.value;
  if (isSeq(n)) {
    return n.items.map((item, i) => toPlain(item, [...path, i], lines, lineOf, resolve));
  }
  if (isMap(n)) {
    // A null-prototype object, so a key like "__proto__" is a key and not a prototype change.
    const out: Record<string, unknown> = Object.create(null);
    for (const pair of n.items) {
      if (!isPair(pair)) continue;
      const k = pair.key as Node | null;
      const kLine = k && k.range ? lineOf(k.range[0]) : line;
      const key = k && isScalar(k) ? k.value : undefined;
      if (typeof key !== "string") {
        throw new PolicyError(`keys must be plain strings`, "", kLine);
      }
      const at = [...path, key];
      if (kLine !== undefined) {
        lines.keys.set(pathKey(at), kLine);
        lines.values.set(pathKey(at), kLine);
      }
      out[key] = toPlain(pair.value, at, lines, lineOf, resolve);
    }
    return out;
  }
  throw new PolicyError(`unsupported YAML node`, "", line);
}

/** How a policy's text is read and checked. */
export interface PolicyCheckOptions {
  /** The line the text starts at in its file (a policy cut out of a larger file). */
  firstLine?: number;
  /**
   * The members to check it against, where it is to be put in force: each name a selector gives
   * must be a member's or in the document's `future:` list, and its tests must pass.
   */
  view?: MembershipView | null;
}

/** A policy that passed: its document, and its warnings (label selectors no member matches). */
export interface CheckedPolicy {
  /** The document. */
  doc: PolicyDocument;
  /** Warnings, each with its line: they do not refuse the policy. */
  warnings: string[];
}

/**
 * Parses a YAML policy file and, given `view`, checks it against those members. Throws a
 * `PolicyError` listing every problem with its line: YAML syntax (then nothing else is read),
 * duplicate keys, unknown keys, wrong types, bad actions, protocols, ports, port ranges, CIDRs,
 * selectors, duplicate rule names, ports on a non-tcp/udp rule, bad tests; with `view` also names
 * no member has (nor `future:`) and failing tests.
 *
 * @example A typo in a name, and a test that fails, against two members
 * ```ts run
 * import { checkPolicyText, PolicyError } from "@weft/weft/policy";
 *
 * const node = (name: string, address: string) => ({
 *   name, address, publicKey: "", endpoints: [], labels: {}, role: "node" as const,
 *   services: [], joinedAt: 0,
 * });
 * const view = {
 *   network: "10.200.0.0/16", version: 1,
 *   members: [node("n1", "10.200.0.2"), node("n2", "10.200.0.3")],
 * };
 * const policy = [
 *   "defaults: { inbound: deny }",
 *   "policies:",
 *   "  - { name: ssh, action: allow, to: { names: [n9] }, proto: tcp, ports: [22] }",
 *   "tests:",
 *   "  - { from: n1, to: n2, port: 22, expect: allow }",
 * ].join("\n");
 * try {
 *   checkPolicyText(policy, { view });
 * } catch (e) {
 *   if (e instanceof PolicyError) for (const p of e.problems) console.log(p.line, p.path);
 *   // prints: 3 policies[0].to.names[0]
 *   // prints: 5 tests[0]
 * }
 * const fixed = policy.replace("n9", "n2");
 * console.log(checkPolicyText(fixed, { view }).doc.tests?.length); // prints: 1
 * ```
 */
export function checkPolicyText(text: string, opts: PolicyCheckOptions = {}): CheckedPolicy {
  if (text.length > MAX_POLICY_BYTES) {
    throw new PolicyError(`policy file is larger than ${MAX_POLICY_BYTES} bytes`);
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  // A policy cut out of a larger file reports that file's lines, in errors and their reasons.
  const shift = (opts.firstLine ?? 1) - 1;
  const lineOf = (offset: number) => lc.linePos(offset).line + shift;
  const yamlProblems = [...doc.errors, ...doc.warnings].map((problem): PolicyProblem => ({
    path: "",
    reason: `YAML: ${problem.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")}`,
    line: lineOf(problem.pos[0]),
  }));
  if (yamlProblems.length) throw PolicyError.of(yamlProblems);
  const bomb = aliasBomb(doc.contents, doc);
  if (bomb) {
    throw new PolicyError(
      `YAML: aliases expand to more than ${MAX_ALIAS_EXPANSION} values (refused as an alias bomb)`,
      "",
      bomb.range ? lineOf(bomb.range[0]) : undefined,
    );
  }
  const lines: Lines = { values: new Map(), keys: new Map() };
  const plain = toPlain(doc.contents, [], lines, lineOf, (a) => {
    const target = isAlias(a) ? a.resolve(doc) : undefined;
    return (target ?? undefined) as Node | undefined;
  });
  const locate: LineLocator = (path, key) => {
    // The nearest enclosing node with a known line: a missing key is reported at its parent.
    for (let p = [...path];; p = p.slice(0, -1)) {
      const found = key ? lines.keys.get(pathKey(p)) ?? lines.values.get(pathKey(p)) : lines
        .values.get(pathKey(p));
      if (found !== undefined) return found;
      if (p.length === 0) return plain === null ? undefined : 1;
    }
  };
  const validated = validatePolicyParts(plain, locate);
  const problems = [...validated.problems];
  let warnings: string[] = [];
  if (opts.view) {
    const found = checkPolicyMembers(validated, opts.view, locate);
    problems.push(...found.problems);
    warnings = found.warnings;
  }
  if (problems.length) throw PolicyError.of(problems);
  return { doc: validated.doc, warnings };
}

/**
 * Parses a YAML policy file (and checks it against `opts.view`'s members, when given, as
 * {@link checkPolicyText} does). Throws a `PolicyError` listing every problem with its line.
 */
export function parsePolicy(text: string, opts: PolicyCheckOptions = {}): PolicyDocument {
  return checkPolicyText(text, opts).doc;
}

/** Like `parsePolicy`, but the error is returned instead of thrown. */
export function tryParsePolicy(
  text: string,
): { ok: true; policy: PolicyDocument } | { ok: false; error: PolicyError } {
  try {
    return { ok: true, policy: parsePolicy(text) };
  } catch (e) {
    if (e instanceof PolicyError) return { ok: false, error: e };
    throw e;
  }
}

/** A document as YAML that `parsePolicy` reads back to an equal document. */
export function serializePolicy(doc: PolicyDocument): string {
  return stringify(policyToWire(doc), { lineWidth: 0, flowCollectionPadding: true });
}
