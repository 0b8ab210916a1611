/**
 * The mesh agent's DNS server: every member and service by name, with the members' health, and
 * each service's leader (`leader.<service>.<zone>`), on 127.0.0.1 (and on the overlay address
 * with a TUN); with `--accept-dns`, also on port 53 of the overlay address for the host's own
 * resolver, which it points there. Asked for and unable to start, it fails the agent's start,
 * naming the cause.
 * @module
 */

import type { Agent, UnderlayKind } from "../agent/agent.ts";
import type { AgentConfig } from "../config/agent_config.ts";
import { type DnsServer, type DnsServerOptions, serveDns } from "./server.ts";
import type { Logger } from "../log/logger.ts";
import type { Member, MembershipView } from "../members/member.ts";
import type { DnsRoute } from "../net/dns_route.ts";
import { type SystemDns, type SystemDnsMode, upstreamsFrom } from "../net/system_dns.ts";

/** The DNS section of a mesh agent's options. */
export interface MeshDnsOptions {
  /** DNS port on 127.0.0.1 and the overlay address (TUN mode); 0 turns DNS off. Default 15353. */
  dnsPort?: number;
  /** The DNS zone. Default `overlay.local.`. */
  dnsZone?: string;
  /** Forward names outside the zone to the system's resolvers. */
  dnsForward?: boolean;
  /**
   * Forward (`dnsForward`, `dnsRoutes`, `acceptDns`) for other members' queries too, not only
   * for this host's own (`--dns-forward-members`); default false: theirs are REFUSED.
   */
  dnsForwardMembers?: boolean;
  /**
   * Split DNS: names under each domain go to its resolvers (often behind a subnet router),
   * whether or not `dnsForward` is on (`--dns-route`).
   */
  dnsRoutes?: DnsRoute[];
  /**
   * Point the host's resolver at this node (`--accept-dns`, TUN mode): DNS on port 53 of the
   * overlay address, names outside the zone forwarded to the host's own resolvers.
   */
  acceptDns?: boolean;
  /**
   * The host's resolver configurator (default: Linux's, from the state directory; tests replace it).
   * @ignore internal: tests' stand-in for the host's resolver
   */
  systemDns?: SystemDns;
}

/** The DNS section of a parsed configuration. */
export function dnsFromConfig(config: AgentConfig): MeshDnsOptions {
  return {
    dnsPort: config.dnsPort,
    dnsZone: config.dnsZone,
    dnsForward: config.dnsForward,
    ...(config.dnsForwardMembers ? { dnsForwardMembers: true } : {}),
    ...(config.dnsRoute.length ? { dnsRoutes: config.dnsRoute } : {}),
    ...(config.acceptDns ? { acceptDns: true } : {}),
  };
}

/** What the DNS server serves from and where. */
export interface MeshDnsContext {
  /** The agent: its overlay address, its peers' health, its listener counters. */
  agent: Agent;
  /** The membership view held now. */
  view: () => MembershipView;
  /** No TUN: the overlay address is not the kernel's, so only loopback is served. */
  userspace: boolean;
  /** The underlay, which the DNS sockets follow. */
  underlay: UnderlayKind;
  /** The logger. */
  logger: Logger;
  /** The member leading a service now (`leader.<service>.<zone>`), or null. */
  serviceLeader?: (service: string) => Member | null;
  /**
   * The members a query from `querier` (its source address) may be answered with, null for
   * every member: a querier other than this host learns only the names of the members it may
   * see (lib/dns/scope.ts).
   */
  visibleTo?: (querier: string) => ((member: Member) => boolean) | null;
  /** Configures the host's resolver, with `acceptDns` (TUN mode). */
  systemDns?: SystemDns;
  /** The overlay interface the host's resolver is pointed through (`weft0`). */
  iface?: string;
}

/** The port the host's resolver is pointed at (resolv.conf cannot name another). */
export const SYSTEM_DNS_PORT = 53;

/** How the host's resolver is pointed at this node (`--accept-dns`), for `/status`. */
export interface SystemDnsStatus {
  /** `resolved` (systemd-resolved), `resolvconf` or `file` (/etc/resolv.conf rewritten). */
  mode: SystemDnsMode;
  /** The server the host asks: the overlay address, port 53. */
  server: string;
  /** Where names outside the zone go: the host's resolvers from before. */
  upstreams: string[];
}

/** Starts the DNS server unless turned off (null); throws, naming the cause, when it cannot. */
export async function startMeshDns(
  opts: MeshDnsOptions,
  ctx: MeshDnsContext,
): Promise<DnsServer | null> {
  const port = opts.dnsPort ?? 15353;
  if (port === 0) return null;
  const { agent } = ctx;
  const overlay = agent.addresses[0].split("/")[0];
  // In userspace mode the overlay address is not the kernel's: serve loopback only.
  const addresses = ctx.userspace ? ["127.0.0.1"] : ["127.0.0.1", overlay];
  let dns: DnsServer;
  try {
    dns = await serveDns(serverOptions(opts, ctx, { addresses, port }));
  } catch (e) {
    // Asked for and not there: the agent must not run on without it.
    throw new Error(
      `the DNS server did not start: ${e instanceof Error ? e.message : String(e)} ` +
        "(choose another DNS port, or 0 for no DNS)",
      { cause: e },
    );
  }
  agent.listenerStats.dns_tcp = dns.listenerStats;
  return dns;
}

/** The options of one of the mesh's DNS servers: where it listens, and what it differs in. */
function serverOptions(
  opts: MeshDnsOptions,
  ctx: MeshDnsContext,
  where: Pick<DnsServerOptions, "addresses" | "port"> & Partial<DnsServerOptions>,
): DnsServerOptions {
  const { agent } = ctx;
  return {
    zone: opts.dnsZone,
    forward: opts.dnsForward ?? false,
    ...(opts.dnsForwardMembers ? { forwardMembers: true } : {}),
    ...(opts.dnsRoutes?.length ? { routes: opts.dnsRoutes } : {}),
    logger: ctx.logger,
    // The DNS sockets follow the underlay: FFI sockets with it, node:dgram without.
    udp: ctx.underlay === "linux" ? "linux" : "node",
    source: {
      view: ctx.view,
      healthOf: (m) =>
        m.publicKey === agent.device.publicKey
          ? "up"
          : agent.peerHealth(m.publicKey)?.state ?? "unknown",
      ...(ctx.serviceLeader ? { leaderOf: ctx.serviceLeader } : {}),
      ...(ctx.visibleTo ? { visibleTo: ctx.visibleTo } : {}),
    },
    ...where,
  };
}

/**
 * Serves the mesh's names to the host's resolver on port 53 of the overlay address, forwarding
 * the rest to the host's resolvers from before, and points the host's resolver there. Undone
 * (the host's resolver first) by closing what it returns.
 */
async function startSystemDns(
  opts: MeshDnsOptions,
  ctx: MeshDnsContext,
  main: DnsServer,
): Promise<{ server: DnsServer; status: SystemDnsStatus }> {
  const system = ctx.systemDns;
  if (system === undefined || ctx.userspace) {
    throw new Error("accept-dns: pointing the host's resolver at weft needs TUN mode");
  }
  const overlay = ctx.agent.addresses[0].split("/")[0];
  // Read before anything changes: these are where every other name keeps going.
  const host = await system.detect();
  const upstreams = upstreamsFrom(host.nameservers, overlay);
  if (upstreams.length === 0) {
    ctx.logger.warn("accept-dns: the host has no resolvers; names outside the mesh fail");
  }
  let server: DnsServer;
  try {
    server = await serveDns(serverOptions(opts, ctx, {
      addresses: [overlay],
      port: SYSTEM_DNS_PORT,
      forward: upstreams.length ? upstreams : false,
      // One set of counters for /metrics: this server's queries count with the mesh server's.
      stats: main.stats,
    }));
  } catch (e) {
    throw new Error(
      `accept-dns: DNS on ${overlay}:${SYSTEM_DNS_PORT} did not start: ${
        e instanceof Error ? e.message : String(e)
      }`,
      { cause: e },
    );
  }
  const zone = main.zone.origin.replace(/\.$/, "");
  try {
    await system.apply({ iface: ctx.iface ?? "weft0", server: overlay, zone }, host.mode);
  } catch (e) {
    await system.restore().catch(() => {});
    await server.close();
    throw new Error(
      `accept-dns: configuring the host's resolver (${host.mode}) failed: ${
        e instanceof Error ? e.message : String(e)
      }`,
      { cause: e },
    );
  }
  ctx.logger.info("host resolver pointed at weft", {
    mode: host.mode,
    server: `${overlay}:${SYSTEM_DNS_PORT}`,
    zone,
    upstreams: upstreams.join(","),
  });
  return { server, status: { mode: host.mode, server: overlay, upstreams } };
}

/** The mesh's DNS server as a part of the agent: opened at start, closed at close. */
export class MeshDns {
  readonly #opts: MeshDnsOptions;
  readonly #ctx: MeshDnsContext;
  #server: DnsServer | null = null;
  #system: { server: DnsServer; status: SystemDnsStatus } | null = null;
  #closed = false;

  /** A DNS server to open at start with `opts` (DNS on: a port other than 0). */
  constructor(opts: MeshDnsOptions, ctx: MeshDnsContext) {
    this.#opts = opts;
    this.#ctx = ctx;
  }

  /** Whether `opts` turn DNS on (the part is made only then). */
  static on(opts: MeshDnsOptions): boolean {
    return (opts.dnsPort ?? 15353) !== 0;
  }

  /** The server, once started. */
  get server(): DnsServer | null {
    return this.#server;
  }

  /** How the host's resolver is pointed here (`acceptDns`), null when it is not. */
  get systemDns(): SystemDnsStatus | null {
    return this.#system?.status ?? null;
  }

  /**
   * Opens the server and, with `acceptDns`, points the host's resolver here; throws, naming the
   * cause, when it cannot (and leaves nothing open or changed).
   */
  async start(): Promise<void> {
    if (this.#closed) return;
    this.#server = await startMeshDns(this.#opts, this.#ctx);
    if (this.#server === null || !this.#opts.acceptDns) return;
    try {
      this.#system = await startSystemDns(this.#opts, this.#ctx, this.#server);
    } catch (e) {
      await this.#server.close();
      this.#server = null;
      throw e;
    }
  }

  /** Puts the host's resolver back (before its server goes), then closes the servers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.#system) await this.#putBack();
    } finally {
      await this.#system?.server.close();
      await this.#server?.close();
    }
  }

  async #putBack(): Promise<void> {
    const done = await this.#ctx.systemDns?.restore();
    if (done?.leftAlone) {
      this.#ctx.logger.warn("host resolver not put back", { reason: done.leftAlone });
    } else if (done) {
      this.#ctx.logger.info("host resolver put back", { mode: done.mode });
    }
  }
}
