/**
 * `weft policy test` and the dashboard's "why": which rule (or default) decides a flow described
 * by names or addresses, and the verdict at each end, from a compiled policy.
 * @module
 */

import type { Member, MembershipView } from "../members/member.ts";
import { formatAddress, parseAddress, parseAddressV4, parseAddressV6 } from "../net/ip.ts";
import { FlowInfo, ICMP_KIND_ECHO_REQUEST, RULE_PROTO_ICMP, RULE_PROTO_OTHER } from "./packet.ts";
import type { PolicyAction, PolicyProto } from "./schema.ts";
import { type CompiledPolicy, INBOUND, OUTBOUND, protoNumber, wordsOf } from "./compiled.ts";
import { describeQos, effectiveBurst, formatBurst, formatRate, type QosClass } from "./qos.ts";

/** What `explain` is asked: would a packet from `from` to `to` pass? */
export interface ExplainQuery {
  /** Source: a member name or an IP address. */
  from: string;
  /** Destination: a member name or an IP address. */
  to: string;
  /** Protocol; `any` stands for a protocol other than tcp, udp and icmp. */
  proto: PolicyProto;
  /** Destination port (required for tcp and udp). */
  port?: number;
}

/** A deciding rule's quality of service, as `explain` shows it. */
export interface ExplainQos {
  /** The rate limit, e.g. `"20mbit"`. */
  rate?: string;
  /** The burst in force, e.g. `"256kb"` (the default's when the rule gives none). */
  burst?: string;
  /** True when `burst` is the default of the rate. */
  burstDefault?: boolean;
  /** The traffic class. */
  class?: QosClass;
}

/** One end of an explained flow. */
export interface ExplainEndpoint {
  /** The address judged. */
  address: string;
  /** The member owning it, if any. */
  member?: string;
}

/** Which rule (or default) decides a flow, and the verdict at each end. */
export interface Explanation {
  /** True when the source lets it out and the destination lets it in. */
  allowed: boolean;
  /** What decided. */
  decidedBy: "rule" | "default" | "no-policy" | "established";
  /** The deciding rule (with its quality of service, when it has one). */
  rule?: {
    name: string;
    action: PolicyAction;
    priority: number;
    description?: string;
    qos?: ExplainQos;
  };
  /** The verdict on the source node (outbound). */
  outbound: PolicyAction;
  /** The verdict on the destination node (inbound). */
  inbound: PolicyAction;
  /** The defaults in force (used when no rule matches). */
  defaults: { outbound: PolicyAction; inbound: PolicyAction };
  /** The source. */
  from: ExplainEndpoint;
  /** The destination. */
  to: ExplainEndpoint;
  /** The protocol asked about. */
  proto: PolicyProto;
  /** The destination port asked about. */
  port?: number;
  /** One sentence for humans. */
  summary: string;
}

/** An explained endpoint resolved to an address (and its member, if any). */
export interface ExplainResolved {
  /** The 4- or 16-byte address. */
  bytes: Uint8Array;
  /** The member owning it. */
  member?: Member;
}

function resolveEndpoint(
  text: string,
  view: MembershipView | null,
  family?: 4 | 6,
): ExplainResolved {
  const t = text.trim();
  const literal = parseAddress(t);
  const members = view?.members ?? [];
  if (literal) {
    const addr = formatAddress(literal);
    const member = members.find((m) =>
      [m.address, m.address6].some((a) => {
        if (!a) return false;
        const b = parseAddress(a);
        return b !== null && formatAddress(b) === addr;
      })
    );
    return { bytes: literal, member };
  }
  const member = members.find((m) => m.name.toLowerCase() === t.toLowerCase());
  if (!member) throw new Error(`"${text}" is neither an IP address nor a member of the mesh`);
  const v4 = parseAddressV4(member.address);
  const v6 = member.address6 ? parseAddressV6(member.address6) : null;
  if (family === 6) {
    if (!v6) throw new Error(`member ${member.name} has no IPv6 address`);
    return { bytes: v6, member };
  }
  if (family === 4 || v4) {
    if (!v4) throw new Error(`member ${member.name} has no IPv4 address`);
    return { bytes: v4, member };
  }
  if (!v6) throw new Error(`member ${member.name} has no usable address`);
  return { bytes: v6, member };
}

/** Builds the flow an `ExplainQuery` describes; throws on unknown names or a missing port. */
export function explainFlow(
  q: ExplainQuery,
  view: MembershipView | null,
): { flow: FlowInfo; from: ExplainResolved; to: ExplainResolved } {
  let from = resolveEndpoint(q.from, view);
  let to = resolveEndpoint(q.to, view, from.bytes.length === 4 ? 4 : 6);
  if (from.bytes.length !== to.bytes.length) {
    // A literal IPv6 destination with a named source: use the source's IPv6 address.
    from = resolveEndpoint(q.from, view, to.bytes.length === 4 ? 4 : 6);
    to = resolveEndpoint(q.to, view, from.bytes.length === 4 ? 4 : 6);
  }
  const f = new FlowInfo();
  f.family = from.bytes.length === 4 ? 4 : 6;
  const fw = wordsOf(from.bytes);
  const tw = wordsOf(to.bytes);
  f.addr.set(fw, 0);
  f.addr.set(tw, 4);
  if (q.proto === "tcp" || q.proto === "udp") {
    const port = q.port;
    if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`${q.proto} needs a destination port 1-65535`);
    }
    f.proto = f.ruleProto = protoNumber(q.proto);
    f.sport = 40000;
    f.dport = port;
  } else if (q.proto === "icmp") {
    f.proto = f.family === 4 ? 1 : 58;
    f.ruleProto = RULE_PROTO_ICMP;
    f.icmpKind = ICMP_KIND_ECHO_REQUEST;
    f.sport = 1;
  } else {
    f.proto = 47; // GRE, as "some other protocol"
    f.ruleProto = RULE_PROTO_OTHER;
  }
  return { flow: f, from, to };
}

/** The explanation of a flow already built by `explainFlow`, by the rules alone. */
export function explainWith(
  compiled: CompiledPolicy,
  q: ExplainQuery,
  built: { flow: FlowInfo; from: ExplainResolved; to: ExplainResolved },
): Explanation {
  const r = compiled.match(built.flow);
  const out = compiled.verdict(OUTBOUND, r) ? "allow" : "deny";
  const inn = compiled.verdict(INBOUND, r) ? "allow" : "deny";
  const fromEp: ExplainEndpoint = { address: formatAddress(built.from.bytes) };
  if (built.from.member) fromEp.member = built.from.member.name;
  const toEp: ExplainEndpoint = { address: formatAddress(built.to.bytes) };
  if (built.to.member) toEp.member = built.to.member.name;
  const allowed = out === "allow" && inn === "allow";
  const e: Explanation = {
    allowed,
    decidedBy: !compiled.active ? "no-policy" : r >= 0 ? "rule" : "default",
    outbound: out,
    inbound: inn,
    defaults: {
      outbound: compiled.defaultAllow[OUTBOUND] ? "allow" : "deny",
      inbound: compiled.defaultAllow[INBOUND] ? "allow" : "deny",
    },
    from: fromEp,
    to: toEp,
    proto: q.proto,
    summary: "",
  };
  if (q.port !== undefined && (q.proto === "tcp" || q.proto === "udp")) e.port = q.port;
  const what = flowLabel(e);
  if (r >= 0) {
    const rule = compiled.rules[r];
    e.rule = { name: rule.name, action: rule.action, priority: rule.priority };
    if (rule.description !== undefined) e.rule.description = rule.description;
    e.summary =
      `${what}: ${rule.action === "allow" ? "allowed" : "denied"} by rule "${rule.name}" ` +
      `(priority ${rule.priority})`;
    const q = rule.qos;
    if (q !== undefined) {
      const shown: ExplainQos = {};
      if (q.rate !== undefined) {
        shown.rate = formatRate(q.rate);
        shown.burst = formatBurst(effectiveBurst({ ...q, rate: q.rate }));
        if (q.burst === undefined) shown.burstDefault = true;
      }
      if (q.class !== undefined) shown.class = q.class;
      e.rule.qos = shown;
      e.summary += `; qos: ${describeQos(q)}`;
    }
  } else if (!compiled.active) {
    e.summary = `${what}: allowed (no policy is set)`;
  } else {
    e.summary = `${what}: no rule matches; ${
      allowed ? "allowed" : "denied"
    } by the defaults (outbound ${e.defaults.outbound}, inbound ${e.defaults.inbound}${
      fromEp.member && toEp.member ? "; between members both apply" : ""
    })`;
  }
  return e;
}

/** A short label for an explained flow: `tcp/443 web -> app`. */
export function flowLabel(e: Explanation): string {
  const port = e.port === undefined ? "" : `/${e.port}`;
  return `${e.proto}${port} ${e.from.member ?? e.from.address} -> ${e.to.member ?? e.to.address}`;
}
