/**
 * What a subnet router or an exit node needs from its host: packets from the mesh forwarded
 * between the overlay interface and the host's other networks, and (by default) masqueraded, so
 * hosts behind the router answer its own address and need no route back into the mesh. The
 * Linux implementation is drivers/linux/forwarding.ts (sysctls and iptables).
 * @module
 */

/** What {@link HostForwarding.apply} sets up. */
export interface ForwardingConfig {
  /** The overlay interface the mesh's packets come in on (`weft0`). */
  iface: string;
  /** The mesh's networks, the sources of its traffic (`10.96.0.0/16`, `fd7a::/48`). */
  sources: string[];
  /**
   * The prefixes forwarded into (the routes this node advertises; `0.0.0.0/0` and `::/0` for an
   * exit node). The families present decide which forwarding sysctls are turned on.
   */
  prefixes: string[];
  /** Masquerade mesh traffic leaving towards `prefixes` (default on: `--no-snat-subnet-routes`). */
  masquerade: boolean;
  /**
   * The families guarded (forwarding on, the mesh's traffic to anything but `prefixes` dropped);
   * default the families of `prefixes`. A router whose routes are not approved yet guards the
   * families it advertises with no prefix let through.
   */
  families?: readonly (4 | 6)[];
}

/** The packets and bytes forwarded through one route (prefix) since its rules were installed. */
export interface RouteCounters {
  /** The route's prefix, canonical (`192.168.1.0/24`, `0.0.0.0/0`). */
  prefix: string;
  /** mesh -> route */
  outPackets: number;
  /** mesh -> route */
  outBytes: number;
  /** route -> mesh (replies to connections from the mesh) */
  inPackets: number;
  /** route -> mesh (replies to connections from the mesh) */
  inBytes: number;
}

/** Forwarding on a host, set up and taken down again. */
export interface HostForwarding {
  /**
   * Sets forwarding up for `config`, replacing what an earlier call (or a run of the same
   * interface that crashed) left; throws with a clear message when the host cannot do it.
   */
  apply(config: ForwardingConfig): Promise<void>;
  /** Removes every rule `apply` added and turns off the sysctls it turned on. */
  close(): Promise<void>;
  /**
   * Removes the rules a run on `iface` that crashed left (a restart without routes to carry);
   * nothing when there are none.
   */
  sweep(iface: string): Promise<void>;
  /**
   * The traffic forwarded through each prefix of the last `apply`, in both directions, counted
   * by the host (firewall rule counters); `[]` when nothing is set up.
   */
  counters(): Promise<RouteCounters[]>;
}

/**
 * The kernel's routes to prefixes through the overlay interface: what a member that accepts
 * routes installs (`ip route replace PREFIX dev weft0`), so the host's programs reach the
 * networks behind routers. The Linux implementation is drivers/linux/kernel_routes.ts.
 */
export interface KernelRoutes {
  /** Routes `prefix` (canonical) into the overlay interface; idempotent. */
  add(prefix: string): Promise<void>;
  /** Removes the route to `prefix` through the overlay interface; a route already gone is no error. */
  remove(prefix: string): Promise<void>;
}

/**
 * A default route through the overlay interface that does not swallow the agent's own underlay
 * traffic: what a member using an exit node (`--exit-node`), and `weft up` with `AllowedIPs =
 * 0.0.0.0/0` and `Table = auto`, need of the host. As wg-quick does it: the default route goes
 * into a table of its own, which every packet not carrying the agent's mark (its underlay
 * sockets' SO_MARK) looks up; with `keepLocalRoutes`, the main table's more specific routes (the
 * LAN, other interfaces) are looked up first. The Linux implementation is
 * drivers/linux/default_route.ts.
 */
export interface DefaultRouteConfig {
  /** The overlay interface the default routes go into. */
  iface: string;
  /** The mark the agent's underlay sockets put on their packets (SO_MARK), never 0. */
  mark: number;
  /** The routing table of the default routes (wg-quick uses the mark's number). */
  table: number;
  /** The families whose default route goes into the tunnel. */
  families: readonly (4 | 6)[];
  /** Keep the main table's more specific routes (the LAN) out of the tunnel. */
  keepLocalRoutes: boolean;
  /**
   * The default routes in the table are `unreachable` rather than into `iface`: what the
   * default route would carry goes nowhere (an exit node named but not there, fail closed);
   * with `keepLocalRoutes` the main table's more specific routes (the overlay, the LAN) still
   * answer, and the agent's marked traffic and `exempt` stay on the host's routes.
   */
  blocked?: boolean;
  /**
   * Underlay addresses kept on the host's own routes whatever the mark: those the agent reaches
   * over connections it cannot mark (the TCP transport's, to the exit node, leaders and relays).
   */
  exempt?: readonly string[];
}

/** The default route through the tunnel, set up and taken down again. */
export interface DefaultRouting {
  /**
   * Sets the default routes and rules for `config`, replacing what an earlier call (or a run
   * that crashed with the same table and mark) left; throws with a clear message when it cannot.
   */
  apply(config: DefaultRouteConfig): Promise<void>;
  /** Removes every route and rule `apply` added, leaving the host's tables as they were. */
  close(): Promise<void>;
  /**
   * Removes the rules of `table` and `mark` and the default routes into `iface` that a run that
   * crashed left (a restart without an exit node); nothing when there are none. Another tunnel's
   * routes in the same table (wg-quick's 51820) are left alone.
   */
  sweep(table: number, mark: number, iface: string): Promise<void>;
}
