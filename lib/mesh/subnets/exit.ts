/**
 * This member's internet traffic through an exit node (`--exit-node NAME|ADDRESS`): while the
 * member named is in the view, online and approved as an exit node, its allowed IPs take the
 * default routes ({@link ExitNodeUse.routesOf}, for MeshPeers) and the host's default routes go
 * into the overlay interface through policy routing (lib/routes/forwarding.ts `DefaultRouting`),
 * which leaves the agent's own underlay traffic (its marked UDP socket) on the host's routes, so
 * it cannot loop into the tunnel.
 *
 * Fail closed: from the start, and whenever the exit node is not there (no such member, not an
 * exit node, not approved, offline: {@link exitNodeState}), the same policy routing holds an
 * `unreachable` default route instead, so what the default route would carry goes nowhere
 * rather than out directly; the mesh, the host's more specific routes (its LAN) and the
 * leaders' endpoints stay reachable. With `--exit-node-fallback` the host's routing is restored
 * instead while it is away (traffic goes out directly). Each change of state is one log line
 * saying why, and `/status` says the same ({@link ExitNodeUse.status}).
 *
 * The exit node may be chosen, changed or dropped at runtime (`weft set --exit-node`,
 * {@link ExitNodeUse.set}): with none, the host's routing is its own again.
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import type { DefaultRouting } from "../../routes/forwarding.ts";
import { EXIT_PREFIXES } from "../../routes/prefixes.ts";
import { advertisesExit, servesExit } from "../leader/routes.ts";
import { parseHostPort } from "../../net/hostport.ts";
import { isIP } from "../../net/ip.ts";
import {
  EXIT_NODE_STATE_WORDS,
  type ExitNodeState,
  type ExitNodeStatus,
} from "../../status/status.ts";

/** How the exit node is used. */
export interface ExitNodeOptions {
  /**
   * The exit node: a member's name or overlay address (canonical, as the config parses it);
   * null: none for now (one may be set at runtime).
   */
  exitNode: string | null;
  /** Keep the host's LAN (the main table's more specific routes) out of the tunnel. */
  allowLanAccess: boolean;
  /**
   * While the exit node is not there, the host's traffic goes out directly (its own routing)
   * rather than being blocked (`--exit-node-fallback`); default false: blocked.
   */
  fallback?: boolean;
  /** The host's policy routing (drivers/linux/default_route.ts). */
  routing: DefaultRouting;
  /** The overlay interface. */
  iface: string;
  /** The agent's underlay mark (SO_MARK), also the routing table's number. */
  mark: number;
  /** The view held now. */
  view: () => MembershipView;
  /** The logger. */
  logger: Logger;
  /**
   * The relay (its public key) a peer's packets go through now, null when not relayed
   * (lib/mesh/relay/mesh_routes.ts `relayOf`); absent: no relays (NAT traversal off).
   */
  relayOf?: (publicKey: string) => string | null;
  /**
   * Makes the peers take {@link ExitNodeUse.routesOf} again (their allowed IPs), after the exit
   * node changed at runtime; absent: nothing to do.
   */
  reroute?: () => void;
  /** How often the relay in use is looked at while an exit node is used; default 1 s. */
  relayCheckMs?: number;
}

/** What was last asked of the routing with no exit node wanted. */
const NONE = "none";

/** How often the relay carrying the exit node's traffic is looked at, by default. */
const RELAY_CHECK_MS = 1000;

/** The exit node named, as a view shows it: whether it may be used and, if not, why. */
export interface ExitNodeFinding {
  /** Whether it may be used, or why not. */
  state: ExitNodeState;
  /** The member named, if the view holds one. */
  member?: Member;
  /** Why it may not be used, in words; absent when it may. */
  reason?: string;
}

/** Whether `m` is the member `want` names (its name, or its IPv4 or IPv6 overlay address). */
function named(m: Member, want: string): boolean {
  return m.name === want || m.address === want || m.address6 === want;
}

/**
 * Whether the member `want` names may serve as the exit node in view `v`, and if not, why:
 * unknown (no such member), not an exit node (it does not advertise one), not approved (the
 * leader has not approved what it advertises; a leader needs no approval), offline (approved,
 * but stopped or not heard from, so the leader withdrew it).
 */
export function exitNodeState(v: MembershipView, want: string): ExitNodeFinding {
  const m = v.members.find((x) => named(x, want));
  if (!m) {
    return { state: "unknown", reason: `no member is named or addressed ${want}` };
  }
  if (m.exitNode === true && !m.offline) return { state: "in-use", member: m };
  if (!advertisesExit(m)) {
    return {
      state: "not-exit-node",
      member: m,
      reason: `${m.name} does not advertise an exit node (--advertise-exit-node)`,
    };
  }
  // Advertised: approved as the leader judges it.
  if (!servesExit(m)) {
    return {
      state: "not-approved",
      member: m,
      reason: `${m.name} advertises an exit node the leader has not approved ` +
        `(weft route approve ${m.name} exit)`,
    };
  }
  return {
    state: "offline",
    member: m,
    reason: m.offline
      ? `${m.name} is offline`
      : `${m.name} is not heard from: the leader withdrew it`,
  };
}

/** What is asked of the exit node use: which, and how (see {@link ExitNodeOptions}). */
export interface ExitNodeWant {
  /** The exit node's name or overlay address; null: none. */
  exitNode: string | null;
  /** Keep the host's LAN out of the tunnel. */
  allowLanAccess: boolean;
  /** Direct rather than blocked while it is not there. */
  fallback: boolean;
}

/** The exit node in use, or none. See the module docs. */
export class ExitNodeUse {
  readonly #o: ExitNodeOptions;
  #w: ExitNodeWant;
  #using: string | null = null;
  // What was last asked of the routing: the exit node's key, "blocked" or "direct", and the
  // underlay addresses kept off the tunnel (sorted, joined); "" before the first.
  #asked = "";
  #finding: ExitNodeFinding = { state: "unknown" };
  #traffic: ExitNodeStatus["traffic"] = "direct";
  #error: string | undefined;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  #told = "";
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Uses `opts.exitNode` once it is there (see {@link start}). */
  constructor(opts: ExitNodeOptions) {
    this.#o = opts;
    this.#w = {
      exitNode: opts.exitNode,
      allowLanAccess: opts.allowLanAccess,
      fallback: opts.fallback === true,
    };
  }

  /** The exit node asked for (name or address), or null for none. */
  get wanted(): string | null {
    return this.#w.exitNode;
  }

  /** Whether `m` is the exit node named and may serve as one now. */
  #usable(m: Member): boolean {
    const want = this.#w.exitNode;
    return want !== null && named(m, want) && m.exitNode === true && !m.offline;
  }

  /**
   * The default routes when `m` is the exit node and may serve now (its allowed IPs), else none:
   * read from the record, as the peers take a view before the parts hear it.
   */
  routesOf(m: Member): readonly string[] {
    return this.#usable(m) ? EXIT_PREFIXES : [];
  }

  /** The exit node in use: its name and address, or null. */
  get inUse(): { name: string; address: string } | null {
    const m = this.#using === null
      ? undefined
      : this.#o.view().members.find((x) => x.publicKey === this.#using);
    return m ? { name: m.name, address: m.address } : null;
  }

  /** The exit node's state and where the host's traffic goes, for `/status`. */
  get status(): ExitNodeStatus {
    const f = this.#finding;
    return {
      wanted: this.#w.exitNode ?? "",
      inUse: this.inUse,
      state: f.state,
      ...(f.reason !== undefined ? { reason: f.reason } : {}),
      traffic: this.#traffic,
      fallback: this.#w.fallback,
      ...(this.#error !== undefined ? { error: this.#error } : {}),
    };
  }

  /**
   * Starts: blocks the host's outside traffic at once unless the exit node is there (or routes
   * through it), and follows the relay its traffic goes through (a relay's choice is no view
   * change).
   */
  async start(): Promise<void> {
    this.viewChanged(this.#o.view());
    await this.#queue;
    // What the user asked for cannot be set up at all (no routing, no block): the agent stops
    // with the reason rather than run with the host's traffic going out directly.
    if (this.#error !== undefined) {
      throw new Error(`the exit node's routing could not be set up: ${this.#error}`);
    }
    this.#watchRelay();
  }

  #watchRelay(): void {
    if (
      this.#o.relayOf && this.#timer === undefined && !this.#closed && this.#w.exitNode !== null
    ) {
      this.#timer = setInterval(() => this.refresh(), this.#o.relayCheckMs ?? RELAY_CHECK_MS);
    }
  }

  /**
   * Uses another exit node, or none (`weft set --exit-node`), or the same one otherwise
   * (`--exit-node-allow-lan-access`, `--exit-node-fallback`): the host's routing follows at
   * once, failing closed as at start. Rejects with the reason when the routing cannot be set up;
   * what was asked before is then in force again.
   */
  async set(want: ExitNodeWant): Promise<void> {
    if (this.#closed) return;
    const before = this.#w;
    const apply = async (w: ExitNodeWant) => {
      this.#w = { ...w };
      // Asked again even when the state is the same: the LAN's routes or the fallback may differ.
      if (this.#asked !== "" && this.#asked !== NONE) this.#asked = "again";
      this.#told = "";
      this.#error = undefined;
      this.viewChanged(this.#o.view());
      // The exit node's allowed IPs follow (its default routes), or another's, or none.
      this.#o.reroute?.();
      await this.#queue;
    };
    await apply(want);
    if (this.#error !== undefined && want.exitNode !== null) {
      const error = this.#error;
      await apply(before);
      throw new Error(`the exit node's routing could not be set up: ${error}`);
    }
    if (want.exitNode === null) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    } else this.#watchRelay();
  }

  /** Looks again at the addresses kept off the tunnel (the relay in use may have changed). */
  refresh(): Promise<void> {
    if (!this.#closed && this.#using !== null) this.viewChanged(this.#o.view());
    return this.#queue;
  }

  /**
   * Follows a new view: the exit node appearing, going or changing. Called before the peers
   * take the view (so its allowed IPs follow at once): see compose.ts.
   */
  viewChanged(v: MembershipView): void {
    if (this.#closed) return;
    const o = this.#o;
    const w = this.#w;
    if (w.exitNode === null) {
      // None asked for: the host's routing is its own (what an earlier exit node set up goes).
      const undo = this.#asked !== "" && this.#asked !== NONE;
      this.#asked = NONE;
      this.#using = null;
      this.#finding = { state: "unknown" };
      this.#traffic = "direct";
      if (undo) {
        this.#queue = this.#queue.then(async () => {
          try {
            await o.routing.close();
            o.logger.info("no exit node: the host's routing is its own again");
          } catch (e) {
            this.#error = String(e instanceof Error ? e.message : e);
            o.logger.error("restoring the host's routing failed", { error: this.#error });
          }
        });
      }
      return;
    }
    const finding = exitNodeState(v, w.exitNode);
    const m = finding.state === "in-use" ? finding.member! : undefined;
    const next = m?.publicKey ?? null;
    const mode = next !== null ? "exit-node" : w.fallback ? "direct" : "blocked";
    // Blocked, the leaders' endpoints stay reachable (the agent's unmarked TCP to them).
    const exempt = mode === "direct"
      ? []
      : exemptAddresses(v, next, next === null ? null : o.relayOf?.(next) ?? null);
    const asked = `${next ?? mode} ${exempt.join()}`;
    const said = `${finding.state} ${finding.member?.publicKey ?? ""}`;
    this.#finding = finding;
    if (asked === this.#asked && said === this.#told) return;
    const changed = asked !== this.#asked;
    this.#using = next;
    this.#asked = asked;
    this.#queue = this.#queue.then(async () => {
      if (this.#closed) return;
      try {
        if (changed) {
          if (mode === "direct") await o.routing.close();
          else {
            await o.routing.apply({
              iface: o.iface,
              mark: o.mark,
              table: o.mark,
              families: [4, 6],
              // Blocked, the main table's more specific routes (the mesh, the LAN) still answer:
              // only what the default route would carry goes nowhere.
              keepLocalRoutes: mode === "blocked" || w.allowLanAccess,
              ...(mode === "blocked" ? { blocked: true } : {}),
              exempt,
            });
          }
          this.#traffic = mode;
          this.#error = undefined;
        }
        if (said !== this.#told) {
          this.#told = said;
          if (m) o.logger.info("exit node in use", { name: m.name, address: m.address });
          else {
            o.logger.warn(
              mode === "blocked"
                ? "exit node not usable: outside traffic blocked"
                : "exit node not usable: traffic goes out directly (exit-node-fallback)",
              {
                exitNode: w.exitNode,
                state: EXIT_NODE_STATE_WORDS[finding.state],
                reason: finding.reason,
              },
            );
          }
        }
      } catch (e) {
        // Tried again with the next view: nothing counts as in use until it worked. The
        // routing undid what it had set: the host's own routes carry the traffic.
        this.#using = null;
        this.#asked = "";
        this.#traffic = "direct";
        this.#error = String(e instanceof Error ? e.message : e);
        o.logger.error(
          mode === "blocked"
            ? "blocking outside traffic failed: it goes out directly"
            : mode === "exit-node"
            ? "routing through the exit node failed"
            : "restoring the host's routing failed",
          { error: this.#error },
        );
      }
    });
  }

  /** Stops using the exit node: the host's routing as it was (nothing blocked any more). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#queue;
    // Never asked anything (none wanted all along): nothing of the host's to put back.
    if (this.#asked === NONE) return;
    await this.#o.routing.close();
  }
}

/**
 * The underlay addresses kept on the host's routes while the exit node is used: the agent may
 * reach them over TCP (the fallback when UDP does not get through), whose connections carry no
 * mark, so they must not enter the tunnel they carry. Each one becomes `to ADDR lookup main`, a
 * destination that leaves over this host's own network, outside the tunnel: only addresses the
 * leaders vouch for, never what a member claims. They are every leader's endpoints (its operator
 * configured them), the endpoint the leader observed the exit node at, and the one it observed
 * the relay at that carries the exit node's traffic now (`relay`, its public key), if any; with
 * no exit node in use (`exitKey` null: outside traffic blocked), the leaders' alone. The
 * endpoints a member advertises, relay or exit node, are its own say: left out.
 */
export function exemptAddresses(
  v: MembershipView,
  exitKey: string | null,
  relay: string | null = null,
): string[] {
  const out = new Set<string>();
  const add = (ep: string | undefined) => {
    if (ep === undefined) return;
    try {
      const { host } = parseHostPort(ep);
      if (isIP(host)) out.add(host);
    } catch {
      // A malformed endpoint names no address to keep.
    }
  };
  for (const m of v.members) {
    if (m.role === "leader") { for (const ep of m.endpoints) add(ep); }
    else if (exitKey !== null && (m.publicKey === exitKey || m.publicKey === relay)) {
      add(m.observed);
    }
  }
  return [...out].sort();
}
