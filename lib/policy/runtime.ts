/**
 * The network policy on one node: the policy in force, the engine that compiles it against the
 * membership, the stateful filter that enforces it on the tunnel (with its connection table swept
 * every 10 s), and the figures `/status` and `/metrics` show of it.
 * @module
 */

import type { PacketFilter } from "../device/device.ts";
import type { Logger } from "../log/logger.ts";
import type { MembershipView } from "../members/member.ts";
import { CONTROL_PORT, PQ_PORT } from "../members/ports.ts";
import { ControlTraffic } from "../net/control_traffic.ts";
import { Cidr } from "../net/cidr.ts";
import { formatAddress } from "../net/ip.ts";
import { PolicyEngine } from "./engine.ts";
import { PolicyFilter, type PolicyStats } from "./filter.ts";
import { parsePolicy } from "./parse.ts";
import type { PolicyFigures } from "./metrics.ts";
import type { NodeStatus } from "../status/status.ts";
import type { VersionedPolicy } from "./source.ts";

/** Policy drops per rule name, with the default action's drops as `(default)`. */
export function policyDropsByRule(st: PolicyStats): Record<string, number> {
  const drops: Record<string, number> = { ...st.droppedByRule };
  const byDefault = st.droppedByDefault.inbound + st.droppedByDefault.outbound;
  if (byDefault) drops["(default)"] = byDefault;
  if (st.segment) drops["(segment)"] = st.segment;
  return drops;
}

/** The first IPv4 and IPv6 address among CIDR (or bare) address texts. */
function ownAddresses(list: readonly string[]): { ipv4?: string; ipv6?: string } {
  const out: { ipv4?: string; ipv6?: string } = {};
  for (const text of list) {
    const c = Cidr.parse(text);
    if (c.family === 4) out.ipv4 ??= formatAddress(c.address);
    else out.ipv6 ??= formatAddress(c.address);
  }
  return out;
}

/** Holds and enforces the policy. See the module docs. */
export class PolicyRuntime {
  /** The engine (rules compiled against the membership). */
  readonly engine: PolicyEngine;
  /** The stateful filter enforcing it on this node's tunnel. */
  readonly filter: PolicyFilter;
  /** The filter the device is given: the mesh's control traffic always passes. */
  readonly deviceFilter: PacketFilter;
  readonly #logger: Logger;
  #policy: VersionedPolicy | null = null;
  #sweep: ReturnType<typeof setInterval> | undefined;
  readonly #listeners = new Set<() => void>();

  /**
   * No policy yet; `members` is the view held at the start, `addresses` this node's overlay
   * addresses (CIDR or bare), whose control port's datagrams are exempt.
   */
  constructor(opts: { members: MembershipView; logger: Logger; addresses: readonly string[] }) {
    this.#logger = opts.logger;
    this.engine = new PolicyEngine({ members: opts.members });
    const filter = this.filter = new PolicyFilter({ engine: this.engine });
    // The mesh's own control traffic must survive any policy, or a policy could cut a node off
    // from the membership (and from the fix for a bad policy). Only datagrams to this node's
    // overlay address and control port (which the control stack takes) or from them are exempt:
    // a member that merely picks the port number as its source meets the policy like anyone.
    // The post-quantum exchange is weft's own as the control channel is: a policy that lets
    // two members talk on some ports only must not leave their sessions without its keys.
    const own = new ControlTraffic(ownAddresses(opts.addresses), [CONTROL_PORT, PQ_PORT]);
    // Whether the packet `outbound` last passed was the mesh's own (unmarked, uncharged).
    let ownLast = false;
    this.deviceFilter = {
      outbound: (p) => (ownLast = own.fromSelf(p, p.length)) || filter.outbound(p),
      inbound: (p) => own.toSelf(p, p.length) || filter.inbound(p),
      held: () => filter.held(),
      tos: () => ownLast ? 0 : filter.tos(),
      attach: (sink) => filter.attach(sink),
    };
  }

  /** The policy in force, if any. */
  get policy(): VersionedPolicy | null {
    return this.#policy;
  }

  /** Calls `fn` after each policy put in force (or removed); returns the unsubscribe. */
  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #changed(): void {
    for (const fn of this.#listeners) {
      try {
        fn();
      } catch (e) {
        this.#logger.error("a policy listener failed", { error: String(e) });
      }
    }
  }

  /** Starts sweeping the filter's connection table. */
  start(): void {
    this.#sweep ??= setInterval(() => this.filter.sweep(), 10_000);
  }

  /**
   * Puts a policy in force (null: none, everything passes), compiled against `members` (the view
   * held); false when it does not parse, and then the previous one stays.
   */
  use(p: VersionedPolicy | null, members: MembershipView): boolean {
    if (!p) {
      this.engine.setPolicy(null);
      this.#policy = null;
      this.#changed();
      return true;
    }
    try {
      this.engine.setMembers(members);
      this.engine.setPolicy(parsePolicy(p.text));
      this.#policy = p;
      this.filter.recheckAll();
      this.#logger.info("policy in force", { version: p.version });
      this.#changed();
      return true;
    } catch (e) {
      // The leader validated it; a node that cannot parse it keeps the previous one.
      this.#logger.error("policy rejected", { version: p.version, error: String(e) });
      return false;
    }
  }

  /** The membership changed: a policy in force is compiled against it. */
  membersChanged(v: MembershipView): void {
    // Without a policy the engine has nothing to compile; it gets the members when one comes.
    if (this.#policy) this.engine.setMembers(v);
  }

  /** The node's `policy` field of `/status`. */
  status(): Pick<NodeStatus, "policy"> {
    const st = this.filter.stats();
    return {
      policy: {
        version: this.#policy?.version ?? 0,
        rules: st.rules,
        dropped: st.dropped,
        droppedByRule: policyDropsByRule(st),
        ...(Object.keys(st.rates).length ? { rates: st.rates } : {}),
      },
    };
  }

  /** What `/metrics` shows of the policy: drops per rule, the rate limits' figures per rule. */
  figures(): PolicyFigures {
    const st = this.filter.stats();
    return { drops: policyDropsByRule(st), rates: st.rates };
  }

  /**
   * The same as {@link PolicyRuntime.figures} (`policyCollector` takes either): drops per rule
   * with the rate limits' figures.
   */
  drops(): PolicyFigures {
    return this.figures();
  }

  /** Stops the sweep; drops the packets rate limits hold back. */
  close(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    this.filter.close();
  }
}
