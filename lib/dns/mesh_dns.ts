/**
 * The mesh agent's DNS server: every member and service by name, with the members' health, and
 * each service's leader (`leader.<service>.<zone>`), on 127.0.0.1 (and on the overlay address
 * with a TUN). Asked for and unable to start, it fails the agent's start, naming the cause.
 * @module
 */

import type { Agent, UnderlayKind } from "../agent/agent.ts";
import type { AgentConfig } from "../config/agent_config.ts";
import { type DnsServer, serveDns } from "./server.ts";
import type { Logger } from "../log/logger.ts";
import type { Member, MembershipView } from "../members/member.ts";
import type { DnsRoute } from "../net/dns_route.ts";

/** The DNS section of a mesh agent's options. */
export interface MeshDnsOptions {
  /** DNS port on 127.0.0.1 and the overlay address (TUN mode); 0 turns DNS off. Default 15353. */
  dnsPort?: number;
  /** The DNS zone. Default `overlay.local.`. */
  dnsZone?: string;
  /** Forward names outside the zone to the system's resolvers. */
  dnsForward?: boolean;
  /**
   * Split DNS: names under each domain go to its resolvers (often behind a subnet router),
   * whether or not `dnsForward` is on (`--dns-route`).
   */
  dnsRoutes?: DnsRoute[];
}

/** The DNS section of a parsed configuration. */
export function dnsFromConfig(config: AgentConfig): MeshDnsOptions {
  return {
    dnsPort: config.dnsPort,
    dnsZone: config.dnsZone,
    dnsForward: config.dnsForward,
    ...(config.dnsRoute.length ? { dnsRoutes: config.dnsRoute } : {}),
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
   * every member: on the mesh leader with a policy in force, a member asking over the overlay
   * learns only the names of the members it may see.
   */
  visibleTo?: (querier: string) => ((member: Member) => boolean) | null;
}

/** Starts the DNS server unless turned off (null); throws, naming the cause, when it cannot. */
export async function startMeshDns(
  opts: MeshDnsOptions,
  ctx: MeshDnsContext,
): Promise<DnsServer | null> {
  const port = opts.dnsPort ?? 15353;
  if (port === 0) return null;
  const { agent, logger } = ctx;
  const overlay = agent.addresses[0].split("/")[0];
  // In userspace mode the overlay address is not the kernel's: serve loopback only.
  const addresses = ctx.userspace ? ["127.0.0.1"] : ["127.0.0.1", overlay];
  let dns: DnsServer;
  try {
    dns = await serveDns({
      addresses,
      port,
      zone: opts.dnsZone,
      forward: opts.dnsForward ?? false,
      ...(opts.dnsRoutes?.length ? { routes: opts.dnsRoutes } : {}),
      logger,
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
    });
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

/** The mesh's DNS server as a part of the agent: opened at start, closed at close. */
export class MeshDns {
  readonly #opts: MeshDnsOptions;
  readonly #ctx: MeshDnsContext;
  #server: DnsServer | null = null;
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

  /** Opens the server; throws, naming the cause, when it cannot. */
  async start(): Promise<void> {
    if (this.#closed) return;
    this.#server = await startMeshDns(this.#opts, this.#ctx);
  }

  /** Closes the server. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#server?.close();
  }
}
