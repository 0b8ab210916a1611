/**
 * The policy document's JSON-safe, YAML-shaped form: what the leader distributes with the
 * membership and what `weft policy` prints; `policyFromWire` reads it back through the validator.
 * @module
 */

import type { SegmentDriverName } from "../segments/segments.ts";
import { formatLabelExpression, type Selector, type SelectorTerm } from "./selector.ts";
import { qosToWire, type RuleQosWire } from "./qos.ts";
import type {
  CallerTerm,
  CallRule,
  PolicyAction,
  PolicyDefaults,
  PolicyDocument,
  PolicyProto,
  PolicyTest,
} from "./model.ts";
import { validatePolicy } from "./validate.ts";

/** The JSON-safe, YAML-shaped form of a selector. */
export type SelectorWire =
  | string
  | { labels: Record<string, string | string[]> | string }
  | { names: string[] }
  | { cidrs: string[] }
  | SelectorWire[];

/** The JSON-safe, YAML-shaped form of a rule. */
export interface PolicyRuleWire {
  /** Rule name. */
  name: string;
  /** Free text. */
  description?: string;
  /** Allow or deny. */
  action: PolicyAction;
  /** Lower is tried first. */
  priority: number;
  /** Source selector. */
  from: SelectorWire;
  /** Destination selector. */
  to: SelectorWire;
  /** Protocol. */
  proto: PolicyProto;
  /** Ports as numbers and `"first-last"` strings. */
  ports?: (number | string)[];
  /** Quality of service, units written out (`"20mbit"`, `"64kb"`). */
  qos?: RuleQosWire;
}

/** The JSON-safe form of a document, for distribution with the membership and for YAML output. */
export interface PolicyWire {
  /** Explicit defaults, if any. */
  defaults?: PolicyDefaults;
  /** Names of members expected to join, if any. */
  future?: string[];
  /** Rules in file order. */
  policies: PolicyRuleWire[];
  /** Layer 2 segments, if any. */
  segments?: SegmentWire[];
  /** The file's tests, if any. */
  tests?: PolicyTest[];
  /** Who may call which service, if said. */
  calls?: CallRuleWire[];
}

/** A call rule's `from` in the wire form: a selector, which may also name services. */
export type CallerWire = SelectorWire | { services: string[] } | CallerWire[];

/** The JSON-safe, YAML-shaped form of a call rule. */
export interface CallRuleWire {
  /** Rule name. */
  name: string;
  /** Free text. */
  description?: string;
  /** Allow or deny. */
  action: PolicyAction;
  /** Lower is tried first. */
  priority: number;
  /** The callers. */
  from: CallerWire;
  /** The service, or `*`. */
  service: string;
  /** The actions, absent for every one. */
  actions?: string[];
}

/** A segment in the wire form. */
export interface SegmentWire {
  /** Its name. */
  name: string;
  /** Its VNI. */
  vni: number;
  /** Its members. */
  select: SelectorWire;
  /** Its MTU, when set. */
  mtu?: number;
  /** Its data plane. */
  driver: SegmentDriverName;
}

function termToWire(t: SelectorTerm): SelectorWire {
  switch (t.kind) {
    case "any":
      return "*";
    case "names":
      return { names: [...t.names] };
    case "cidrs":
      return { cidrs: [...t.cidrs] };
    case "labels": {
      const keys = new Set(t.match.map((m) => m.key));
      const mapForm = keys.size === t.match.length &&
        t.match.every((m) => m.op === "=" || m.op === "in");
      if (!mapForm) return { labels: formatLabelExpression(t.match) };
      const labels: Record<string, string | string[]> = {};
      for (const m of t.match) labels[m.key] = m.op === "=" ? m.values[0] : [...m.values];
      return { labels };
    }
  }
}

function selectorToWire(s: Selector): SelectorWire {
  return s.length === 1 ? termToWire(s[0]) : s.map(termToWire);
}

function callerToWire(t: CallerTerm): CallerWire {
  return t.kind === "services" ? { services: [...t.services] } : termToWire(t);
}

function callRuleToWire(r: CallRule): CallRuleWire {
  return {
    name: r.name,
    ...(r.description !== undefined ? { description: r.description } : {}),
    action: r.action,
    priority: r.priority,
    from: r.from.length === 1 ? callerToWire(r.from[0]) : r.from.map(callerToWire),
    service: r.service,
    ...(r.actions.length ? { actions: [...r.actions] } : {}),
  };
}

/** The JSON-safe form of a document; `policyFromWire` (or YAML parsing) reads it back. */
export function policyToWire(doc: PolicyDocument): PolicyWire {
  const hasDefaults = doc.defaults.inbound !== undefined || doc.defaults.outbound !== undefined;
  // Defaults first, as people write them.
  const out: PolicyWire = {
    ...(hasDefaults ? { defaults: { ...doc.defaults } } : {}),
    ...(doc.future?.length ? { future: [...doc.future] } : {}),
    policies: [],
  };
  for (const r of doc.policies) {
    const w: PolicyRuleWire = {
      name: r.name,
      action: r.action,
      priority: r.priority,
      from: selectorToWire(r.from),
      to: selectorToWire(r.to),
      proto: r.proto,
    };
    if (r.description !== undefined) w.description = r.description;
    if (r.ports.length > 0) {
      w.ports = r.ports.map((p) => p.from === p.to ? p.from : `${p.from}-${p.to}`);
    }
    if (r.qos !== undefined) w.qos = qosToWire(r.qos);
    out.policies.push(w);
  }
  if (doc.segments?.length) {
    out.segments = doc.segments.map((g) => ({
      name: g.name,
      vni: g.vni,
      select: selectorToWire(g.select),
      ...(g.mtu !== undefined ? { mtu: g.mtu } : {}),
      driver: g.driver,
    }));
  }
  if (doc.tests?.length) {
    out.tests = doc.tests.map((t) => ({
      from: t.from,
      to: t.to,
      proto: t.proto,
      ...(t.port !== undefined ? { port: t.port } : {}),
      expect: t.expect,
    }));
  }
  if (doc.calls?.length) out.calls = doc.calls.map(callRuleToWire);
  return out;
}

/** Validates the JSON wire form (e.g. from the membership) into a document; throws `PolicyError`. */
export function policyFromWire(value: unknown): PolicyDocument {
  return validatePolicy(value);
}
