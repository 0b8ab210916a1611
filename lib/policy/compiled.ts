/**
 * A policy document compiled against a membership view into typed arrays, so judging a packet is
 * a couple of address-table probes, a short walk over the rules that can match, and integer
 * comparisons; no allocation.
 *
 * Compilation: every member's overlay addresses (IPv4 and IPv6) get an id. For each rule side
 * (`from`, `to`), label and name terms become a bitset over those ids (a member's addresses all
 * match together) and CIDR terms set the bits of member addresses inside them and are also kept as
 * prefix lists for addresses that are not members. For each address id, and for "not a member",
 * the rules whose `from` (or `to`) can match it are listed in priority order; rules whose side is
 * `*` are in shared lists, one per protocol and (for tcp and udp) 1024-port block of the
 * destination port. A packet walks the shorter of its source's and destination's lists (merged
 * with the matching `*` list), checking protocol, port and the other side's bit. Only rules that
 * could match are visited; the worst case is many `*` rules on ports near the packet's.
 *
 * Direction model on node N: `outbound` judges packets N sends into the tunnel, `inbound` packets
 * arriving from it. Rules read the same in both directions (a rule `web -> app` is enforced on web
 * as it sends and on app as it receives); only the default differs, and between two members both
 * defaults apply (see `schema.ts` and `CompiledPolicy.verdict`).
 * @module
 */

import type { Member, MembershipView } from "../members/member.ts";
import { Cidr } from "../net/cidr.ts";
import { formatAddress, parseAddress, PROTO_TCP, PROTO_UDP } from "../net/ip.ts";
import { FlowInfo, RULE_PROTO_ICMP } from "./packet.ts";
import type { Direction, PolicyDocument, PolicyProto, PolicyRule, Selector } from "./schema.ts";
import { termMatchesMember } from "./selector.ts";
import { AddressTable } from "./addresses.ts";
import { effectiveBurst, QOS_CLASS_TOS, RateBuckets } from "./qos.ts";

/** The UDP port of VXLAN (RFC 7348), which segments' frames travel to. */
export const VXLAN_PORT = 4789;

/** Numeric direction for the packet path: packets this node sends into the tunnel. */
export const OUTBOUND = 0;
/** Numeric direction for the packet path: packets arriving from the tunnel for this node. */
export const INBOUND = 1;
/**
 * `match` found no rule and neither address is a member's. Every negative result means "no rule";
 * the others (-2 to -4) also say which ends are members, for `verdict`.
 */
export const NO_RULE: number = -1;

const FROM = 0;
const TO = 1;

/** Ports per block in the protocol/port index of "*" rules (1024: 64 blocks). */
const PORT_BLOCK_BITS = 10;
const PORT_BLOCKS = 65536 >>> PORT_BLOCK_BITS;
/** Index keys: TCP blocks, UDP blocks, ICMP, anything else. */
const KEY_ICMP = 2 * PORT_BLOCKS;
const KEY_OTHER = KEY_ICMP + 1;
const KEY_COUNT = KEY_OTHER + 1;

/** Whether a rule can match packets of index key `key` (protocol, and port block for tcp/udp). */
function ruleCoversKey(rule: PolicyRule, key: number): boolean {
  const proto = key < PORT_BLOCKS ? "tcp" : key < KEY_ICMP ? "udp" : key === KEY_ICMP ? "icmp" : "";
  if (rule.proto !== "any" && rule.proto !== proto) return false;
  if (rule.ports.length === 0 || key >= KEY_ICMP) return true;
  const lo = (key % PORT_BLOCKS) << PORT_BLOCK_BITS;
  const hi = lo + (1 << PORT_BLOCK_BITS) - 1;
  return rule.ports.some((p) => p.from <= hi && p.to >= lo);
}

/** The numeric direction of a `Direction`. */
export function directionIndex(d: Direction): number {
  return d === "outbound" ? OUTBOUND : INBOUND;
}

/** The protocol number a rule's `proto` matches (0: any). */
export function protoNumber(p: PolicyProto): number {
  return p === "tcp" ? PROTO_TCP : p === "udp" ? PROTO_UDP : p === "icmp" ? RULE_PROTO_ICMP : 0;
}

/** An address's bytes as big-endian 32-bit words, as the address table keys them. */
export function wordsOf(bytes: Uint8Array): Int32Array {
  const w = new Int32Array(bytes.length / 4);
  for (let i = 0; i < w.length; i++) {
    w[i] = (bytes[4 * i] << 24) | (bytes[4 * i + 1] << 16) | (bytes[4 * i + 2] << 8) |
      bytes[4 * i + 3];
  }
  return w;
}

interface Endpoint {
  family: 4 | 6;
  words: Int32Array;
  bytes: Uint8Array;
  member: Member;
}

/** One side's per-rule data while compiling. */
interface SideBuild {
  any: Uint8Array;
  bits: Int32Array;
  hasCidr: Uint8Array;
  c4Off: Int32Array;
  c4: number[];
  c6Off: Int32Array;
  c6: number[];
}

/** A policy document bound to a membership view, ready for per-packet decisions. */
export class CompiledPolicy {
  /** False for "no policy": every packet passes. */
  readonly active: boolean;
  /** Changes with every policy or relevant membership change. */
  readonly generation: number;
  /** Rules in evaluation order (priority, then file order). */
  readonly rules: readonly PolicyRule[];
  /** 1 when the rule at that index allows. */
  readonly allow: Uint8Array;
  /** Default per numeric direction (1 = allow). */
  readonly defaultAllow: Uint8Array;
  /** Packets decided by each rule (allowed or dropped, per its action). */
  readonly hits: Float64Array;
  /** How many member addresses the view contributed. */
  readonly addressCount: number;
  /** Whether the document has Layer 2 segments (their VXLAN is then checked). */
  readonly segmented: boolean;
  /** Whether any rule has a rate (the filter then charges the packets of its flows). */
  readonly rated: boolean;
  /**
   * The rules' token buckets and their figures, by rule index (rate 0: a rule without a rate);
   * none at all (size 0) when no rule has a rate.
   */
  readonly buckets: RateBuckets;
  /** Whether any rule has a traffic class (the filter then marks its flows' packets). */
  readonly classed: boolean;
  /** Per rule, the TOS byte of its class ({@link QOS_CLASS_TOS}; 0: none). */
  readonly tos: Uint8Array;

  readonly #table: AddressTable;
  readonly #words: number;
  readonly #proto: Uint8Array;
  readonly #portOff: Int32Array;
  readonly #portLo: Int32Array;
  readonly #portHi: Int32Array;
  readonly #any: Uint8Array[];
  readonly #bits: Int32Array[];
  readonly #c4Off: Int32Array[];
  readonly #c4: Int32Array[];
  readonly #c6Off: Int32Array[];
  readonly #c6: Int32Array[];
  readonly #specOff: Int32Array[];
  readonly #spec: Int32Array[];
  readonly #anyOff: Int32Array[];
  readonly #anyList: Int32Array[];
  /** VNI to segment index. */
  readonly #segOf = new Map<number, number>();
  /** Per segment, per address id: 1 when that member is in the segment. */
  readonly #segIn: Uint8Array;

  /** Compiles `doc` (null: no policy) against `view` (null: no members). */
  constructor(doc: PolicyDocument | null, view: MembershipView | null, generation = 0) {
    this.generation = generation;
    const policies = doc?.policies ?? [];
    const defaults = doc?.defaults ?? {};
    this.active = policies.length > 0 || defaults.inbound !== undefined ||
      defaults.outbound !== undefined;
    const rules = policies.map((r, i) => ({ r, i }))
      .sort((a, b) => a.r.priority - b.r.priority || a.i - b.i)
      .map((x) => x.r);
    this.rules = rules;
    const R = rules.length;
    this.allow = Uint8Array.from(rules, (r) => r.action === "allow" ? 1 : 0);
    this.defaultAllow = new Uint8Array(2);
    this.defaultAllow[OUTBOUND] = !this.active || (defaults.outbound ?? "allow") === "allow"
      ? 1
      : 0;
    this.defaultAllow[INBOUND] = !this.active || (defaults.inbound ?? "deny") === "allow" ? 1 : 0;
    this.hits = new Float64Array(R);
    const rates = rules.map((r) => r.qos?.rate ?? 0);
    this.rated = rates.some((x) => x > 0);
    // Without a rate in the document, no buckets (a large policy would carry them for nothing).
    this.buckets = new RateBuckets(
      this.rated ? rates : [],
      this.rated
        ? rules.map((r) =>
          r.qos?.rate !== undefined ? effectiveBurst({ ...r.qos, rate: r.qos.rate }) : 0
        )
        : [],
    );
    this.tos = Uint8Array.from(rules, (r) => r.qos?.class ? QOS_CLASS_TOS[r.qos.class] : 0);
    this.classed = this.tos.some((t) => t !== 0);

    const endpoints = collectEndpoints(view);
    const A = endpoints.length;
    this.addressCount = A;
    const W = Math.max(1, (A + 31) >>> 5);
    this.#words = W;
    this.#table = new AddressTable(
      endpoints.filter((e) => e.family === 4).length,
      endpoints.filter((e) => e.family === 6).length,
    );
    endpoints.forEach((e, id) => this.#table.add(e.family, e.words, 0, id));

    const segments = doc?.segments ?? [];
    this.segmented = segments.length > 0;
    this.#segIn = new Uint8Array(segments.length * A);
    segments.forEach((g, i) => {
      this.#segOf.set(g.vni, i);
      endpoints.forEach((e, id) => {
        if (g.select.some((t) => termMatchesMember(t, e.member))) this.#segIn[i * A + id] = 1;
      });
    });

    this.#proto = Uint8Array.from(rules, (r) => protoNumber(r.proto));
    this.#portOff = new Int32Array(R + 1);
    const lo: number[] = [];
    const hi: number[] = [];
    rules.forEach((r, i) => {
      for (const p of r.ports) {
        lo.push(p.from);
        hi.push(p.to);
      }
      this.#portOff[i + 1] = lo.length;
    });
    this.#portLo = Int32Array.from(lo);
    this.#portHi = Int32Array.from(hi);

    const sides = [FROM, TO].map((side) =>
      buildSide(rules.map((r) => side === FROM ? r.from : r.to), endpoints, W)
    );
    this.#any = sides.map((s) => s.any);
    this.#bits = sides.map((s) => s.bits);
    this.#c4Off = sides.map((s) => s.c4Off);
    this.#c4 = sides.map((s) => Int32Array.from(s.c4));
    this.#c6Off = sides.map((s) => s.c6Off);
    this.#c6 = sides.map((s) => Int32Array.from(s.c6));
    this.#specOff = [];
    this.#spec = [];
    this.#anyOff = [];
    this.#anyList = [];
    for (const s of sides) {
      // Class A (one past the last id) is "an address that is not a member's".
      const off = new Int32Array(A + 2);
      const items: number[] = [];
      for (let c = 0; c <= A; c++) {
        for (let r = 0; r < R; r++) {
          if (s.any[r]) continue;
          const hit = c < A ? (s.bits[r * W + (c >>> 5)] & (1 << (c & 31))) !== 0 : s.hasCidr[r];
          if (hit) items.push(r);
        }
        off[c + 1] = items.length;
      }
      this.#specOff.push(off);
      this.#spec.push(Int32Array.from(items));
      // Rules with a "*" side are split by protocol and port block, so a packet only walks
      // those that could match its protocol and destination port.
      const anyOff = new Int32Array(KEY_COUNT + 1);
      const anyList: number[] = [];
      for (let key = 0; key < KEY_COUNT; key++) {
        for (let r = 0; r < R; r++) if (s.any[r] && ruleCoversKey(rules[r], key)) anyList.push(r);
        anyOff[key + 1] = anyList.length;
      }
      this.#anyOff.push(anyOff);
      this.#anyList.push(Int32Array.from(anyList));
    }
  }

  /**
   * Whether a VXLAN packet (UDP to {@link VXLAN_PORT}, its VXLAN header at `pkt[off]`) may pass
   * in `dir`: its VNI is a segment's and the member at the other end (the source inbound, the
   * destination outbound) is in that segment. Allocation-free.
   */
  segmentAllows(pkt: Uint8Array, off: number, f: FlowInfo, dir: number): boolean {
    if (off + 8 > pkt.length) return false;
    const seg = this.#segOf.get((pkt[off + 4] << 16) | (pkt[off + 5] << 8) | pkt[off + 6]);
    if (seg === undefined) return false;
    const id = this.#table.lookup(f.family, f.addr, dir === INBOUND ? 0 : 4);
    return id >= 0 && this.#segIn[seg * this.addressCount + id] === 1;
  }

  /**
   * True when the numeric direction `dir` passes a packet that `match` returned `r` for. With no
   * rule, a packet between this node and another member must pass both defaults, the one for
   * `dir` here and the opposite one that member applies, so both ends judge a flow alike (and a
   * flow stopped by a reload cannot be revived from its other end).
   */
  verdict(dir: number, r: number): boolean {
    if (r >= 0) return this.allow[r] === 1;
    const code = -1 - r;
    const peerIsMember = (dir === OUTBOUND ? code & 2 : code & 1) !== 0;
    return this.defaultAllow[dir] === 1 && (!peerIsMember || this.defaultAllow[1 - dir] === 1);
  }

  /**
   * The index (into `rules`) of the first rule matching the flow, or a negative "no rule" code
   * (see `NO_RULE`). Allocation-free; the direction does not change which rule matches.
   */
  match(f: FlowInfo): number {
    if (!this.active) return NO_RULE;
    const A = this.addressCount;
    const fam = f.family;
    let s = this.#table.lookup(fam, f.addr, 0);
    if (s < 0) s = A;
    let d = this.#table.lookup(fam, f.addr, 4);
    if (d < 0) d = A;
    const none = NO_RULE - (s < A ? 1 : 0) - (d < A ? 2 : 0);
    if (this.rules.length === 0) return none;
    const sOff = this.#specOff[FROM];
    const dOff = this.#specOff[TO];
    const ruleProto = f.ruleProto;
    const port = f.dport;
    const key = ruleProto === PROTO_TCP
      ? port >>> PORT_BLOCK_BITS
      : ruleProto === PROTO_UDP
      ? PORT_BLOCKS + (port >>> PORT_BLOCK_BITS)
      : ruleProto === RULE_PROTO_ICMP
      ? KEY_ICMP
      : KEY_OTHER;
    const fromAnyOff = this.#anyOff[FROM];
    const toAnyOff = this.#anyOff[TO];
    const sLen = sOff[s + 1] - sOff[s] + fromAnyOff[key + 1] - fromAnyOff[key];
    const dLen = dOff[d + 1] - dOff[d] + toAnyOff[key + 1] - toAnyOff[key];
    const side = sLen <= dLen ? FROM : TO;
    const other = side === FROM ? TO : FROM;
    const cls = side === FROM ? s : d;
    const otherCls = side === FROM ? d : s;
    const spec = this.#spec[side];
    const anyList = this.#anyList[side];
    const off = this.#specOff[side];
    let i = off[cls];
    const iEnd = off[cls + 1];
    const anyOff = this.#anyOff[side];
    let j = anyOff[key];
    const jEnd = anyOff[key + 1];
    const proto = this.#proto;
    const portOff = this.#portOff;
    const portLo = this.#portLo;
    const portHi = this.#portHi;
    while (i < iEnd || j < jEnd) {
      let r: number;
      let fromSpec: boolean;
      if (j >= jEnd || (i < iEnd && spec[i] < anyList[j])) {
        r = spec[i++];
        fromSpec = true;
      } else {
        r = anyList[j++];
        fromSpec = false;
      }
      const p = proto[r];
      if (p !== 0 && p !== ruleProto) continue;
      let k = portOff[r];
      const pEnd = portOff[r + 1];
      if (k !== pEnd) {
        while (k < pEnd && (port < portLo[k] || port > portHi[k])) k++;
        if (k === pEnd) continue;
      }
      if (!this.#sideMatches(other, r, otherCls, f)) continue;
      if (fromSpec && cls === A && !this.#cidrMatches(side, r, f)) continue;
      return r;
    }
    return none;
  }

  #sideMatches(side: number, r: number, cls: number, f: FlowInfo): boolean {
    if (this.#any[side][r]) return true;
    if (cls < this.addressCount) {
      return (this.#bits[side][r * this.#words + (cls >>> 5)] & (1 << (cls & 31))) !== 0;
    }
    return this.#cidrMatches(side, r, f);
  }

  /** Whether the flow's address on `side` is inside one of the rule's prefixes for that side. */
  #cidrMatches(side: number, r: number, f: FlowInfo): boolean {
    const base = side === FROM ? 0 : 4;
    const a = f.addr;
    if (f.family === 4) {
      const list = this.#c4[side];
      const w = a[base];
      for (let k = this.#c4Off[side][r], e = this.#c4Off[side][r + 1]; k < e; k += 2) {
        if ((w & list[k + 1]) === list[k]) return true;
      }
      return false;
    }
    const list = this.#c6[side];
    for (let k = this.#c6Off[side][r], e = this.#c6Off[side][r + 1]; k < e; k += 8) {
      if (
        (a[base] & list[k + 4]) === list[k] && (a[base + 1] & list[k + 5]) === list[k + 1] &&
        (a[base + 2] & list[k + 6]) === list[k + 2] && (a[base + 3] & list[k + 7]) === list[k + 3]
      ) return true;
    }
    return false;
  }
}

/**
 * A member's endpoints (with their canonical text), worked out once per member record: records
 * are replaced on a change, never edited, and a leader of 10,000 members recompiles its policy at
 * every membership change.
 */
const MEMBER_ENDPOINTS = new WeakMap<Member, readonly { key: string; e: Endpoint }[]>();

function endpointsOf(m: Member): readonly { key: string; e: Endpoint }[] {
  let list = MEMBER_ENDPOINTS.get(m);
  if (list) return list;
  const out: { key: string; e: Endpoint }[] = [];
  for (const text of [m.address, m.address6]) {
    if (!text) continue;
    const bytes = parseAddress(text);
    if (!bytes) continue;
    const e: Endpoint = {
      family: bytes.length === 4 ? 4 : 6,
      words: wordsOf(bytes),
      bytes,
      member: m,
    };
    out.push({ key: formatAddress(bytes), e });
  }
  list = out;
  MEMBER_ENDPOINTS.set(m, list);
  return list;
}

function collectEndpoints(view: MembershipView | null): Endpoint[] {
  const out: Endpoint[] = [];
  const seen = new Set<string>();
  for (const m of view?.members ?? []) {
    for (const { key, e } of endpointsOf(m)) {
      // An address claimed twice belongs to the first member that claims it, as in the table.
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(e);
    }
  }
  return out;
}

function maskWords(bits: number, n: number): Int32Array {
  const m = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const keep = Math.min(32, Math.max(0, bits - 32 * i));
    m[i] = keep === 0 ? 0 : keep === 32 ? -1 : (-1 << (32 - keep));
  }
  return m;
}

function buildSide(selectors: Selector[], endpoints: Endpoint[], W: number): SideBuild {
  const R = selectors.length;
  const side: SideBuild = {
    any: new Uint8Array(R),
    bits: new Int32Array(R * W),
    hasCidr: new Uint8Array(R),
    c4Off: new Int32Array(R + 1),
    c4: [],
    c6Off: new Int32Array(R + 1),
    c6: [],
  };
  // Rules often share selectors ("role=db"); resolve each distinct one once.
  const memo = new Map<string, Int32Array>();
  selectors.forEach((sel, r) => {
    const cidrs = sel.flatMap((t) => t.kind === "cidrs" ? t.cidrs.map((c) => Cidr.parse(c)) : []);
    for (const c of cidrs) {
      const words = wordsOf(c.network);
      const mask = maskWords(c.bits, words.length);
      const list = c.family === 4 ? side.c4 : side.c6;
      for (let i = 0; i < words.length; i++) list.push(words[i]);
      for (let i = 0; i < mask.length; i++) list.push(mask[i]);
    }
    side.c4Off[r + 1] = side.c4.length;
    side.c6Off[r + 1] = side.c6.length;
    side.hasCidr[r] = cidrs.length > 0 ? 1 : 0;
    if (sel.some((t) => t.kind === "any")) {
      side.any[r] = 1;
      return;
    }
    const key = JSON.stringify(sel);
    let bits = memo.get(key);
    if (!bits) {
      bits = new Int32Array(W);
      // A member's addresses are adjacent in the list (collectEndpoints): its selector match is
      // worked out once for them.
      let last: Member | null = null;
      let lastHit = false;
      for (let id = 0; id < endpoints.length; id++) {
        const e = endpoints[id];
        if (e.member !== last) {
          last = e.member;
          lastHit = sel.some((t) => termMatchesMember(t, e.member));
        }
        const hit = lastHit || cidrs.some((c) => c.family === e.family && c.contains(e.bytes));
        if (hit) bits[id >>> 5] |= 1 << (id & 31);
      }
      memo.set(key, bits);
    }
    side.bits.set(bits, r * W);
  });
  return side;
}
