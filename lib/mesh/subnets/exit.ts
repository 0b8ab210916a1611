/**
 * This member's internet traffic through an exit node (`--exit-node NAME|ADDRESS`): while the
 * member named is in the view, online and approved as an exit node, its allowed IPs take the
 * default routes ({@link ExitNodeUse.routesOf}, for MeshPeers) and the host's default routes go
 * into the overlay interface through policy routing (lib/routes/forwarding.ts `DefaultRouting`),
 * which leaves the agent's own underlay traffic (its marked UDP socket) on the host's routes, so
 * it cannot loop into the tunnel. When the exit node goes away (stops, is removed, loses its
 * approval) the host's routing is restored at once: traffic goes out directly again rather than
 * into a tunnel that leads nowhere, and the log says so.
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import type { DefaultRouting } from "../../routes/forwarding.ts";
import { EXIT_PREFIXES } from "../../routes/prefixes.ts";
import { parseHostPort } from "../../net/hostport.ts";
import { isIP } from "../../net/ip.ts";

/** How the exit node is used. */
export interface ExitNodeOptions {
  /** The exit node: a member's name or overlay address (canonical, as the config parses it). */
  exitNode: string;
  /** Keep the host's LAN (the main table's more specific routes) out of the tunnel. */
  allowLanAccess: boolean;
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
   * (lib/relay/runtime/mesh_routes.ts `relayOf`); absent: no relays (NAT traversal off).
   */
  relayOf?: (publicKey: string) => string | null;
  /** How often the relay in use is looked at while an exit node is used; default 1 s. */
  relayCheckMs?: number;
}

/** How often the relay carrying the exit node's traffic is looked at, by default. */
const RELAY_CHECK_MS = 1000;

/** The exit node in use, or none. See the module docs. */
export class ExitNodeUse {
  readonly #o: ExitNodeOptions;
  #using: string | null = null;
  // The underlay addresses kept off the tunnel, as last applied (sorted, joined).
  #exempt = "";
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  #told = "";
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Uses `opts.exitNode` once it is there (see {@link start}). */
  constructor(opts: ExitNodeOptions) {
    this.#o = opts;
  }

  /** Whether `m` is the exit node named and may serve as one now. */
  #usable(m: Member): boolean {
    const want = this.#o.exitNode;
    return (m.name === want || m.address === want || m.address6 === want) &&
      m.exitNode === true && !m.offline;
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

  /**
   * Starts using the exit node if it is there, and follows the relay its traffic goes through
   * (a relay's choice is no view change).
   */
  start(): Promise<void> {
    this.viewChanged(this.#o.view());
    if (this.#o.relayOf && this.#timer === undefined && !this.#closed) {
      this.#timer = setInterval(() => this.refresh(), this.#o.relayCheckMs ?? RELAY_CHECK_MS);
    }
    return this.#queue;
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
    const m = v.members.find((x) => this.#usable(x));
    const next = m?.publicKey ?? null;
    const exempt = next === null ? [] : exemptAddresses(v, next, this.#o.relayOf?.(next) ?? null);
    if (next === this.#using && (next === null || exempt.join() === this.#exempt)) return;
    this.#using = next;
    this.#exempt = exempt.join();
    const o = this.#o;
    this.#queue = this.#queue.then(async () => {
      if (this.#closed) return;
      try {
        if (next === null) {
          await o.routing.close();
        } else {
          await o.routing.apply({
            iface: o.iface,
            mark: o.mark,
            table: o.mark,
            families: [4, 6],
            keepLocalRoutes: o.allowLanAccess,
            exempt,
          });
        }
        const say = next === null ? "none" : next;
        if (say !== this.#told) {
          this.#told = say;
          if (m) o.logger.info("exit node in use", { name: m.name, address: m.address });
          else {o.logger.warn("exit node not available: traffic goes out directly", {
              exitNode: o.exitNode,
            });}
        }
      } catch (e) {
        // Tried again with the next view: nothing counts as in use until it worked.
        this.#using = null;
        this.#exempt = "";
        o.logger.error("routing through the exit node failed", { error: String(e) });
      }
    });
  }

  /** Stops using the exit node: the host's routing as it was. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#queue;
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
 * the relay at that carries the exit node's traffic now (`relay`, its public key), if any. The
 * endpoints a member advertises, relay or exit node, are its own say: left out.
 */
export function exemptAddresses(
  v: MembershipView,
  exitKey: string,
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
    else if (m.publicKey === exitKey || m.publicKey === relay) add(m.observed);
  }
  return [...out].sort();
}
