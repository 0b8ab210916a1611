/**
 * Label expressions (`role=web,env!=prod`, `tier in (a,b)`, `!canary`) and how selector terms
 * pick members. The grammar is described in `schema.ts`.
 * @module
 */

import type { Member } from "../members/member.ts";
import { policyLabels } from "../members/labels.ts";

/** A label condition operator. */
export type LabelOp = "=" | "!=" | "in" | "notin" | "exists" | "!exists";

/** One condition on a member's labels. */
export interface LabelMatch {
  /** The label key. */
  key: string;
  /** The operator. */
  op: LabelOp;
  /** One value for `=`/`!=`, one or more for `in`/`notin`, none for `exists`/`!exists`. */
  values: string[];
}

/** One alternative of a selector. */
export type SelectorTerm =
  | { kind: "any" }
  | { kind: "labels"; match: LabelMatch[] }
  | { kind: "names"; names: string[] }
  | { kind: "cidrs"; cidrs: string[] };

/** The endpoints a rule side matches: any of its terms (never empty). */
export type Selector = SelectorTerm[];

const KEY_RE = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?$/;
const VALUE_RE = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const SET_RE = /^([^\s!=(),]+)\s+(in|notin)\s*\(([^()]*)\)$/;
const CMP_RE = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s=(),]*)$/;
const EXISTS_RE = /^(!?)\s*([^\s!=(),]+)$/;

/** Why `key` is not a valid label key, or null when it is. */
export function labelKeyProblem(key: string): string | null {
  return KEY_RE.test(key)
    ? null
    : `bad label key ${
      JSON.stringify(key)
    } (letters and digits, with "._/-" inside, at most 253 characters)`;
}

/** Why `value` is not a valid label value, or null when it is. */
export function labelValueProblem(value: string): string | null {
  return VALUE_RE.test(value)
    ? null
    : `bad label value ${
      JSON.stringify(value)
    } (letters and digits, with "._-" inside, at most 63 characters)`;
}

/** Splits at commas outside parentheses. */
function splitTerms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
    if (depth < 0 || depth > 1) throw new Error(`unbalanced parentheses in label expression`);
  }
  if (depth !== 0) throw new Error(`unbalanced parentheses in label expression`);
  out.push(text.slice(start));
  return out;
}

function checked(key: string, values: string[]): void {
  const kp = labelKeyProblem(key);
  if (kp) throw new Error(kp);
  for (const v of values) {
    const vp = labelValueProblem(v);
    if (vp) throw new Error(vp);
  }
}

/**
 * Parses a label expression into its conditions (all must hold); throws an Error naming the bad
 * term.
 */
export function parseLabelExpression(text: string): LabelMatch[] {
  const out: LabelMatch[] = [];
  for (const raw of splitTerms(text)) {
    const term = raw.trim();
    if (term === "") throw new Error(`empty term in label expression ${JSON.stringify(text)}`);
    let m: RegExpExecArray | null;
    try {
      if ((m = SET_RE.exec(term))) {
        const values = [...new Set(m[3].split(",").map((v) => v.trim()))];
        if (values.length === 1 && values[0] === "") throw new Error(`empty value set`);
        checked(m[1], values);
        out.push({ key: m[1], op: m[2] as "in" | "notin", values });
      } else if ((m = CMP_RE.exec(term))) {
        checked(m[1], [m[3]]);
        out.push({ key: m[1], op: m[2] === "!=" ? "!=" : "=", values: [m[3]] });
      } else if ((m = EXISTS_RE.exec(term))) {
        checked(m[2], []);
        out.push({ key: m[2], op: m[1] ? "!exists" : "exists", values: [] });
      } else {
        throw new Error(
          `expected key=value, key!=value, key in (a,b), key notin (a,b), key or !key`,
        );
      }
    } catch (e) {
      throw new Error(`bad label expression term ${JSON.stringify(term)}: ${(e as Error).message}`);
    }
  }
  return out;
}

/** Formats conditions back into an expression that `parseLabelExpression` reads. */
export function formatLabelExpression(match: readonly LabelMatch[]): string {
  return match.map((m) => {
    switch (m.op) {
      case "=":
      case "!=":
        return `${m.key}${m.op}${m.values[0]}`;
      case "in":
      case "notin":
        return `${m.key} ${m.op} (${m.values.join(",")})`;
      case "exists":
        return m.key;
      case "!exists":
        return `!${m.key}`;
    }
  }).join(",");
}

/** True when every condition holds for `labels`. */
export function labelsMatch(match: readonly LabelMatch[], labels: Record<string, string>): boolean {
  for (const m of match) {
    const has = Object.hasOwn(labels, m.key);
    const value = has ? labels[m.key] : undefined;
    let ok: boolean;
    switch (m.op) {
      case "=":
        ok = has && value === m.values[0];
        break;
      case "!=":
        ok = !has || value !== m.values[0];
        break;
      case "in":
        ok = has && m.values.includes(value!);
        break;
      case "notin":
        ok = !has || !m.values.includes(value!);
        break;
      case "exists":
        ok = has;
        break;
      case "!exists":
        ok = !has;
        break;
    }
    if (!ok) return false;
  }
  return true;
}

/**
 * True when a selector term picks `member` as a whole: `any`, its labels, or its name. CIDR terms
 * match addresses, not members, so they are false here.
 */
export function termMatchesMember(term: SelectorTerm, member: Member): boolean {
  switch (term.kind) {
    case "any":
      return true;
    case "labels":
      // Granted labels, and the node's own only under node.weft/: never mistaken for granted.
      return labelsMatch(term.match, policyLabels(member));
    case "names":
      return term.names.includes(member.name.toLowerCase());
    case "cidrs":
      return false;
  }
}
