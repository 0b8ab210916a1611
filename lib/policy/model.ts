/**
 * The policy document as weft holds it once validated: rules, defaults, segments, tests, their
 * limits, and the error that lists a document's problems. The file format is described in
 * `schema.ts`; `validate.ts` makes these values, `wire.ts` writes them back out.
 * @module
 */

import type { SegmentDriverName } from "../segments/segments.ts";
import type { Selector, SelectorTerm } from "./selector.ts";
import type { RuleQos } from "./qos.ts";

export type { LabelMatch, LabelOp, Selector, SelectorTerm } from "./selector.ts";
export type { QosClass, RuleQos, RuleQosWire } from "./qos.ts";

/** What a rule does with the packets it matches. */
export type PolicyAction = "allow" | "deny";

/** The protocols a rule can name. */
export type PolicyProto = "tcp" | "udp" | "icmp" | "any";

/** Which way a packet crosses this node's tunnel. */
export type Direction = "outbound" | "inbound";

/** An inclusive range of destination ports. */
export interface PortRange {
  /** First port. */
  from: number;
  /** Last port (>= `from`). */
  to: number;
}

/** One rule, normalized. */
export interface PolicyRule {
  /** Unique name, used in counters and explanations. */
  name: string;
  /** Free text. */
  description?: string;
  /** Allow or deny. */
  action: PolicyAction;
  /** Lower is tried first. */
  priority: number;
  /** The packet's source. */
  from: Selector;
  /** The packet's destination. */
  to: Selector;
  /** The protocol. */
  proto: PolicyProto;
  /** Destination port ranges (tcp/udp only); empty means every port. */
  ports: PortRange[];
  /** Quality of service (allow rules only): a rate limit, its burst, a class. */
  qos?: RuleQos;
}

/** The actions taken when no rule matches; absent means the built-in default. */
export interface PolicyDefaults {
  /** For packets arriving from the tunnel. */
  inbound?: PolicyAction;
  /** For packets leaving into the tunnel. */
  outbound?: PolicyAction;
}

/** The data planes a segment can run on. */
export type { SegmentDriverName };

/**
 * A Layer 2 segment: an Ethernet bridge on every member its selector picks, joined to the
 * others' through the mesh (VXLAN inside the tunnels), isolated from every other segment.
 */
export interface Segment {
  /** Unique name, 1-12 of `a-z0-9-` (the bridge is `br-<name>`). */
  name: string;
  /** The VXLAN network identifier, 1-16777215, unique in the document. */
  vni: number;
  /** The members in the segment (labels, names; `*` for every member). */
  select: Selector;
  /** The segment's MTU; absent: the overlay's less the encapsulation. */
  mtu?: number;
  /** The data plane; default `vxlan`. */
  driver: SegmentDriverName;
}

/**
 * A flow a policy file says must be allowed or denied (its `tests:`), as `weft policy test`
 * asks about one: the leader refuses the file when the flow goes the other way.
 */
export interface PolicyTest {
  /** Source: a member name or an address. */
  from: string;
  /** Destination: a member name or an address. */
  to: string;
  /** Protocol (default tcp, as `weft policy test`'s). */
  proto: PolicyProto;
  /** Destination port (tcp and udp, where it is required). */
  port?: number;
  /** The verdict the flow must get. */
  expect: PolicyAction;
}

/**
 * Who a call rule's `from` picks, each term a way to name members: any member, by granted
 * labels, by name, or by a service the member offers (as its member record announces it).
 * Addresses (cidrs) have no place here: a call is made by a member, never by an address.
 */
export type CallerTerm =
  | Exclude<SelectorTerm, { kind: "cidrs" }>
  | { kind: "services"; services: string[] };

/**
 * One rule of who may call which service and action (the document's `calls`), checked by the
 * callee against the caller's WireGuard identity; see `calls.ts`.
 */
export interface CallRule {
  /** Unique among the call rules, named in refusals, counters and explanations. */
  name: string;
  /** Free text. */
  description?: string;
  /** Allow or deny. */
  action: PolicyAction;
  /** Lower is tried first. */
  priority: number;
  /** The callers it covers: any of the terms (never empty). */
  from: CallerTerm[];
  /** The service called, or `*` for every one. */
  service: string;
  /** The actions it covers; empty means every action of the service. */
  actions: string[];
}

/** A validated policy document. */
export interface PolicyDocument {
  /** Explicit defaults. */
  defaults: PolicyDefaults;
  /** Rules in file order. */
  policies: PolicyRule[];
  /** Layer 2 segments, absent or empty for none. */
  segments?: Segment[];
  /** Node names selectors may name before those members join (lower case), absent for none. */
  future?: string[];
  /** Flows that must be allowed or denied, checked where the policy is put in force. */
  tests?: PolicyTest[];
  /** Who may call which service and action, absent for none (every call is let through). */
  calls?: CallRule[];
}

/** Most segments a document may hold. */
export const MAX_SEGMENTS = 256;
/** The largest VXLAN network identifier (24 bits). */
export const MAX_VNI = 0xffffff;
/** A segment's smallest and largest MTU (IPv4's minimum; a jumbo frame). */
export const SEGMENT_MTU_RANGE = { min: 576, max: 9000 } as const;

/** Priority of a rule that gives none. */
export const DEFAULT_PRIORITY = 1000;
/** Highest allowed priority number. */
export const MAX_PRIORITY = 1_000_000;
/** Most rules a document may hold (and most names in its `future` list). */
export const MAX_RULES = 10_000;
/** Most tests a document may hold. */
export const MAX_TESTS = 1_000;

/** One problem of a policy document: where (line, path) and why. */
export interface PolicyProblem {
  /** 1-based line in the YAML source, when the document came from text. */
  line?: number;
  /** Where in the document, e.g. `policies[2].ports[0]` (empty: the whole document). */
  path: string;
  /** What is wrong. */
  reason: string;
}

/** Most problems a `PolicyError`'s message lists; the rest are counted. */
export const MAX_PROBLEMS_SHOWN = 20;

/** A problem as one line: `line 5: policies[1].action: bad action: ...`. */
export function formatProblem(p: PolicyProblem): string {
  const where = [p.line === undefined ? "" : `line ${p.line}`, p.path].filter((s) => s).join(": ");
  return where ? `${where}: ${p.reason}` : p.reason;
}

/**
 * A policy document that cannot be accepted: every problem found in it (`problems`, in file
 * order), the first one's line, path and reason also on the error itself.
 */
export class PolicyError extends Error {
  /** 1-based line in the YAML source, when the document came from text (the first problem's). */
  readonly line: number | undefined;
  /** Where in the document, e.g. `policies[2].ports[0]` (the first problem's). */
  readonly path: string;
  /** What is wrong (the first problem). */
  readonly reason: string;
  /** Every problem, this error's own first; one for an error made from one reason. */
  readonly problems: readonly PolicyProblem[];

  /** An error at `path` (and `line`, if known) for `reason`. */
  constructor(reason: string, path = "", line?: number) {
    super(formatProblem({ reason, path, line }));
    this.name = "PolicyError";
    this.line = line;
    this.path = path;
    this.reason = reason;
    this.problems = [{ reason, path, ...(line === undefined ? {} : { line }) }];
  }

  /**
   * One error for several problems (at least one): the message lists them one a line (at most
   * {@link MAX_PROBLEMS_SHOWN}, then how many more), sorted by line.
   */
  static of(problems: readonly PolicyProblem[]): PolicyError {
    const sorted = problems.map((p, i) => ({ p, i })).sort((a, b) =>
      (a.p.line ?? Infinity) - (b.p.line ?? Infinity) || a.i - b.i
    ).map((x) => x.p);
    const [first] = sorted;
    const e = new PolicyError(first.reason, first.path, first.line);
    if (sorted.length === 1) return e;
    const shown = sorted.slice(0, MAX_PROBLEMS_SHOWN).map((p) => `  ${formatProblem(p)}`);
    if (sorted.length > MAX_PROBLEMS_SHOWN) {
      shown.push(`  ... and ${sorted.length - MAX_PROBLEMS_SHOWN} more`);
    }
    e.message = `${sorted.length} problems:\n${shown.join("\n")}`;
    (e as { problems: readonly PolicyProblem[] }).problems = sorted;
    return e;
  }
}

/** A position in a plain value: keys and list indices from the root. */
export type PolicyPath = readonly (string | number)[];

/** Finds the source line of the value at a path (or of its key, when `key` is true). */
export type LineLocator = (path: PolicyPath, key: boolean) => number | undefined;

/** Formats a path as `policies[2].from.labels`. */
export function formatPath(path: PolicyPath): string {
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s === "" ? p : `.${p}`;
  return s;
}
