/**
 * The routes this member uses through others: every prefix a router carries (its record's
 * `routes`, set by the leader) goes into that router's allowed IPs (MeshPeers asks
 * {@link AcceptedRoutes.routesOf}) and, in TUN mode, into the kernel's routing table through the
 * overlay interface, so the host's programs reach the networks behind it. Left out, and said once
 * in the log: everything with `--no-accept-routes`, and a prefix that overlaps one of this host's
 * connected networks (the host reaches it directly; routing it into the mesh would cut it off)
 * or the mesh's own network.
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { Cidr } from "../../net/cidr.ts";
import type { DefaultRouting, HostForwarding, KernelRoutes } from "../../routes/forwarding.ts";

/** How the accepted routes are kept. */
export interface AcceptedRoutesOptions {
  /** This node's public key (its own routes are not routed into the mesh). */
  self: string;
  /** Use other members' routes (default true; `--no-accept-routes`). */
  accept?: boolean;
  /**
   * Makes the peers take {@link AcceptedRoutes.routesOf} again (their allowed IPs), after
   * `accept` changed at runtime; absent: nothing to do.
   */
  reroute?: () => void;
  /** The kernel's routes through the overlay interface; null in userspace mode. */
  kernel: KernelRoutes | null;
  /** This host's connected networks (interface prefixes, the overlay interface's left out). */
  connected: () => string[];
  /** The view held now. */
  view: () => MembershipView;
  /** The logger. */
  logger: Logger;
}

/** One route in use: the prefix and the member it goes through. */
export interface RouteInUse {
  /** The prefix. */
  prefix: string;
  /** The router's name. */
  via: string;
  /** The router's overlay address. */
  address: string;
  /** Whether it is in the kernel's table (TUN mode). */
  installed: boolean;
}

const NONE: readonly string[] = [];

/** Keeps the routes through other members. See the module docs. */
export class AcceptedRoutes {
  readonly #o: AcceptedRoutesOptions;
  #connected: Cidr[] = [];
  #mesh: Cidr[] = [];
  // Prefixes left out, each said once.
  readonly #said = new Set<string>();
  // Prefixes in the kernel's table, and the changes to it, one at a time.
  readonly #installed = new Set<string>();
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  #accept: boolean;

  /** Routes kept as `opts` says; {@link start} reads the host's networks. */
  constructor(opts: AcceptedRoutesOptions) {
    this.#o = opts;
    this.#accept = opts.accept !== false;
    this.#refresh(opts.view());
  }

  /**
   * Uses the approved routes other members carry, or stops (`weft set --[no-]accept-routes`):
   * the peers' allowed IPs and the kernel's routes follow at once.
   */
  async setAccept(accept: boolean): Promise<void> {
    if (accept === this.#accept) return;
    this.#accept = accept;
    this.#o.reroute?.();
    this.viewChanged(this.#o.view());
    await this.#queue;
  }

  /** The prefixes routed through `m` (its allowed IPs beside its own addresses). */
  routesOf(m: Member): readonly string[] {
    if (!m.routes?.length || !this.#accept || m.publicKey === this.#o.self) return NONE;
    return m.routes.filter((p) => this.#usable(p, m));
  }

  /** Installs the routes of the view held. */
  start(): void {
    this.viewChanged(this.#o.view());
  }

  /** Brings the kernel's routes in line with a new view. */
  viewChanged(v: MembershipView): void {
    // The host's networks are read again only where routes are in play (a view change in a
    // mesh without routes costs nothing more).
    if (this.#installed.size > 0 || v.members.some((m) => m.routes?.length)) this.#refresh(v);
    const wanted = new Set<string>();
    for (const m of v.members) for (const p of this.routesOf(m)) wanted.add(p);
    const kernel = this.#o.kernel;
    if (!kernel) return;
    for (const p of this.#installed) {
      if (!wanted.has(p)) this.#change(p, false, () => kernel.remove(p));
    }
    for (const p of wanted) {
      if (!this.#installed.has(p)) this.#change(p, true, () => kernel.add(p));
    }
  }

  /** The routes in use now, by prefix. */
  inUse(): RouteInUse[] {
    const out: RouteInUse[] = [];
    for (const m of this.#o.view().members) {
      for (const prefix of this.routesOf(m)) {
        out.push({
          prefix,
          via: m.name,
          address: m.address,
          installed: this.#installed.has(prefix),
        });
      }
    }
    return out.sort((a, b) => a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0);
  }

  /** Waits for the kernel changes under way (tests, and a clean stop). */
  settled(): Promise<void> {
    return this.#queue;
  }

  /** Stops changing the kernel's table (the interface's removal takes its routes along). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
  }

  #change(prefix: string, add: boolean, run: () => Promise<void>): void {
    // Marked at once, so the next view does not queue the same change again.
    if (add) this.#installed.add(prefix);
    else this.#installed.delete(prefix);
    this.#queue = this.#queue.then(async () => {
      if (this.#closed) return;
      try {
        await run();
        this.#o.logger.info(add ? "route added" : "route removed", { prefix });
      } catch (e) {
        // Tried again at the next view.
        if (add) this.#installed.delete(prefix);
        else this.#installed.add(prefix);
        this.#o.logger.warn(add ? "adding a route failed" : "removing a route failed", {
          prefix,
          error: String(e),
        });
      }
    });
  }

  #refresh(v: MembershipView): void {
    this.#mesh = [v.network, v.network6].flatMap((n) => n ? [Cidr.parse(n)] : []);
    const connected: Cidr[] = [];
    for (const text of this.#o.connected()) {
      const c = Cidr.tryParse(text);
      if (c && !/^127\.|^::1\/|^fe80:/.test(text)) connected.push(c);
    }
    this.#connected = connected;
  }

  #usable(prefix: string, via: Member): boolean {
    const p = Cidr.tryParse(prefix);
    if (p === null) return false;
    const clash = this.#mesh.find((n) => n.family === p.family && n.overlaps(p)) ??
      this.#connected.find((n) => n.family === p.family && n.overlaps(p));
    if (!clash) return true;
    const key = `${prefix} ${clash}`;
    if (!this.#said.has(key)) {
      this.#said.add(key);
      this.#o.logger.warn("route not used: it overlaps a network of this host", {
        prefix,
        via: via.name,
        network: clash.toString(),
      });
    }
    return false;
  }
}

/** This host's connected networks (interface prefixes), the interface `except` left out. */
export function connectedNetworks(except?: string): string[] {
  try {
    return Deno.networkInterfaces()
      .filter((i) => i.name !== except)
      .map((i) => Cidr.parse(i.cidr).toString());
  } catch {
    return [];
  }
}

/** The subnet-routes section of a mesh agent's options (what it uses; what it carries). */
export interface SubnetOptions {
  /** Use the approved routes other members carry (default true; `--no-accept-routes`). */
  acceptRoutes?: boolean;
  /**
   * Masquerade the mesh's traffic into the routes this node carries (default true;
   * `--no-snat-subnet-routes` keeps the members' overlay addresses, and hosts there need a
   * route back to the mesh through this node).
   */
  snatSubnetRoutes?: boolean;
  /**
   * The host's forwarding for the routes this node carries (default: Linux's; tests replace it).
   * @ignore internal: tests' stand-ins for the host's routing
   */
  forwarding?: HostForwarding;
  /**
   * The kernel's routes through the overlay interface (default: Linux's `ip route`).
   * @ignore internal: tests' stand-ins for the host's routing
   */
  kernelRoutes?: KernelRoutes;
  /**
   * Send this host's internet traffic through that member (name or overlay address), an
   * approved exit node (`--exit-node`; TUN mode).
   */
  exitNode?: string;
  /** With an exit node, keep the host's LAN out of the tunnel (`--exit-node-allow-lan-access`). */
  exitNodeAllowLanAccess?: boolean;
  /**
   * While the exit node is not there, let the host's traffic out directly rather than blocking
   * it (`--exit-node-fallback`).
   */
  exitNodeFallback?: boolean;
  /**
   * The host's policy routing for the exit node (default: Linux's `ip rule`/`ip route`).
   * @ignore internal: tests' stand-ins for the host's routing
   */
  defaultRouting?: DefaultRouting;
}

/** The subnet-routes section of a parsed configuration. */
export function subnetsFromConfig(
  config: {
    acceptRoutes: boolean;
    snatSubnetRoutes: boolean;
    exitNode?: string;
    exitNodeAllowLanAccess: boolean;
    exitNodeFallback?: boolean;
  },
): SubnetOptions {
  return {
    ...(config.acceptRoutes ? {} : { acceptRoutes: false }),
    ...(config.snatSubnetRoutes ? {} : { snatSubnetRoutes: false }),
    ...(config.exitNode !== undefined ? { exitNode: config.exitNode } : {}),
    ...(config.exitNodeAllowLanAccess ? { exitNodeAllowLanAccess: true } : {}),
    ...(config.exitNodeFallback ? { exitNodeFallback: true } : {}),
  };
}
