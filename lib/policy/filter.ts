/**
 * The stateful packet filter the device calls on its hot path: parse, look the flow up in
 * connection tracking, otherwise judge it by the policy and track it when allowed.
 *
 * - A tracked flow's packets pass in both orientations (replies included) without the rules.
 * - After a policy or membership change, a tracked flow is re-checked on its next packet, in
 *   either orientation, by its original tuple and the direction it was first allowed in: if the
 *   new rules would not allow it now, the entry is removed and the packet dropped, so a flow the
 *   new policy denies stops while allowed flows carry on uninterrupted. `recheckAll` judges every
 *   flow at once when a policy comes in, so a cut flow whose packets no longer arrive (its peer
 *   left the view with the same change) is still stopped and counted.
 * - ICMP errors (unreachable, too big, time exceeded, parameter problem) quoting a tracked flow
 *   pass as related traffic, so path MTU discovery works for allowed flows.
 * - Later fragments pass (their first fragment, which carries the ports, was judged); malformed
 *   packets are dropped and counted.
 * - Flows are tracked even with no policy, so putting a first policy in force re-checks existing
 *   flows instead of cutting replies.
 * - Rate limits (a rule's `qos.rate`): each tracked flow remembers the rule that allowed it, and
 *   every packet this node sends of a flow whose rule has a rate, replies included, takes its
 *   length from that rule's token bucket (`qos.ts`), at the filter's clock. A packet finding too
 *   few tokens waits for them in the filter's queue (`pacer.ts`; `outbound` returns false and
 *   `held` true, and the device's sink gets it when its time comes), up to the rule's queue
 *   depth; past it, or with no sink attached, it is dropped. Each is counted per rule, in bytes
 *   and packets. Packets arriving from the tunnel are not charged: their sender was.
 * @module
 */

import { PROTO_TCP, PROTO_UDP } from "../net/ip.ts";
import { type MonotonicClock, monotonicClock } from "../io/clock.ts";
import { BatchClock } from "../io/batch_clock.ts";
// The hook is the device's: declared where it is called, implemented here.
import type { HeldPacketSink, PacketFilter } from "../device/device.ts";
import { Conntrack, type ConntrackOptions, type ConntrackStats } from "./conntrack.ts";
import { type RateCounts, TAKE_PASS, TAKE_WAIT } from "./qos.ts";
import { Pacer } from "./pacer.ts";
import { type CompiledPolicy, INBOUND, OUTBOUND, VXLAN_PORT } from "./compiled.ts";
import {
  explainFlow,
  type ExplainQuery,
  explainWith,
  type Explanation,
  flowLabel,
} from "./explain.ts";
import { PolicyEngine } from "./engine.ts";
import {
  FLOW_FRAGMENT,
  FLOW_ICMP_ERROR,
  FLOW_MALFORMED,
  FlowInfo,
  ICMP_KIND_ECHO_REQUEST,
  ICMP_KIND_ERROR,
  parseFlow,
  RULE_PROTO_ICMP,
  TCP_ACK,
  TCP_RST,
  TCP_SYN,
} from "./packet.ts";

/** A monotonic millisecond clock (the device's `Clock` fits). */
export type { MonotonicClock };

/** How a `PolicyFilter` is built. */
export interface PolicyFilterOptions {
  /** The engine to consult (default: a new one with no policy). */
  engine?: PolicyEngine;
  /** The clock for conntrack timeouts (default `performance.now`). */
  clock?: MonotonicClock;
  /**
   * Read the clock once per event-loop task (a batch of packets) and at least every 1,024
   * packets, instead of for every packet (default true). Reading `performance.now()` costs about
   * 90 ns in Deno, more than the rest of the check for an established flow, while timeouts are
   * seconds long. Tests that move a manual clock between packets of one task turn it off.
   */
  batchClock?: boolean;
  /** Conntrack size and timeouts. */
  conntrack?: ConntrackOptions;
}

/** Per-direction figures. */
export interface DirectionCounts {
  /** Packets this node sent into the tunnel. */
  outbound: number;
  /** Packets that arrived from the tunnel. */
  inbound: number;
}

/** The filter's figures, for /metrics and `weft status`. */
export interface PolicyStats {
  /** False when no policy is in force (everything passes). */
  active: boolean;
  /** The engine generation (changes on every reload or relevant membership change). */
  generation: number;
  /** Rules in force. */
  rules: number;
  /** Packets passed. */
  passed: DirectionCounts;
  /** Packets dropped, for any reason. */
  dropped: DirectionCounts;
  /** New flows (or re-checked ones) allowed, per rule name. */
  allowedByRule: Record<string, number>;
  /** Packets dropped, per rule name. */
  droppedByRule: Record<string, number>;
  /** New flows allowed by the default (no rule matched, or no policy). */
  allowedByDefault: DirectionCounts;
  /** Packets dropped by the default. */
  droppedByDefault: DirectionCounts;
  /** Packets passed as part of a tracked flow. */
  established: number;
  /** ICMP errors passed as related to a tracked flow. */
  related: number;
  /** Later fragments passed. */
  fragments: number;
  /** VXLAN dropped because its VNI is no segment's or the member at the other end is not in it. */
  segment: number;
  /** Malformed packets dropped. */
  malformed: number;
  /** Tracked flows stopped because a new policy denies them. */
  stoppedFlows: number;
  /** Packets dropped by rules' rate limits (also in `dropped.outbound`). */
  rateDropped: number;
  /** Packets rules' rate limits held back to send later (counted in `passed.outbound`). */
  rateDelayed: number;
  /** Packets held back now. */
  rateQueued: number;
  /** Per rule with a rate (now or before), by name: bytes and packets passed and dropped. */
  rates: Record<string, RateCounts>;
  /** Connection tracking. */
  conntrack: ConntrackStats;
}

/** An explanation that also accounts for flows the filter is tracking. */
export interface FilterExplanation extends Explanation {
  /** Tracked flows in the asked direction (same addresses, protocol and destination port). */
  trackedFlows: number;
  /** Tracked flows the asked packet would be a reply to. */
  replyTo: number;
}

const C_PASSED = 0;
const C_DROPPED = 2;
const C_DEFAULT_ALLOW = 4;
const C_DEFAULT_DENY = 6;
const C_ESTABLISHED = 8;
const C_RELATED = 9;
const C_FRAGMENTS = 10;
const C_MALFORMED = 11;
const C_STOPPED = 12;
const C_SEGMENT = 13;
const C_RATE = 14;
const C_DELAYED = 15;
/**
 * What `#judge` returns for a flow the policy still allows: no rule index (from 0) nor "no rule"
 * code (negative, from -1 down: see `NO_RULE`) can be it.
 */
const KEPT = Number.MAX_SAFE_INTEGER;
const C_COUNT = 16;

/**
 * Where a UDP datagram's payload starts in `pkt`: after IPv4's header (its length field) or
 * IPv6's fixed header (a datagram behind extension headers gets a bad offset, so it is dropped
 * as not a segment's).
 */
function udpPayload(pkt: Uint8Array, family: number): number {
  return (family === 4 ? (pkt[0] & 0x0f) * 4 : pkt[6] === PROTO_UDP ? 40 : pkt.length) + 8;
}

/** The stateful policy filter (see the module docs). */
export class PolicyFilter implements PacketFilter {
  /** The policy engine consulted for new flows. */
  readonly engine: PolicyEngine;
  /**
   * The connection tracking table.
   * @ignore internal: the table itself (its counters are in stats())
   */
  readonly conntrack: Conntrack;
  readonly #clock: MonotonicClock;
  /** The packets' clock (see `batchClock`); its `time` is the rate limits' too. */
  readonly #time: BatchClock;
  readonly #flow = new FlowInfo();
  readonly #inner = new FlowInfo();
  readonly #orig = new FlowInfo();
  readonly #c = new Float64Array(C_COUNT);
  /** Packets rate limits hold back. */
  readonly #pacer: Pacer;
  /** Whether the last packet `outbound` refused was held back rather than dropped. */
  #held = false;
  /** The TOS of the packet `outbound` last passed (its rule's class). */
  #tos = 0;

  /** A filter over `opts.engine` (or a fresh one). */
  constructor(opts: PolicyFilterOptions = {}) {
    this.engine = opts.engine ?? new PolicyEngine();
    this.conntrack = new Conntrack(opts.conntrack);
    this.#clock = opts.clock ?? monotonicClock;
    const clock = this.#clock;
    this.#time = new BatchClock(() => clock.now(), { batched: opts.batchClock ?? true });
    this.#pacer = new Pacer(this.#clock);
  }

  /**
   * Packet leaving this node through the tunnel (plaintext IP). true = pass; false = drop, or
   * held back by a rate limit when `held()` says so.
   */
  outbound(pkt: Uint8Array): boolean {
    this.#held = false;
    this.#tos = 0;
    return this.#check(pkt, OUTBOUND);
  }

  /**
   * The TOS byte of the packet `outbound` last passed: its flow's rule's traffic class
   * (`QOS_CLASS_TOS`), 0 for none.
   */
  tos(): number {
    return this.#tos;
  }

  /** Whether the packet `outbound` last refused was held back (sent later), not dropped. */
  held(): boolean {
    return this.#held;
  }

  /** Where packets held back by rate limits are sent once their time comes (the device's). */
  attach(sink: HeldPacketSink): void {
    this.#pacer.attach(sink);
  }

  /** Drops the packets held back and stops their timer. */
  close(): void {
    this.#pacer.close();
  }

  /** Packet arriving from the tunnel for this node (plaintext IP, source already checked). */
  inbound(pkt: Uint8Array): boolean {
    return this.#check(pkt, INBOUND);
  }

  #check(pkt: Uint8Array, dir: number): boolean {
    const c = this.#c;
    const f = this.#flow;
    const kind = parseFlow(pkt, f, this.#inner);
    if (kind === FLOW_MALFORMED) {
      c[C_MALFORMED]++;
      c[C_DROPPED + dir]++;
      return false;
    }
    if (kind === FLOW_FRAGMENT) {
      c[C_FRAGMENTS]++;
      c[C_PASSED + dir]++;
      return true;
    }
    const compiled = this.engine.compiled;
    if (compiled.segmented && f.proto === PROTO_UDP && f.dport === VXLAN_PORT) {
      // A segment's frames pass between its members whatever the rules say, and only theirs:
      // VXLAN for a segment from (or to) a member outside it is dropped, so nobody outside a
      // segment can put frames on its bridges. Not tracked: VXLAN is one datagram a frame.
      if (compiled.segmentAllows(pkt, udpPayload(pkt, f.family), f, dir)) {
        c[C_PASSED + dir]++;
        return true;
      }
      c[C_SEGMENT]++;
      c[C_DROPPED + dir]++;
      return false;
    }
    this.#tick();
    const ct = this.conntrack;
    if (kind === FLOW_ICMP_ERROR && ct.lookup(this.#inner) >= 0) {
      c[C_RELATED]++;
      c[C_PASSED + dir]++;
      return true;
    }
    // Only echo is tracked among ICMP messages; other types would alias echo id 0.
    if (f.icmpKind < ICMP_KIND_ERROR) {
      const e = ct.lookup(f);
      if (e >= 0) {
        const reply = ct.lastReply;
        if (
          !reply && f.proto === PROTO_TCP && (f.tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN &&
          ct.isClosed(e)
        ) {
          // A new connection reusing the tuple of a finished one is a new flow.
          ct.remove(e);
        } else {
          if (ct.generation(e) !== compiled.generation && !this.#recheck(e, compiled, dir)) {
            return false;
          }
          ct.update(e, f, reply);
          if (dir === OUTBOUND) {
            if (compiled.rated && !this.#charge(compiled, ct.rule(e), pkt)) return false;
            if (compiled.classed) this.#mark(compiled, ct.rule(e));
          }
          c[C_ESTABLISHED]++;
          c[C_PASSED + dir]++;
          return true;
        }
      }
    }
    const r = compiled.match(f);
    const allow = compiled.verdict(dir, r);
    if (r >= 0) compiled.hits[r]++;
    else c[(allow ? C_DEFAULT_ALLOW : C_DEFAULT_DENY) + dir]++;
    if (!allow) {
      c[C_DROPPED + dir]++;
      return false;
    }
    const track = f.ruleProto === RULE_PROTO_ICMP
      ? f.icmpKind === ICMP_KIND_ECHO_REQUEST
      : f.proto !== PROTO_TCP || (f.tcpFlags & TCP_RST) === 0;
    if (track) ct.insert(f, dir, compiled.generation, r >= 0 ? r : -1);
    if (dir === OUTBOUND) {
      if (compiled.rated && !this.#charge(compiled, r, pkt)) return false;
      if (compiled.classed) this.#mark(compiled, r);
    }
    c[C_PASSED + dir]++;
    return true;
  }

  /** Marks the packet passing with rule `r`'s class (negative: the default, unmarked). */
  #mark(compiled: CompiledPolicy, r: number): void {
    if (r >= 0) this.#tos = compiled.tos[r];
  }

  /**
   * Charges an outgoing packet of a flow allowed by rule `r` (negative: the default) to the
   * rule's rate limit, if it has one: true when it may leave now; false when it is held back
   * (`#held`, counted as passed) or dropped (counted).
   */
  #charge(compiled: CompiledPolicy, r: number, pkt: Uint8Array): boolean {
    const b = compiled.buckets;
    if (r < 0 || b.rate[r] === 0) return true;
    const pacer = this.#pacer;
    const len = pkt.length;
    const got = b.take(r, len, this.#time.time, pacer.canHold(len));
    if (got === TAKE_PASS) return true;
    const c = this.#c;
    if (got === TAKE_WAIT) {
      pacer.hold(pkt, b.due, compiled.classed ? compiled.tos[r] : 0);
      this.#held = true;
      c[C_DELAYED]++;
      c[C_PASSED + OUTBOUND]++;
      return false;
    }
    c[C_RATE]++;
    c[C_DROPPED + OUTBOUND]++;
    return false;
  }

  /** Brings the conntrack clock up to date (see `batchClock`). */
  #tick(): void {
    const time = this.#time;
    if (time.update()) this.conntrack.setTime(time.time[0]);
  }

  /**
   * Re-judges every tracked flow against the policy in force now, stopping (and counting) those it
   * no longer allows; returns how many stopped. Called when a policy comes in, because a flow whose
   * packets stop reaching this filter (its peer left the scoped view with the same change) would
   * otherwise never be judged nor counted.
   */
  recheckAll(): number {
    const compiled = this.engine.compiled;
    const ct = this.conntrack;
    let stopped = 0;
    ct.forEachEntry((e) => {
      if (ct.generation(e) !== compiled.generation && this.#judge(e, compiled) !== KEPT) {
        ct.remove(e);
        stopped++;
      }
    });
    this.#c[C_STOPPED] += stopped;
    return stopped;
  }

  /**
   * Re-judges a tracked flow by its original tuple: {@link KEPT} (stamped with the generation)
   * while the policy allows it, else the rule that denies it (-1: the default).
   */
  #judge(e: number, compiled: CompiledPolicy): number {
    const ct = this.conntrack;
    const o = this.#orig;
    ct.loadOriginal(e, o);
    const r = compiled.match(o);
    if (!compiled.verdict(ct.direction(e), r)) return r;
    ct.setGeneration(e, compiled.generation);
    ct.setRule(e, r >= 0 ? r : -1);
    return KEPT;
  }

  /** Re-judges a tracked flow by its original tuple; false (counted) when it must stop. */
  #recheck(e: number, compiled: CompiledPolicy, dir: number): boolean {
    const r = this.#judge(e, compiled);
    if (r === KEPT) return true;
    const ct = this.conntrack;
    const origDir = ct.direction(e);
    ct.remove(e);
    const c = this.#c;
    if (r >= 0) compiled.hits[r]++;
    else c[C_DEFAULT_DENY + origDir]++;
    c[C_STOPPED]++;
    c[C_DROPPED + dir]++;
    return false;
  }

  /** Removes expired conntrack entries now; returns how many (call it every few seconds). */
  sweep(): number {
    this.conntrack.setTime(this.#clock.now());
    return this.conntrack.sweep();
  }

  /** The filter's figures (a fresh plain object). */
  stats(): PolicyStats {
    const c = this.#c;
    // Its rules and defaults are the policy's: a membership change need not be compiled for them.
    const compiled = this.engine.lastCompiled;
    const byRule = this.engine.ruleCounters();
    return {
      active: compiled.active,
      generation: this.engine.generation,
      rules: compiled.rules.length,
      passed: { outbound: c[C_PASSED + OUTBOUND], inbound: c[C_PASSED + INBOUND] },
      dropped: { outbound: c[C_DROPPED + OUTBOUND], inbound: c[C_DROPPED + INBOUND] },
      allowedByRule: byRule.allowed,
      droppedByRule: byRule.dropped,
      allowedByDefault: {
        outbound: c[C_DEFAULT_ALLOW + OUTBOUND],
        inbound: c[C_DEFAULT_ALLOW + INBOUND],
      },
      droppedByDefault: {
        outbound: c[C_DEFAULT_DENY + OUTBOUND],
        inbound: c[C_DEFAULT_DENY + INBOUND],
      },
      established: c[C_ESTABLISHED],
      related: c[C_RELATED],
      fragments: c[C_FRAGMENTS],
      segment: c[C_SEGMENT],
      malformed: c[C_MALFORMED],
      stoppedFlows: c[C_STOPPED],
      rateDropped: c[C_RATE],
      rateDelayed: c[C_DELAYED],
      rateQueued: this.#pacer.size,
      rates: this.engine.rateCounters(),
      conntrack: this.conntrack.stats(),
    };
  }

  /**
   * Which rule decides a flow (as `PolicyEngine.explain`), and whether it is an established flow
   * here: a packet that is a reply to a tracked flow passes whatever the rules say.
   */
  explain(q: ExplainQuery): FilterExplanation {
    const built = explainFlow(q, this.engine.members);
    const base = explainWith(this.engine.compiled, q, built);
    this.conntrack.setTime(this.#clock.now());
    const found = this.conntrack.findFlows(built.flow);
    const out: FilterExplanation = { ...base, trackedFlows: found.original, replyTo: found.reply };
    if (found.reply > 0 && !base.allowed) {
      out.allowed = true;
      out.decidedBy = "established";
      out.summary = `${flowLabel(base)}: allowed as a reply to ${found.reply} established ` +
        `flow(s); as a new flow: ${base.summary.slice(flowLabel(base).length + 2)}`;
    }
    return out;
  }
}
