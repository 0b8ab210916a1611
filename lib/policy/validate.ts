/**
 * The policy validator: turns a plain value (parsed YAML or the JSON wire form) into a
 * {@linkcode PolicyDocument}, reporting every problem with its path and line, not only the first.
 * The format it accepts is described in `schema.ts`. The document, its rules and its tests are
 * checked here; the segments in `validate_segments.ts`, the call rules in `validate_calls.ts`, with
 * the machinery they share in `validator.ts`.
 * @module
 */

import { dnsLabelProblem } from "../net/names.ts";
import { parseAddress } from "../net/ip.ts";
import type { Selector } from "./selector.ts";
import { parseBurst, parseRate, type QosClass, type RuleQos } from "./qos.ts";
import {
  DEFAULT_PRIORITY,
  type LineLocator,
  MAX_RULES,
  MAX_TESTS,
  type PolicyAction,
  type PolicyDefaults,
  type PolicyDocument,
  PolicyError,
  type PolicyPath,
  type PolicyProblem,
  type PolicyProto,
  type PolicyRule,
  type PolicyTest,
  type PortRange,
} from "./model.ts";
import { callRules } from "./validate_calls.ts";
import { segments } from "./validate_segments.ts";
import { asciiLower, isMap, NAME_RE, type SelectorRefs, typeName, Validator } from "./validator.ts";

export type { SelectorRefs } from "./validator.ts";

const PORT_RE = /^(0|[1-9][0-9]{0,4})$/;
const RANGE_RE = /^\s*(0|[1-9][0-9]{0,4})\s*-\s*(0|[1-9][0-9]{0,4})\s*$/;
const ROOT_KEYS = ["calls", "defaults", "future", "policies", "segments", "tests"];
const TEST_KEYS = ["from", "to", "proto", "port", "expect"];
const DEFAULT_KEYS = ["inbound", "outbound"];
const RULE_KEYS = [
  "name",
  "description",
  "action",
  "priority",
  "from",
  "to",
  "proto",
  "ports",
  "qos",
];
const QOS_KEYS = ["rate", "burst", "class"];

/** The {@linkcode Validator} of a whole document; the segments and call rules are checked apart. */
class DocumentValidator extends Validator {
  document(value: unknown): PolicyDocument {
    if (value === null || value === undefined) return { defaults: {}, policies: [] };
    if (!isMap(value)) this.fail([], `a policy document is a map, got ${typeName(value)}`);
    this.checkKeys(value, ROOT_KEYS, [], "the document");
    const defaults = this.guard(() => this.defaults(value.defaults), {});
    const policies = this.guard(() => this.rules(value.policies), []);
    const segs = this.guard(() => segments(this, value.segments), []);
    const future = this.guard(() => this.future(value.future), []);
    const tests = this.guard(() => this.tests(value.tests), []);
    const calls = this.guard(() => callRules(this, value.calls), []);
    const doc: PolicyDocument = { defaults, policies };
    if (segs.length) doc.segments = segs;
    if (future.length) doc.future = future;
    if (tests.length) doc.tests = tests;
    if (calls.length) doc.calls = calls;
    return doc;
  }

  defaults(d: unknown): PolicyDefaults {
    const defaults: PolicyDefaults = {};
    if (d === undefined || d === null) return defaults;
    if (!isMap(d)) this.fail(["defaults"], `defaults must be a map, got ${typeName(d)}`);
    this.checkKeys(d, DEFAULT_KEYS, ["defaults"], "defaults");
    for (const dir of ["inbound", "outbound"] as const) {
      if (d[dir] === undefined) continue;
      const action = this.guard(() => this.action(d[dir], ["defaults", dir]), undefined);
      if (action !== undefined) defaults[dir] = action;
    }
    return defaults;
  }

  rules(value: unknown): PolicyRule[] {
    const list = value ?? [];
    if (!Array.isArray(list)) {
      this.fail(["policies"], `policies must be a list of rules, got ${typeName(list)}`);
    }
    if (list.length > MAX_RULES) {
      this.fail(["policies"], `${list.length} rules is more than the limit of ${MAX_RULES}`);
    }
    const seen = new Map<string, number>();
    const policies: PolicyRule[] = [];
    for (let i = 0; i < list.length; i++) {
      const rule = this.guard(() => this.rule(list[i], ["policies", i]), null);
      if (rule === null) continue;
      const first = seen.get(rule.name);
      if (first !== undefined) {
        const at = this.line(["policies", first, "name"]);
        this.note(
          ["policies", i, "name"],
          `duplicate rule name "${rule.name}" (first used by policies[${first}]${
            at === undefined ? "" : ` at line ${at}`
          })`,
        );
      } else if (typeof rule.name === "string") seen.set(rule.name, i);
      policies.push(rule);
    }
    return policies;
  }

  future(value: unknown): string[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.fail(["future"], `future must be a list of node names, got ${typeName(value)}`);
    }
    if (value.length > MAX_RULES) {
      this.fail(["future"], `${value.length} names is more than the limit of ${MAX_RULES}`);
    }
    const out: string[] = [];
    value.forEach((n, i) => {
      const name = this.guard(() => this.nodeName(n, ["future", i]), null);
      if (name !== null && !out.includes(name)) out.push(name);
    });
    return out;
  }

  tests(value: unknown): PolicyTest[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.fail(["tests"], `tests must be a list of flows, got ${typeName(value)}`);
    }
    if (value.length > MAX_TESTS) {
      this.fail(["tests"], `${value.length} tests is more than the limit of ${MAX_TESTS}`);
    }
    const out: PolicyTest[] = [];
    value.forEach((t, i) => {
      const test = this.guard(() => this.test(t, ["tests", i]), null);
      if (test !== null) out.push(test);
    });
    return out;
  }

  test(v: unknown, path: PolicyPath): PolicyTest {
    const shape =
      `a test is a map like { from: web1, to: db1, proto: tcp, port: 5432, expect: allow }`;
    if (!isMap(v)) return this.fail(path, `${shape}, got ${typeName(v)}`);
    this.checkKeys(v, TEST_KEYS, path, "a test");
    const p = (k: string) => [...path, k];
    const end = (k: "from" | "to"): string => {
      const x = v[k];
      if (x === undefined) this.fail(path, `a test needs ${k} (a node name or an address)`);
      if (
        typeof x !== "string" ||
        (parseAddress(x.trim()) === null && dnsLabelProblem(asciiLower(x.trim())) !== undefined)
      ) {
        this.fail(p(k), `bad ${k}: expected a node name or an address, got ${typeName(x)}`);
      }
      return x.trim();
    };
    const from = this.guard(() => end("from"), "");
    const to = this.guard(() => end("to"), "");
    let proto: PolicyProto = "tcp";
    if (v.proto !== undefined) {
      if (v.proto !== "tcp" && v.proto !== "udp" && v.proto !== "icmp" && v.proto !== "any") {
        this.note(
          p("proto"),
          `bad proto: expected tcp, udp, icmp or any, got ${typeName(v.proto)}`,
        );
      } else proto = v.proto;
    }
    const test: PolicyTest = { from, to, proto, expect: "allow" };
    if (proto === "tcp" || proto === "udp") {
      if (v.port === undefined) this.note(path, `a ${proto} test needs a port`);
      else if (
        typeof v.port !== "number" || !Number.isInteger(v.port) || v.port < 1 || v.port > 65535
      ) {
        this.note(p("port"), `bad port: expected 1-65535, got ${typeName(v.port)}`);
      } else test.port = v.port;
    } else if (v.port !== undefined) {
      this.note(
        p("port"),
        `a port goes only with proto tcp or udp (this test's proto is ${proto})`,
      );
    }
    if (v.expect === undefined) this.note(path, `a test needs expect (allow or deny)`);
    else if (v.expect !== "allow" && v.expect !== "deny") {
      this.note(p("expect"), `bad expect: expected allow or deny, got ${typeName(v.expect)}`);
    } else test.expect = v.expect;
    return test;
  }

  rule(v: unknown, path: PolicyPath): PolicyRule {
    if (!isMap(v)) return this.fail(path, `a rule is a map, got ${typeName(v)}`);
    // A rate, burst or traffic class written on the rule itself belongs under its qos key.
    for (const k of QOS_KEYS) {
      if (v[k] !== undefined) {
        this.note(
          [...path, k],
          `${k} goes under the rule's qos key (qos: { ${k}: ${JSON.stringify(v[k])} })`,
          true,
        );
      }
    }
    this.checkKeys(v, [...RULE_KEYS, ...QOS_KEYS], path, "a rule");
    const p = (k: string) => [...path, k];
    if (v.name === undefined) this.note(path, `a rule needs a name`);
    else if (typeof v.name !== "string" || !NAME_RE.test(v.name)) {
      this.note(
        p("name"),
        `bad rule name: ${
          typeName(v.name)
        } (letters, digits, "._-", at most 63, starting with a letter or digit)`,
      );
    }
    let action: PolicyAction | undefined;
    if (v.action === undefined) this.note(path, `rule "${v.name}" needs an action (allow or deny)`);
    else action = this.guard(() => this.action(v.action, p("action")), undefined);
    let description: string | undefined;
    if (v.description !== undefined) {
      if (typeof v.description !== "string") {
        this.note(p("description"), `description must be a string, got ${typeName(v.description)}`);
      } else description = v.description;
    }
    const priority = v.priority === undefined
      ? DEFAULT_PRIORITY
      : this.guard(() => this.priority(v.priority, p("priority")), DEFAULT_PRIORITY);
    let proto: PolicyProto | undefined = "any";
    if (v.proto !== undefined) {
      if (v.proto !== "tcp" && v.proto !== "udp" && v.proto !== "icmp" && v.proto !== "any") {
        this.note(
          p("proto"),
          `bad proto: expected tcp, udp, icmp or any, got ${typeName(v.proto)}`,
        );
        proto = undefined; // unknown: the ports are checked alone
      } else proto = v.proto;
    }
    let ports: PortRange[] = [];
    if (v.ports !== undefined) {
      if (proto !== undefined && proto !== "tcp" && proto !== "udp") {
        this.note(
          p("ports"),
          `ports apply only to proto tcp or udp (this rule's proto is ${proto}); write one rule per protocol`,
        );
      } else ports = this.guard(() => this.ports(v.ports, p("ports")), []);
    }
    const any: Selector = [{ kind: "any" }];
    const from = v.from === undefined
      ? any
      : this.guard(() => this.selector(v.from, p("from")), any);
    const to = v.to === undefined ? any : this.guard(() => this.selector(v.to, p("to")), any);
    const rule: PolicyRule = {
      name: v.name as string,
      action: action ?? "deny",
      priority,
      from,
      to,
      proto: proto ?? "any",
      ports,
    };
    if (description !== undefined) rule.description = description;
    if (v.qos !== undefined) {
      if (action === "deny") {
        this.note(p("qos"), `qos applies only to allow rules (rule "${v.name}" denies)`, true);
      } else {
        const qos = this.guard(() => this.qos(v.qos, p("qos")), undefined);
        if (qos !== undefined) rule.qos = qos;
      }
    }
    return rule;
  }

  qos(v: unknown, path: PolicyPath): RuleQos {
    if (!isMap(v)) {
      return this.fail(
        path,
        `qos must be a map with rate, burst or class (e.g. { rate: 20mbit }), got ${typeName(v)}`,
      );
    }
    this.checkKeys(v, QOS_KEYS, path, "qos");
    const q: RuleQos = {};
    if (v.rate !== undefined) {
      try {
        q.rate = parseRate(v.rate);
      } catch (e) {
        this.fail([...path, "rate"], (e as Error).message);
      }
    }
    if (v.burst !== undefined) {
      if (q.rate === undefined) {
        this.fail(
          [...path, "burst"],
          `burst goes with a rate (qos: { rate: 20mbit, burst: 64kb })`,
        );
      }
      try {
        q.burst = parseBurst(v.burst);
      } catch (e) {
        this.fail([...path, "burst"], (e as Error).message);
      }
    }
    if (v.class !== undefined) {
      if (v.class !== "interactive" && v.class !== "bulk") {
        this.fail(
          [...path, "class"],
          `bad class: expected interactive or bulk, got ${typeName(v.class)}`,
        );
      }
      q.class = v.class as QosClass;
    }
    if (q.rate === undefined && q.class === undefined) {
      this.fail(path, `qos needs a rate or a class (e.g. { rate: 20mbit } or { class: bulk })`);
    }
    return q;
  }

  ports(v: unknown, path: PolicyPath): PortRange[] {
    const items = Array.isArray(v) ? v : [v];
    if (items.length === 0) this.fail(path, `empty ports list (leave ports out for every port)`);
    const out: PortRange[] = [];
    for (let i = 0; i < items.length; i++) {
      const at = Array.isArray(v) ? [...path, i] : path;
      const range = this.guard(() => this.portRange(items[i], at), null);
      if (range !== null) out.push(range);
    }
    return out;
  }

  portRange(v: unknown, path: PolicyPath): PortRange {
    const port = (n: number, text: unknown): number => {
      if (!Number.isInteger(n) || n < 1 || n > 65535) {
        this.fail(path, `bad port ${typeName(text)}: ports are 1-65535`);
      }
      return n;
    };
    if (typeof v === "number") {
      const n = port(v, v);
      return { from: n, to: n };
    }
    if (typeof v === "string") {
      if (PORT_RE.test(v.trim())) {
        const n = port(Number(v.trim()), v);
        return { from: n, to: n };
      }
      const m = RANGE_RE.exec(v);
      if (!m) {
        this.fail(path, `bad port range ${typeName(v)}: expected a port or "first-last"`);
      }
      const a = port(Number(m[1]), v);
      const b = port(Number(m[2]), v);
      if (a > b) this.fail(path, `bad port range "${v}": ${a} is after ${b}`);
      return { from: a, to: b };
    }
    return this.fail(path, `bad port: expected a number or "first-last", got ${typeName(v)}`);
  }
}

/**
 * A plain value validated as far as it goes: the document (to be used only when there are no
 * problems), every problem found, and where its selectors name members (for `check.ts`).
 */
export interface ValidatedPolicy {
  /** The document, with the parts that had problems left out or defaulted. */
  doc: PolicyDocument;
  /** Every problem, in the order found. */
  problems: PolicyProblem[];
  /** The selectors' names and label terms, with their places. */
  refs: SelectorRefs;
}

/** Validates a plain value, collecting every problem instead of throwing. */
export function validatePolicyParts(value: unknown, locate?: LineLocator): ValidatedPolicy {
  const v = new DocumentValidator(locate ?? (() => undefined));
  const doc = v.guard(() => v.document(value), { defaults: {}, policies: [] });
  return { doc, problems: v.problems, refs: v.refs };
}

/**
 * Validates a plain value (parsed YAML or the JSON wire form) into a policy document; throws a
 * `PolicyError` listing every problem. `locate` maps paths to source lines when known.
 */
export function validatePolicy(value: unknown, locate?: LineLocator): PolicyDocument {
  const r = validatePolicyParts(value, locate);
  if (r.problems.length) throw PolicyError.of(r.problems);
  return r.doc;
}
