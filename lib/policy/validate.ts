/**
 * The policy validator: turns a plain value (parsed YAML or the JSON wire form) into a
 * {@linkcode PolicyDocument}, reporting every problem with its path and line, not only the first.
 * The format it accepts is described in `schema.ts`. One concern, the format's every rule, hence
 * its length.
 * @module
 */

import { Cidr } from "../net/cidr.ts";
import {
  DEFAULT_SEGMENT_DRIVER,
  isSegmentDriverName,
  SEGMENT_DRIVERS,
} from "../segments/segments.ts";
import { dnsLabelProblem } from "../net/names.ts";
import { serviceNameProblem } from "../members/services.ts";
import { parseAddress } from "../net/ip.ts";
import { labelKeyProblem, labelValueProblem, parseLabelExpression } from "./selector.ts";
import type { LabelMatch, Selector, SelectorTerm } from "./selector.ts";
import { parseBurst, parseRate, type QosClass, type RuleQos } from "./qos.ts";
import {
  type CallerTerm,
  type CallRule,
  DEFAULT_PRIORITY,
  formatPath,
  type LineLocator,
  MAX_PRIORITY,
  MAX_RULES,
  MAX_SEGMENTS,
  MAX_TESTS,
  MAX_VNI,
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
  type Segment,
  SEGMENT_MTU_RANGE,
} from "./model.ts";

const SEGMENT_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/;
const SEGMENT_KEYS = ["name", "vni", "select", "mtu", "driver"];

// Only A-Z: toLowerCase would turn some non-ASCII letters (the Kelvin sign) into ASCII ones.
function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (c) => c.toLowerCase());
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const PORT_RE = /^(0|[1-9][0-9]{0,4})$/;
const RANGE_RE = /^\s*(0|[1-9][0-9]{0,4})\s*-\s*(0|[1-9][0-9]{0,4})\s*$/;
const ROOT_KEYS = ["calls", "defaults", "future", "policies", "segments", "tests"];
const CALL_KEYS = ["name", "description", "action", "priority", "from", "service", "actions"];
// As lib/services/wire.ts's action names (that layer is above this one).
const ACTION_NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
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
const SELECTOR_KEYS = ["labels", "names", "cidrs"];

function typeName(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (ArrayBuffer.isView(v)) return "binary data";
  if (typeof v === "object") return "a map";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

function isMap(v: unknown): v is Record<string, unknown> {
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
class Validator {
  readonly #locate: LineLocator;
  readonly problems: PolicyProblem[] = [];
  readonly refs: SelectorRefs = { names: [], labels: [] };

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

  action(v: unknown, path: PolicyPath): PolicyAction {
    if (v === "allow" || v === "deny") return v;
    return this.fail(path, `bad action: expected allow or deny, got ${typeName(v)}`);
  }

  document(value: unknown): PolicyDocument {
    if (value === null || value === undefined) return { defaults: {}, policies: [] };
    if (!isMap(value)) this.fail([], `a policy document is a map, got ${typeName(value)}`);
    this.checkKeys(value, ROOT_KEYS, [], "the document");
    const defaults = this.guard(() => this.defaults(value.defaults), {});
    const policies = this.guard(() => this.rules(value.policies), []);
    const segments = this.guard(() => this.segments(value.segments), []);
    const future = this.guard(() => this.future(value.future), []);
    const tests = this.guard(() => this.tests(value.tests), []);
    const calls = this.guard(() => this.calls(value.calls), []);
    const doc: PolicyDocument = { defaults, policies };
    if (segments.length) doc.segments = segments;
    if (future.length) doc.future = future;
    if (tests.length) doc.tests = tests;
    if (calls.length) doc.calls = calls;
    return doc;
  }

  calls(value: unknown): CallRule[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.fail(["calls"], `calls must be a list of call rules, got ${typeName(value)}`);
    }
    if (value.length > MAX_RULES) {
      this.fail(["calls"], `${value.length} call rules is more than the limit of ${MAX_RULES}`);
    }
    const out: CallRule[] = [];
    const seen = new Map<string, number>();
    value.forEach((r, i) => {
      const rule = this.guard(() => this.callRule(r, ["calls", i]), null);
      if (rule === null) return;
      const first = seen.get(rule.name);
      if (first !== undefined) {
        this.note(
          ["calls", i, "name"],
          `duplicate call rule name "${rule.name}" (first used by calls[${first}])`,
        );
        return;
      }
      seen.set(rule.name, i);
      out.push(rule);
    });
    return out;
  }

  callRule(v: unknown, path: PolicyPath): CallRule {
    const shape = `a call rule is a map like { name: web-bills, action: allow, from: "role=web", ` +
      `service: billing, actions: [charge] }`;
    if (!isMap(v)) return this.fail(path, `${shape}, got ${typeName(v)}`);
    this.checkKeys(v, CALL_KEYS, path, "a call rule");
    const p = (k: string) => [...path, k];
    if (typeof v.name !== "string" || !NAME_RE.test(v.name)) {
      this.fail(
        v.name === undefined ? path : p("name"),
        v.name === undefined
          ? `a call rule needs a name`
          : `bad call rule name: ${
            typeName(v.name)
          } (letters, digits, "._-", at most 63, starting with a letter or digit)`,
      );
    }
    let action: PolicyAction = "deny";
    if (v.action === undefined) {
      this.note(path, `call rule "${v.name}" needs an action (allow or deny)`);
    } else action = this.guard(() => this.action(v.action, p("action")), action);
    let description: string | undefined;
    if (v.description !== undefined) {
      if (typeof v.description !== "string") {
        this.note(p("description"), `description must be a string, got ${typeName(v.description)}`);
      } else description = v.description;
    }
    const priority = v.priority === undefined
      ? DEFAULT_PRIORITY
      : this.guard(() => this.priority(v.priority, p("priority")), DEFAULT_PRIORITY);
    let service = "*";
    if (v.service === undefined) {
      this.note(
        path,
        `call rule "${v.name}" needs a service (a service name, or "*" for every one)`,
      );
    } else if (
      typeof v.service !== "string" ||
      (v.service !== "*" && serviceNameProblem(v.service) !== undefined)
    ) {
      this.note(
        p("service"),
        `bad service: expected a service name or "*", got ${typeName(v.service)}`,
      );
    } else service = v.service;
    const actions: string[] = [];
    if (v.actions !== undefined) {
      const list = Array.isArray(v.actions) ? v.actions : [v.actions];
      if (list.length === 0) {
        this.note(p("actions"), `empty actions list (leave actions out for every action)`);
      }
      list.forEach((a, i) => {
        const at = Array.isArray(v.actions) ? [...p("actions"), i] : p("actions");
        if (typeof a !== "string" || !ACTION_NAME_RE.test(a) || a === "." || a === "..") {
          this.note(at, `bad action name: ${typeName(a)} (1 to 64 of A-Z a-z 0-9 _ . -)`);
        } else if (!actions.includes(a)) actions.push(a);
      });
    }
    const any: CallerTerm[] = [{ kind: "any" }];
    const from = v.from === undefined
      ? any
      : this.guard(() => this.callers(v.from, p("from")), any);
    const rule: CallRule = { name: v.name as string, action, priority, from, service, actions };
    if (description !== undefined) rule.description = description;
    return rule;
  }

  /** A call rule's `from`: a selector of members, which may also name the services they offer. */
  callers(v: unknown, path: PolicyPath): CallerTerm[] {
    if (Array.isArray(v)) {
      if (v.length === 0) this.fail(path, `empty selector list (use "*" for every member)`);
      const out: CallerTerm[] = [];
      for (let i = 0; i < v.length; i++) {
        if (Array.isArray(v[i])) this.note([...path, i], `a selector list cannot nest lists`);
        else out.push(...this.guard(() => this.callers(v[i], [...path, i]), []));
      }
      return out.some((t) => t.kind === "any") ? [{ kind: "any" }] : out;
    }
    if (isMap(v) && Object.hasOwn(v, "services")) {
      const keys = Object.keys(v);
      if (keys.length !== 1) {
        this.fail(
          path,
          `a selector map has exactly one of labels, names or services; use a list for alternatives`,
        );
      }
      const list = v.services;
      const at = [...path, "services"];
      if (!Array.isArray(list) || list.length === 0) {
        return this.fail(
          at,
          `services must be a non-empty list of service names, got ${typeName(list)}`,
        );
      }
      const services: string[] = [];
      list.forEach((n, i) => {
        if (typeof n !== "string" || serviceNameProblem(n) !== undefined) {
          this.note([...at, i], `bad service name: ${typeName(n)} (a lowercase DNS label)`);
        } else if (!services.includes(n)) services.push(n);
      });
      return [{ kind: "services", services }];
    }
    const terms = this.selector(v, path);
    const out: CallerTerm[] = [];
    for (const t of terms) {
      if (t.kind === "cidrs") {
        this.note(
          path,
          `a call rule's from picks members (labels, names, services or "*"), not cidrs`,
        );
      } else out.push(t);
    }
    return out;
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

  segments(list: unknown): Segment[] {
    if (list === undefined || list === null) return [];
    if (!Array.isArray(list)) {
      this.fail(["segments"], `segments must be a list, got ${typeName(list)}`);
    }
    if (list.length > MAX_SEGMENTS) {
      this.fail(["segments"], `${list.length} segments is more than the limit of ${MAX_SEGMENTS}`);
    }
    const out: Segment[] = [];
    const at: number[] = [];
    for (let i = 0; i < list.length; i++) {
      const seg = this.guard(() => this.segment(list[i], ["segments", i]), null);
      if (seg === null) continue;
      const twin = out.findIndex((o) => o.name === seg.name || o.vni === seg.vni);
      if (twin >= 0) {
        const what = out[twin].name === seg.name ? `name "${seg.name}"` : `vni ${seg.vni}`;
        this.note(
          ["segments", i],
          `duplicate segment ${what} (first used by segments[${at[twin]}])`,
        );
        continue;
      }
      out.push(seg);
      at.push(i);
    }
    return out;
  }

  segment(v: unknown, path: PolicyPath): Segment {
    if (!isMap(v)) return this.fail(path, `a segment is a map, got ${typeName(v)}`);
    this.checkKeys(v, SEGMENT_KEYS, path, "a segment");
    const p = (k: string) => [...path, k];
    if (typeof v.name !== "string" || !SEGMENT_NAME_RE.test(v.name)) {
      this.note(
        v.name === undefined ? path : p("name"),
        `bad segment name: ${
          typeName(v.name)
        } (1-12 of a-z, 0-9 and "-", starting and ending with a letter or digit)`,
      );
    }
    if (typeof v.vni !== "number" || !Number.isInteger(v.vni) || v.vni < 1 || v.vni > MAX_VNI) {
      this.note(
        v.vni === undefined ? path : p("vni"),
        `bad vni: expected an integer 1-${MAX_VNI}, got ${typeName(v.vni)}`,
      );
    }
    let select: Selector = [{ kind: "any" }];
    if (v.select === undefined) {
      this.note(path, `segment "${v.name}" needs select (the members in it, "*" for every one)`);
    } else {
      select = this.guard(() => this.selector(v.select, p("select")), select);
      if (select.some((t) => t.kind === "cidrs")) {
        this.note(p("select"), `a segment selects members (labels, names or "*"), not cidrs`);
      }
    }
    const seg: Segment = {
      name: v.name as string,
      vni: v.vni as number,
      select,
      driver: DEFAULT_SEGMENT_DRIVER,
    };
    if (v.mtu !== undefined) {
      const { min, max } = SEGMENT_MTU_RANGE;
      if (typeof v.mtu !== "number" || !Number.isInteger(v.mtu) || v.mtu < min || v.mtu > max) {
        this.note(p("mtu"), `bad mtu: expected an integer ${min}-${max}, got ${typeName(v.mtu)}`);
      } else seg.mtu = v.mtu;
    }
    if (v.driver !== undefined) {
      if (!isSegmentDriverName(v.driver)) {
        this.note(
          p("driver"),
          `bad driver: expected one of ${Object.keys(SEGMENT_DRIVERS).join(", ")}, got ${
            typeName(v.driver)
          }`,
        );
      } else seg.driver = v.driver;
    }
    return seg;
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

  labelExpression(text: string, path: PolicyPath): LabelMatch[] {
    try {
      return parseLabelExpression(text);
    } catch (e) {
      return this.fail(path, (e as Error).message);
    }
  }

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

  nodeName(n: unknown, path: PolicyPath): string {
    // Node names are DNS labels; a selector may write them in any (ASCII) case.
    if (typeof n !== "string" || dnsLabelProblem(asciiLower(n)) !== undefined) {
      this.fail(path, `bad node name: ${typeName(n)} (a DNS label)`);
    }
    return n.toLowerCase();
  }

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
  const v = new Validator(locate ?? (() => undefined));
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
