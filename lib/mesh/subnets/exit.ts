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
}

/** The exit node in use, or none. See the module docs. */
export class ExitNodeUse {
  readonly #o: ExitNodeOptions;
  #using: string | null = null;
  // The underlay addresses kept off the tunnel, as last applied (sorted, joined).
  #exempt = "";
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  #told = "";

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

  /** Starts using the exit node if it is there. */
  start(): Promise<void> {
    this.viewChanged(this.#o.view());
    return this.#queue;
  }

  /**
   * Follows a new view: the exit node appearing, going or changing. Called before the peers
   * take the view (so its allowed IPs follow at once): see compose.ts.
   */
  viewChanged(v: MembershipView): void {
    const m = v.members.find((x) => this.#usable(x));
    const next = m?.publicKey ?? null;
    const exempt = next === null ? [] : exemptAddresses(v, next);
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
    await this.#queue;
    await this.#o.routing.close();
  }
}

/**
 * The underlay addresses of the exit node, the leaders and the relays: the agent may reach them
 * over TCP (the fallback when UDP does not get through), whose connections carry no mark, so they
 * stay on the host's own routes rather than enter the tunnel they carry.
 */
export function exemptAddresses(v: MembershipView, exitKey: string): string[] {
  const out = new Set<string>();
  for (const m of v.members) {
    if (m.publicKey !== exitKey && m.role !== "leader" && m.relay !== true) continue;
    for (const ep of m.endpoints) {
      try {
        const { host } = parseHostPort(ep);
        if (isIP(host)) out.add(host);
      } catch {
        // A malformed endpoint names no address to keep.
      }
    }
  }
  return [...out].sort();
}
