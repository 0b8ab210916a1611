/**
 * The policy validator's shared machinery: the {@linkcode Validator} that notes problems with
 * their places, and the checks every part of the format uses (actions, priorities, selectors).
 * @module
 */

import { Cidr } from "../net/cidr.ts";
import { dnsLabelProblem } from "../net/names.ts";
import { labelKeyProblem, labelValueProblem, parseLabelExpression } from "./selector.ts";
import type { LabelMatch, Selector, SelectorTerm } from "./selector.ts";
import {
  formatPath,
  type LineLocator,
  MAX_PRIORITY,
  type PolicyAction,
  type PolicyPath,
  type PolicyProblem,
} from "./model.ts";

/**
 * `text` with A-Z lowered. Only A-Z: toLowerCase would turn some non-ASCII letters (the Kelvin
 * sign) into ASCII ones.
 */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (c) => c.toLowerCase());
}

/** A rule's or call rule's name: letters, digits and "._-", at most 63. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const SELECTOR_KEYS = ["labels", "names", "cidrs"];

/** How a problem names the value it got: its kind, and the value when short. */
export function typeName(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (ArrayBuffer.isView(v)) return "binary data";
  if (typeof v === "object") return "a map";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

/** Whether `v` is a plain map (not a list, not binary data). */
export function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** Thrown by `Validator.fail` to leave the part being checked; `guard` catches it. */
const ABORT = Symbol("abort");

/** Where a selector names members by name, or by labels: checked against the members later. */
export interface SelectorRefs {
  /** Each name of a `names` selector (lower case), with its place. */
  names: { name: string; path: PolicyPath }[];
  /** Each label term, with its place. */
  labels: { match: LabelMatch[]; path: PolicyPath }[];
}

/**
 * Walks a plain value, noting every problem with its line (when known) and path: a problem in
 * one part (a rule's field, a rule, a segment, a test) leaves that part and goes on with the next,
 * so one pass reports them all.
 */
export class Validator {
  readonly #locate: LineLocator;
  /** Every problem noted, in the order found. */
  readonly problems: PolicyProblem[] = [];
  /** Where the selectors checked so far name members. */
  readonly refs: SelectorRefs = { names: [], labels: [] };

  /** `locate` maps a path to its source line, when known. */
  constructor(locate: LineLocator) {
    this.#locate = locate;
  }

  /** Notes a problem and goes on. */
  note(path: PolicyPath, reason: string, key = false): void {
    const line = this.#locate(path, key);
    this.problems.push({ path: formatPath(path), reason, ...(line === undefined ? {} : { line }) });
  }

  /** Notes a problem and leaves the part being checked (up to the nearest `guard`). */
  fail(path: PolicyPath, reason: string, key = false): never {
    this.note(path, reason, key);
    throw ABORT;
  }

  /** `check()`, or `fallback` when it failed (its problem noted). */
  guard<T>(check: () => T, fallback: T): T {
    try {
      return check();
    } catch (e) {
      if (e === ABORT) return fallback;
      throw e;
    }
  }

  /** The source line of `path`, when known. */
  line(path: PolicyPath): number | undefined {
    return this.#locate(path, false);
  }

  /** Notes each key of `value` not `allowed`; false when there was one. */
  checkKeys(
    value: Record<string, unknown>,
    allowed: string[],
    path: PolicyPath,
    what: string,
  ): boolean {
    let known = true;
    for (const k of Object.keys(value)) {
      if (!allowed.includes(k)) {
        this.note(
          [...path, k],
          `unknown key "${k}" in ${what} (expected one of: ${allowed.join(", ")})`,
          true,
        );
        known = false;
      }
    }
    return known;
  }

  /** An action: allow or deny. */
  action(v: unknown, path: PolicyPath): PolicyAction {
    if (v === "allow" || v === "deny") return v;
    return this.fail(path, `bad action: expected allow or deny, got ${typeName(v)}`);
  }

  /** A rule's priority: an integer 0-MAX_PRIORITY. */
  priority(v: unknown, path: PolicyPath): number {
    if (v === "interactive" || v === "bulk") {
      this.fail(
        path,
        `priority orders the rules (an integer 0-${MAX_PRIORITY}); a traffic class goes under qos (qos: { class: ${v} })`,
      );
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_PRIORITY) {
      this.fail(path, `bad priority: expected an integer 0-${MAX_PRIORITY}, got ${typeName(v)}`);
    }
    return v;
  }

  /** A selector: "*", a label expression, a map of labels, names or cidrs, or a list of those. */
  selector(v: unknown, path: PolicyPath): Selector {
    if (Array.isArray(v)) {
      if (v.length === 0) this.fail(path, `empty selector list (use "*" for any address)`);
      const out: SelectorTerm[] = [];
      for (let i = 0; i < v.length; i++) {
        if (Array.isArray(v[i])) this.note([...path, i], `a selector list cannot nest lists`);
        else out.push(...this.guard(() => this.selector(v[i], [...path, i]), []));
      }
      return out.some((t) => t.kind === "any") ? [{ kind: "any" }] : out;
    }
    if (typeof v === "string") {
      if (v.trim() === "*") return [{ kind: "any" }];
      return [this.labelTerm(this.labelExpression(v, path), path)];
    }
    if (!isMap(v)) {
      return this.fail(
        path,
        `a selector is "*", a label expression, a map with labels, names or cidrs, or a list of those; got ${
          typeName(v)
        }`,
      );
    }
    // The one key says what the selector is: an unknown one leaves nothing to check.
    if (!this.checkKeys(v, SELECTOR_KEYS, path, "a selector")) throw ABORT;
    const keys = Object.keys(v);
    if (keys.length !== 1) {
      this.fail(
        path,
        `a selector map has exactly one of labels, names or cidrs (got ${
          keys.length || "none"
        }); use a list for alternatives`,
      );
    }
    const k = keys[0];
    const inner = [...path, k];
    if (k === "labels") return [this.labelTerm(this.labels(v.labels, inner), inner)];
    if (k === "names") return [{ kind: "names", names: this.names(v.names, inner) }];
    return [{ kind: "cidrs", cidrs: this.cidrs(v.cidrs, inner) }];
  }

  /** A label term, noted for the check against the members. */
  labelTerm(match: LabelMatch[], path: PolicyPath): SelectorTerm {
    this.refs.labels.push({ match, path });
    return { kind: "labels", match };
  }

  /** A label expression such as "role in (web,app)". */
  labelExpression(text: string, path: PolicyPath): LabelMatch[] {
    try {
      return parseLabelExpression(text);
    } catch (e) {
      return this.fail(path, (e as Error).message);
    }
  }

  /** A selector's labels: a map of keys to a value or a list of values, or an expression. */
  labels(v: unknown, path: PolicyPath): LabelMatch[] {
    if (typeof v === "string") return this.labelExpression(v, path);
    if (!isMap(v)) {
      return this.fail(path, `labels must be a map or a label expression, got ${typeName(v)}`);
    }
    const keys = Object.keys(v);
    if (keys.length === 0) this.fail(path, `empty labels map (use "*" for any address)`);
    const out: LabelMatch[] = [];
    for (const key of keys) {
      const at = [...path, key];
      const val = v[key];
      const keyProblem = labelKeyProblem(key);
      if (keyProblem) this.fail(at, keyProblem, true);
      let values: string[];
      if (typeof val === "string") values = [val];
      else if (Array.isArray(val) && val.length > 0 && val.every((x) => typeof x === "string")) {
        values = [...new Set(val as string[])];
      } else {
        return this.fail(
          at,
          `label "${key}" must be a string or a non-empty list of strings, got ${
            typeName(val)
          } (quote numbers and booleans)`,
        );
      }
      for (const value of values) {
        const problem = labelValueProblem(value);
        if (problem) this.fail(at, problem);
      }
      out.push({ key, op: typeof val === "string" ? "=" : "in", values });
    }
    return out;
  }

  /** A selector's node names, each noted for the check against the members. */
  names(v: unknown, path: PolicyPath): string[] {
    if (!Array.isArray(v) || v.length === 0) {
      return this.fail(path, `names must be a non-empty list of node names, got ${typeName(v)}`);
    }
    const out: string[] = [];
    v.forEach((n, i) => {
      const name = this.guard(() => this.nodeName(n, [...path, i]), null);
      if (name === null) return;
      this.refs.names.push({ name, path: [...path, i] });
      out.push(name);
    });
    return out;
  }

  /** A node name (a DNS label, any ASCII case), lowered. */
  nodeName(n: unknown, path: PolicyPath): string {
    // Node names are DNS labels; a selector may write them in any (ASCII) case.
    if (typeof n !== "string" || dnsLabelProblem(asciiLower(n)) !== undefined) {
      this.fail(path, `bad node name: ${typeName(n)} (a DNS label)`);
    }
    return n.toLowerCase();
  }

  /** A selector's prefixes, normalized; one with host bits set is refused. */
  cidrs(v: unknown, path: PolicyPath): string[] {
    if (!Array.isArray(v) || v.length === 0) {
      return this.fail(path, `cidrs must be a non-empty list of prefixes, got ${typeName(v)}`);
    }
    const out: string[] = [];
    v.forEach((c, i) => {
      const at = [...path, i];
      if (typeof c !== "string") return this.note(at, `bad CIDR: ${typeName(c)}`);
      const cidr = Cidr.tryParse(c);
      if (cidr === null) return this.note(at, `bad CIDR "${c}"`);
      if (cidr.hasHostBits) {
        this.note(at, `bad CIDR "${c}": host bits set past /${cidr.bits} (did you mean ${cidr}?)`);
      } else out.push(cidr.toString());
    });
    return out;
  }
}
