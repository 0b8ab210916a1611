/**
 * The one place a mesh agent's options are read: {@link resolveMesh} turns the flat
 * {@link MeshOptions} (with the preferences `weft set` laid over them) into one typed section per
 * part, its defaults applied and what several parts share worked out once (the routes this node
 * advertises, its TCP port, the underlay, the exit node's mark). The composition root
 * (compose.ts), the start's state (boot.ts) and the join hand each part its section; none reads
 * the options again, as Nebula hands each subsystem its config section.
 * @module
 */

import type { ProxySetting } from "../net/proxy.ts";
import type { UnderlayKind } from "../agent/agent.ts";
import type { DirLock } from "../config/dir_lock.ts";
import type { BackendName } from "../crypto/types.ts";
import { MeshDns, type MeshDnsOptions } from "../dns/mesh_dns.ts";
import type { HealthOptions } from "../health/health.ts";
import type { Transport } from "../io/driver.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import type { ServiceSpec } from "../members/member.ts";
import { DEFAULT_LISTEN_PORT } from "../members/ports.ts";
import type { NatOptions } from "./nat/mesh_paths.ts";
import type { PqOptions } from "./pq/mesh_pq.ts";
import type { NameLookup } from "../net/resolve.ts";
import type { ProtocolTimers } from "../protocol/constants.ts";
import type { RelayPartsOptions } from "./relay/relay_parts.ts";
import type { LeaseOptions } from "../services/lease/runtime.ts";
import type { ServicesOptions } from "../services/mesh_services.ts";
import { announcedServices } from "../services/announce.ts";
import type { JoinSection } from "./join/client.ts";
import type { LeaderOptions } from "./leader/service.ts";
import type { MeshOptions } from "./mesh_options.ts";
import { knownTcpPort, meshTcpPort, ownRoutes, underlayKind } from "./options/options.ts";
import type { ActivityTiming } from "./peers/activity.ts";
import type { PrefSettings } from "./prefs.ts";
import type { SegmentsOptions } from "./segments/segments.ts";
import type { PluginsOptions } from "./plugins/plugins.ts";
import type { DefaultRouting, HostForwarding, KernelRoutes } from "../routes/forwarding.ts";
import type { NodeSyncOptions } from "./sync/node_sync.ts";
import type { SystemDns } from "../net/system_dns.ts";

/** Who this node is: what its record (a leader's state, a node's join and hellos) says. */
export interface IdentitySection {
  /** Its name, unique in the mesh. */
  hostname: string;
  /** The name is the machine's, none was given (a removed node asks for its old one). */
  hostnameIsDefault: boolean;
  /** The endpoints it advertises as given (empty: the leader's own addresses, a node none). */
  advertise: string[];
  /** Its labels (granted on a leader; its own `node.weft/` ones on a node). */
  labels: Record<string, string>;
  /** The services it offers (configured and set at runtime). */
  services: ServiceSpec[];
  /**
   * The services as its record says them before the service layer runs (a leader's own record, a
   * node's join): one with a health check is marked failing, as the layer counts it until its
   * first check passes (fail closed from the first record on).
   */
  announced: ServiceSpec[];
  /** The routes it advertises: its subnet routes, and the defaults as an exit node. */
  routes: string[];
  /** It relays for others (the leader always does). */
  relay: boolean;
}

/** What the agent under the mesh starts with (`Agent.start`'s part of the options). */
export interface AgentSection {
  /** The UDP port. */
  listenPort: number;
  /** The TCP port as `Agent.start` takes it: 0 for none, `"same"` for UDP's. */
  tcpPort: number | "same";
  /** `wss` beside the TCP port (MeshUnderlayOptions.webSocketTls). */
  webSocketTls?: { cert: string; key: string; port: number };
  /** CAs for `wss://` dials (MeshUnderlayOptions.webSocketCaCerts). */
  webSocketCaCerts?: string[];
  /** The HTTP proxy TCP dials go through; null: none. */
  proxy: ProxySetting | null;
  /** The UDP implementation. */
  underlay: UnderlayKind;
  /** No TUN: the userspace stack. */
  userspace: boolean;
  /** The TUN interface's name (the host parts name it too). */
  iface: string;
  /** The tunnel's MTU. */
  mtu: number;
  /** A crypto backend forced. */
  crypto?: BackendName;
  /** Worker threads sealing and opening. */
  cryptoWorkers?: number | "auto";
  /** Protocol timer overrides. */
  timers?: Partial<ProtocolTimers>;
  /** Opens the underlay transport on a port (simulations). */
  openTransport?: (port: number) => Promise<Transport>;
  /** Health thresholds and the probe interval. */
  health?: HealthOptions;
  /** Probe peers for health. */
  probes: boolean;
  /**
   * The underlay socket's mark that keeps it out of an exit node's tunnel (the listen port's
   * number, as the routing table's); 0: no mark (no exit node can be used).
   */
  exitMark: number;
}

/** The device's peers and sessions on demand. */
export interface PeersSection {
  /** Keepalive of the active peers, s. */
  keepalive: number;
  /** Peers kept active from the start. */
  keepPeers: string[];
  /** Sessions on demand's timing. */
  activityTiming?: Partial<ActivityTiming>;
  /** How names in endpoints are looked up. */
  lookup?: NameLookup;
}

/** The routes: those other members carry, those this node carries, the exit node it uses. */
export interface RoutesSection {
  /** Use the routes other members carry. */
  accept: boolean;
  /** Masquerade what this node forwards into the subnets it carries. */
  masquerade: boolean;
  /** The host's forwarding (tests give a fake). */
  forwarding?: HostForwarding;
  /** The kernel's routing table (tests give a fake). */
  kernelRoutes?: KernelRoutes;
  /** The host's default routing (tests give a fake). */
  defaultRouting?: DefaultRouting;
  /**
   * The exit node's mark and routing table (the listen port's number; a port picked at start:
   * the default's), also what a crashed run's rules are found by.
   */
  mark: number;
  /**
   * The exit node part: null when none can be used (no exit node, and not TUN mode over the
   * Linux underlay, where one may be chosen at runtime).
   */
  exit: { exitNode: string | null; allowLanAccess: boolean; fallback: boolean } | null;
}

/** The DNS section: the server's options (null: DNS off) and the host's resolver. */
export interface DnsSection {
  /** The server's options; null when DNS is off (`dnsPort: 0`). */
  server: MeshDnsOptions | null;
  /** Point the host's resolver here; a failure to put it back stops the start. */
  acceptDns: boolean;
  /** The host's resolver (tests give a fake). */
  systemDns?: SystemDns;
}

/** A mesh agent's options resolved once: one section per part. */
export interface ResolvedMesh {
  /** `leader` or `node`. */
  role: "leader" | "node";
  /** The logger. */
  logger: Logger;
  /** The state directory, and a lock already held on it. */
  state: { dir: string; lock?: DirLock };
  /** Who this node is. */
  identity: IdentitySection;
  /** The agent under the mesh. */
  agent: AgentSection;
  /** A node's join (and what its request says). */
  join: JoinSection;
  /** The leader's state and service. */
  leader: LeaderOptions;
  /** A node's sync with the leader. */
  sync: NodeSyncOptions;
  /** The device's peers. */
  peers: PeersSection;
  /** The relay client and server. */
  relay: RelayPartsOptions;
  /** NAT traversal; null when it is off. */
  nat: NatOptions | null;
  /** The routes and the exit node. */
  routes: RoutesSection;
  /** The Layer 2 segments. */
  segments: SegmentsOptions;
  /** DNS. */
  dns: DnsSection;
  /** The service layer. */
  services: ServicesOptions;
  /** The service leaders' leases. */
  leases: LeaseOptions;
  /** The plugins. */
  plugins: PluginsOptions;
  /** The post-quantum preshared keys. */
  pq: PqOptions;
}

// The sections handed on whole, as their part declares them: each key list must name every
// field of its interface (the compiler says which is missing), so a new option reaches its part.
const NAT_KEYS: Keys<NatOptions> = {
  natTraversal: true,
  lanCandidates: true,
  interfaces: true,
  pathTiming: true,
  lanDiscovery: true,
  lanAnnounce: true,
};
const LEADER_KEYS: Keys<LeaderOptions> = {
  network: true,
  network6: true,
  joinHoldMs: true,
  nameHoldMs: true,
  policyText: true,
  policyOrigin: true,
  store: true,
};
const SYNC_KEYS: Keys<NodeSyncOptions> = { syncIntervalMs: true, byeWaitMs: true };
const SEGMENTS_KEYS: Keys<SegmentsOptions> = { segmentDrivers: true };
const DNS_KEYS: Keys<MeshDnsOptions> = {
  dnsPort: true,
  dnsZone: true,
  dnsForward: true,
  dnsForwardMembers: true,
  dnsRoutes: true,
  acceptDns: true,
  systemDns: true,
};
const SERVICES_KEYS: Keys<ServicesOptions> = {
  serviceHttp: true,
  serviceChecks: true,
  serviceCallerLimit: true,
  serviceLayer: true,
};
const LEASE_KEYS: Keys<LeaseOptions> = { leaseTiming: true };
const PLUGIN_KEYS: Keys<PluginsOptions> = { plugins: true, pluginTiming: true };
const PQ_KEYS: Keys<PqOptions> = { pq: true, requirePq: true, pqRotateMs: true };

type Keys<T> = { [K in keyof Required<T>]: true };

// The fields of `opts` that `keys` names and that are set.
function pick<T extends object>(opts: T, keys: Keys<T>): T {
  const out: Partial<T> = {};
  for (const k of Object.keys(keys) as (keyof T)[]) {
    if (opts[k] !== undefined) out[k] = opts[k];
  }
  return out as T;
}

/** The settings `weft set` changes, as the options give them (prefs.ts lays its own over them). */
export function configuredSettings(opts: MeshOptions): PrefSettings {
  return {
    labels: opts.labels ?? {},
    services: opts.services ?? [],
    advertiseRoutes: opts.advertiseRoutes ?? [],
    advertiseExitNode: opts.advertiseExitNode ?? false,
    exitNode: opts.exitNode,
    exitNodeAllowLanAccess: opts.exitNodeAllowLanAccess === true,
    exitNodeFallback: opts.exitNodeFallback === true,
    acceptRoutes: opts.acceptRoutes !== false,
  };
}

/**
 * Resolves the options once, with `settings` (the configured ones with the runtime preferences
 * over them) in place of the options' own. Throws on a combination no part could run with
 * (routes to carry or an exit node in userspace mode).
 */
export function resolveMesh(
  opts: MeshOptions,
  settings: PrefSettings = configuredSettings(opts),
): ResolvedMesh {
  const userspace = opts.userspace === true;
  const routes = ownRoutes(settings);
  if (routes.length && userspace) {
    throw new Error("carrying routes for the mesh needs TUN mode (the kernel forwards them)");
  }
  if (settings.exitNode !== undefined && userspace) {
    throw new Error("routing this host's traffic through an exit node needs TUN mode");
  }
  const underlay = underlayKind(opts);
  const listenPort = opts.listenPort ?? DEFAULT_LISTEN_PORT;
  // In TUN mode over the Linux underlay the socket is always marked, so that an exit node may be
  // chosen at runtime (a mark alone changes nothing: only the exit node's rules look at it).
  const markable = !userspace && underlay === "linux" && !opts.openTransport;
  const exitUsable = settings.exitNode !== undefined || markable;
  const mark = opts.listenPort || DEFAULT_LISTEN_PORT;
  const identity: IdentitySection = {
    hostname: opts.hostname,
    hostnameIsDefault: opts.hostnameIsDefault === true,
    advertise: opts.advertise ?? [],
    labels: settings.labels,
    services: settings.services,
    announced: announcedServices(
      settings.services,
      [],
      new Set((opts.serviceChecks ?? []).map((c) => c.service)),
    ),
    routes,
    relay: opts.relay ?? false,
  };
  const tcpPort = meshTcpPort(opts);
  return {
    role: opts.role,
    logger: opts.logger ?? createLogger(),
    state: { dir: opts.stateDir, ...(opts.stateLock ? { lock: opts.stateLock } : {}) },
    identity,
    agent: {
      listenPort,
      tcpPort,
      ...(opts.webSocketTls ? { webSocketTls: opts.webSocketTls } : {}),
      ...(opts.webSocketCaCerts ? { webSocketCaCerts: opts.webSocketCaCerts } : {}),
      proxy: opts.proxy ?? null,
      underlay,
      userspace,
      iface: opts.interfaceName ?? "weft0",
      mtu: opts.mtu ?? 1420,
      crypto: opts.crypto,
      cryptoWorkers: opts.cryptoWorkers,
      timers: opts.timers,
      ...(opts.openTransport ? { openTransport: opts.openTransport } : {}),
      health: opts.health,
      probes: opts.probes !== false,
      exitMark: exitUsable ? mark : 0,
    },
    join: {
      ...(opts.token !== undefined ? { token: opts.token } : {}),
      hostname: identity.hostname,
      labels: identity.labels,
      services: identity.announced,
      advertise: identity.advertise,
      relay: identity.relay,
      routes,
      tcpPort: knownTcpPort(opts),
      dialTcp: tcpPort !== 0,
      proxy: opts.proxy ?? null,
      listenPort,
      underlay,
      ...(opts.openTransport ? { openTransport: opts.openTransport } : {}),
      timeoutMs: opts.joinTimeoutMs ?? 15_000,
      crypto: opts.crypto,
      lookup: opts.lookup,
    },
    leader: pick(opts, LEADER_KEYS),
    sync: pick(opts, SYNC_KEYS),
    peers: {
      keepalive: opts.persistentKeepalive ?? 25,
      keepPeers: opts.keepPeers ?? [],
      activityTiming: opts.activityTiming,
      lookup: opts.lookup,
    },
    relay: {
      role: opts.role,
      relay: opts.relay,
      mtu: opts.mtu,
      relayRateMbps: opts.relayRateMbps,
    },
    nat: opts.natTraversal === false ? null : pick(opts, NAT_KEYS),
    routes: {
      accept: settings.acceptRoutes,
      masquerade: opts.snatSubnetRoutes !== false,
      forwarding: opts.forwarding,
      kernelRoutes: opts.kernelRoutes,
      defaultRouting: opts.defaultRouting,
      mark,
      exit: exitUsable
        ? {
          exitNode: settings.exitNode ?? null,
          allowLanAccess: settings.exitNodeAllowLanAccess,
          fallback: settings.exitNodeFallback,
        }
        : null,
    },
    segments: pick(opts, SEGMENTS_KEYS),
    dns: {
      server: MeshDns.on(opts) ? pick(opts, DNS_KEYS) : null,
      acceptDns: opts.acceptDns === true,
      systemDns: opts.systemDns,
    },
    services: pick(opts, SERVICES_KEYS),
    leases: pick(opts, LEASE_KEYS),
    plugins: pick(opts, PLUGIN_KEYS),
    pq: pick(opts, PQ_KEYS),
  };
}
