/**
 * The sections of a mesh agent's options that several of its parts read: who this node is
 * (role, name, state, what it advertises) and how it reaches the underlay (port, interface, mode,
 * crypto, transport, name lookups), each with the part of the parsed configuration it comes from,
 * and the service section's part of the configuration (HTTP backends, health checks). The other
 * sections live beside the part that reads them (join, leader, sync, peers, DNS).
 * @module
 */

import type { ProxySetting } from "../../net/proxy.ts";
import type { UnderlayKind } from "../../agent/agent.ts";
import type { AgentConfig } from "../../config/agent_config.ts";
import type { DirLock } from "../../config/dir_lock.ts";
import type { BackendName } from "../../crypto/types.ts";
import type { HealthOptions } from "../../health/health.ts";
import type { Transport } from "../../io/driver.ts";
import type { Logger } from "../../log/logger.ts";
import type { ServiceSpec } from "../../members/member.ts";
import type { NameLookup } from "../../net/resolve.ts";
import type { ProtocolTimers } from "../../protocol/constants.ts";
import type { ServicesOptions } from "../../services/mesh_services.ts";
import { advertisedRoutes } from "../../routes/prefixes.ts";

/** Who this node is in the mesh. */
export interface MeshIdentityOptions {
  /** `leader` starts (or restarts) a mesh; `node` joins one (or restarts a joined node). */
  role: "leader" | "node";
  /** Where keys and state live. */
  stateDir: string;
  /**
   * A lock already held on `stateDir` (`await new StateDir(dir).lock()`, taken to read the
   * directory before the start), which the agent takes over: it releases it when it closes or
   * fails to start. Default: the agent locks the directory itself before it reads or writes
   * anything there; another agent holding it fails the start with a `DirLockedError`.
   * @ignore internal: the CLI's and tests' hooks
   */
  stateLock?: DirLock;
  /** This node's name, unique in the mesh. */
  hostname: string;
  /**
   * `hostname` is only a default (the machine's name; none was given): a node joining again
   * after its removal asks for the name it had, which its state directory remembers, and gets
   * it when no other member holds it.
   * @ignore internal: the CLI's and tests' hooks
   */
  hostnameIsDefault?: boolean;
  /** Endpoints to advertise (`host:port`); default: this machine's addresses. */
  advertise?: string[];
  /**
   * Labels of this node. On the leader they are its granted labels (keys under `node.weft/` are
   * kept apart as its own). A joining node cannot grant itself labels (they come from its token):
   * its keys must all be under `node.weft/`, or the start fails.
   */
  labels?: Record<string, string>;
  /** Services this node offers. */
  services?: ServiceSpec[];
  /**
   * Subnet routes this node offers to carry for the mesh (canonical: lib/routes/prefixes.ts
   * `parseRoutes`), TUN mode only; members use them once the leader approves them.
   */
  advertiseRoutes?: string[];
  /** Offer this node as an exit node (TUN mode), once the leader approves it. */
  advertiseExitNode?: boolean;
  /** The logger. */
  logger?: Logger;
}

/** How this node reaches the underlay and carries the overlay. */
export interface MeshUnderlayOptions {
  /** UDP listen port. Default 51820. */
  listenPort?: number;
  /**
   * TCP listen port, for members whose UDP does not get through (and the join's fallback).
   * Default: the same number as the UDP port, whatever UDP got; 0: no TCP. With
   * `openTransport`, which supplies the whole underlay, the default is no TCP.
   */
  tcpPort?: number;
  /**
   * Serve WebSockets over TLS (`wss`) on `port` with this certificate and key (PEM), beside the
   * plain ones on the TCP port: for browsers on HTTPS pages and networks that let out HTTPS only.
   */
  webSocketTls?: { cert: string; key: string; port: number };
  /** CA certificates (PEM) that `wss://` endpoints are checked against, instead of the system's. */
  webSocketCaCerts?: string[];
  /**
   * The HTTP proxy TCP dials go through (the join's and the agent's), with its `NO_PROXY` list:
   * parse it with lib/net/proxy.ts (`proxyFromEnv`, `parseProxyUrl`). Default: none; the
   * command line reads `HTTPS_PROXY` and the like into it, a program embedding the mesh decides.
   */
  proxy?: ProxySetting | null;
  /**
   * This member relays traffic for members without a direct path (its record says `relay`).
   * The leader always does, whatever this says.
   */
  relay?: boolean;
  /**
   * What this node, as a relay, forwards for each member at most, in Mbit/s (and a packet a
   * second for every 1,000 bytes). Default 160 (20 MB/s): a member flooding the relay is held
   * there while the others' relayed traffic keeps flowing.
   */
  relayRateMbps?: number;
  /** TUN interface name. Default `weft0`. */
  interfaceName?: string;
  /** No TUN: the userspace stack. */
  userspace?: boolean;
  /** MTU. Default 1420. */
  mtu?: number;
  /** Force a crypto backend. */
  crypto?: BackendName;
  /** Worker threads sealing and opening packets (Agent's `cryptoWorkers`). */
  cryptoWorkers?: number | "auto";
  /**
   * Protocol timer overrides.
   * @ignore internal: the CLI's and tests' hooks
   */
  timers?: Partial<ProtocolTimers>;
  /** UDP implementation. */
  underlay?: UnderlayKind;
  /**
   * Opens the underlay transport on a port (simulations use a memory network).
   * @ignore internal: the CLI's and tests' hooks
   */
  openTransport?: (port: number) => Promise<Transport>;
  /**
   * Health thresholds and the probe interval (defaults as in `HealthOptions`).
   * @ignore internal: the CLI's and tests' hooks
   */
  health?: HealthOptions;
  /** Probe peers for health (default true); simulations of large meshes turn it off. */
  probes?: boolean;
  /**
   * How names in endpoints (`leader.example.com:51820`) are looked up; default the system
   * resolver (getaddrinfo, so /etc/hosts counts).
   * @ignore internal: the CLI's and tests' hooks
   */
  lookup?: NameLookup;
}

/** The default UDP listen port. */
export const DEFAULT_LISTEN_PORT = 51820;

/**
 * The TCP port a mesh agent listens on, as `Agent.start` takes it: 0 for none, `"same"` for
 * the UDP port's number. See {@link MeshUnderlayOptions.tcpPort}.
 */
export function meshTcpPort(opts: MeshUnderlayOptions): number | "same" {
  if (opts.tcpPort === undefined) return opts.openTransport ? 0 : "same";
  return opts.tcpPort;
}

/**
 * The TCP port this node will listen on, when it is known before the agent opens it: a number,
 * or the UDP port's when that is fixed; null without TCP or when UDP's port is picked at start.
 */
export function knownTcpPort(opts: MeshUnderlayOptions): number | null {
  const tcp = meshTcpPort(opts);
  const port = tcp === "same" ? opts.listenPort ?? DEFAULT_LISTEN_PORT : tcp;
  return port === 0 ? null : port;
}

/** The underlay a mesh agent uses: as given, else FFI sockets on Linux and Deno's elsewhere. */
export function underlayKind(opts: MeshUnderlayOptions): UnderlayKind {
  return opts.underlay ?? (Deno.build.os === "linux" ? "linux" : "deno");
}

/** The identity section of a parsed configuration (the role is decided apart). */
export function identityFromConfig(
  config: AgentConfig,
): Omit<MeshIdentityOptions, "role" | "logger"> {
  return {
    stateDir: config.stateDir,
    hostname: config.hostname,
    ...(config.origin.hostname?.source === "default" ? { hostnameIsDefault: true } : {}),
    // None given: the leader advertises this machine's addresses.
    advertise: config.advertise.length ? config.advertise : undefined,
    labels: config.labels,
    // The HTTP backends and checks stay on this node: the record carries the rest.
    services: config.services.map(({ http: _h, httpActions: _a, check: _c, ...spec }) => spec),
    ...(config.advertiseRoutes.length ? { advertiseRoutes: config.advertiseRoutes } : {}),
    ...(config.advertiseExitNode ? { advertiseExitNode: true } : {}),
  };
}

/** What this node advertises as routes: its subnet routes, and the defaults as an exit node. */
export function ownRoutes(
  opts: Pick<MeshIdentityOptions, "advertiseRoutes" | "advertiseExitNode">,
): string[] {
  return advertisedRoutes(opts.advertiseRoutes ?? [], opts.advertiseExitNode === true);
}

/**
 * The service section of a parsed configuration: the HTTP backends and health checks of the
 * services' entries (`http:`, `check:`) and of the flags (`--service-http`, `--service-check`),
 * and the limits per caller (`--service-caller-limit`).
 */
export function servicesFromConfig(config: AgentConfig): ServicesOptions {
  const serviceHttp = [
    ...config.services.flatMap((
      s,
    ) => (s.http !== undefined
      ? [{ name: s.name, url: s.http, ...(s.httpActions ? { actions: s.httpActions } : {}) }]
      : [])
    ),
    ...config.serviceHttp,
  ];
  const serviceChecks = [
    ...config.services.flatMap((s) =>
      s.check !== undefined ? [{ service: s.name, check: s.check }] : []
    ),
    ...config.serviceChecks,
  ];
  return {
    ...(serviceHttp.length ? { serviceHttp } : {}),
    ...(serviceChecks.length ? { serviceChecks } : {}),
    serviceCallerLimit: { ...config.serviceCallerLimit },
  };
}

/** The underlay section of a parsed configuration. */
export function underlayFromConfig(config: AgentConfig): MeshUnderlayOptions {
  return {
    listenPort: config.listenPort,
    tcpPort: config.tcpPort,
    proxy: config.proxy,
    relay: config.relay,
    relayRateMbps: config.relayRate,
    interfaceName: config.interface,
    userspace: config.userspace,
    mtu: config.mtu,
    crypto: config.crypto,
    cryptoWorkers: config.cryptoWorkers,
    health: { probeIntervalMs: config.probeInterval },
  };
}
