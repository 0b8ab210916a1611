/**
 * The status document: what `/status` serves and `weft status` prints. Field names are stable;
 * new fields may be added, none renamed.
 * @module
 */

import type { Device } from "../device/device.ts";
import type { DropReason } from "../device/drops.ts";
import type { HealthState } from "../health/state.ts";
import type { PeerHealth } from "../health/health.ts";
import { type ProcessFigures, readProcessFigures } from "../metrics/process.ts";

/** A plugin as `/status` shows it. */
export interface PluginStatus {
  /** Its name (the module's file name without the extension). */
  name: string;
  /** The module. */
  path: string;
  /** `starting`, `running`, `failed` (it threw, hung, flooded or exited: stopped and its
   * services withdrawn) or `stopped` (the agent is closing). */
  state: "starting" | "running" | "failed" | "stopped";
  /** The services it provides now. */
  offers: string[];
  /** Its subscriptions now. */
  subscriptions: number;
  /** Calls of its services answered, and of those how many failed or went unanswered. */
  calls: number;
  /** Calls of its services that failed (its handler threw, or no answer in time). */
  callErrors: number;
  /** How many times it failed (0 or 1: a failed plugin stays stopped until the agent restarts). */
  failures: number;
  /** Why it failed. */
  error?: string;
}

/** This node, in the status document. */
export interface NodeStatus {
  /** Node name in the mesh ("" outside a managed mesh). */
  name: string;
  /** `leader`, `node`, or `peer` (a plain `weft up` agent). */
  role: string;
  /** Base64 public key. */
  publicKey: string;
  /** Overlay addresses with prefix lengths. */
  addresses: string[];
  /** UDP listen port. */
  listenPort: number;
  /** `userspace` or `tun`. */
  mode: string;
  /** TUN interface name, or the userspace stack's label. */
  interface: string;
  /** MTU of the overlay. */
  mtu: number;
  /** Crypto in use: transport AEAD and handshake DH backends. */
  crypto: { aead: string; dh: string; suite: string };
  /** weft's version. */
  version: string;
  /** Seconds since the agent started. */
  uptimeSeconds: number;
  /** The process: memory, CPU time, file descriptors and the runtime's heap, as `/metrics` has them. */
  process: ProcessFigures;
  /** Handshake initiations received that authenticated. */
  handshakesReceived: number;
  /** Cookie replies sent because the node was under load. */
  cookieRepliesSent: number;
  /** Dropped packets by reason. */
  drops: Record<DropReason, number>;
  /**
   * The kernel offloads of the data path (TUN mode on Linux): the TUN's (`csum`, `tso4`, `tso6`,
   * `tso-ecn`, `ufo`, `uso4`, `uso6`; empty when refused or turned off) and UDP GSO and GRO on
   * the underlay socket.
   */
  offloads?: { tun: string[]; udpGso: boolean; udpGro: boolean };
  /** Crypto worker threads (`--crypto-workers`), when the agent runs some. */
  cryptoWorkers?: {
    /** Worker threads started. */
    workers: number;
    /** Transport messages sealed or opened through the batch, on any thread. */
    packets: number;
    /** Batches split with the workers (smaller ones stay on the main thread). */
    parallelBatches: number;
    /** Messages the workers sealed or opened in those. */
    onWorkers: number;
    /** Why the workers were turned off (then everything runs on the main thread), else null. */
    failure: string | null;
  };
  /** The network policy on this node (mesh agents). */
  policy?: {
    /** Policy version (0: none). */
    version: number;
    /** Rules in force. */
    rules: number;
    /** Packets dropped by policy, per direction. */
    dropped: { outbound: number; inbound: number };
    /** Packets dropped per rule name (`(default)` for the default action). */
    droppedByRule: Record<string, number>;
    /**
     * Per rule with a rate limit (`qos.rate`), by name: bytes and packets this node sent under
     * it at once (passed), after waiting for tokens (delayed), and dropped by it; absent when no
     * rule has had one.
     */
    rates?: Record<
      string,
      {
        passedBytes: number;
        passedPackets: number;
        delayedBytes: number;
        delayedPackets: number;
        droppedBytes: number;
        droppedPackets: number;
      }
    >;
  };
  /**
   * The services of the mesh as this node sees them (mesh agents): every service a member
   * announces or this node provides, sorted by name, with its instances and its leader.
   */
  services?: ServiceStatus[];
  /** The plugins this agent runs (`--plugin`), when it runs any. */
  plugins?: PluginStatus[];
  /** The shared store a leader keeps the mesh's state in (etcd), and how it answers. */
  store?: StoreStatus;
  /** The mesh leader this node syncs with now (mesh nodes; a leader has none). */
  leader?: LeaderInUseStatus;
  /** Every mesh leader this node knows of, from its view (mesh nodes). */
  leaders?: KnownLeaderStatus[];
  /** The subnet routes this node uses through other members (mesh agents that use any). */
  routes?: RouteStatus[];
  /** The routes this node advertises to carry for the mesh (mesh agents that advertise any). */
  carries?: { advertised: string[]; carried: string[] };
  /** How the host's resolver is pointed at this node (with `--accept-dns`). */
  systemDns?: {
    /** `resolved` (systemd-resolved), `resolvconf`, or `file` (/etc/resolv.conf rewritten). */
    mode: "resolved" | "resolvconf" | "file";
    /** The address the host asks, on port 53: this node's overlay address. */
    server: string;
    /** Where names outside the mesh go: the host's resolvers from before. */
    upstreams: string[];
  };
  /** The Layer 2 segments this member is in (the policy's `segments:` that select it). */
  segments?: SegmentStatus[];
  /** The exit node this node's internet traffic goes through (with `--exit-node`). */
  exitNode?: ExitNodeStatus;
}

/**
 * Whether the exit node named is used, or why not: `in-use`; `unknown` (no member has that name
 * or address in this node's view); `not-exit-node` (the member does not advertise an exit
 * node); `not-approved` (it does, the leader has not approved it); `offline` (approved, but
 * stopped or not heard from, so the leader withdrew it).
 */
export type ExitNodeState = "in-use" | "unknown" | "not-exit-node" | "not-approved" | "offline";

/** The words `weft status` and the agent's log use for each {@link ExitNodeState}. */
export const EXIT_NODE_STATE_WORDS: Readonly<Record<ExitNodeState, string>> = {
  "in-use": "in use",
  unknown: "unknown",
  "not-exit-node": "not an exit node",
  "not-approved": "not approved",
  offline: "offline",
};

/** The exit node named with `--exit-node`, in the status document. */
export interface ExitNodeStatus {
  /** The name or address given. */
  wanted: string;
  /** The exit node in use: its name and overlay address; null while it is not. */
  inUse: { name: string; address: string } | null;
  /** Whether it is used, or why not. */
  state: ExitNodeState;
  /** Why it is not used, in words (`e does not advertise an exit node`); absent while in use. */
  reason?: string;
  /**
   * Where the host's internet traffic goes now: `exit-node` (through it), `blocked` (it is not
   * there: nothing goes out directly), `direct` (`--exit-node-fallback` while it is not there,
   * or the routing failed: see `error`).
   */
  traffic: "exit-node" | "blocked" | "direct";
  /** `--exit-node-fallback`: direct while the exit node is not there, rather than blocked. */
  fallback: boolean;
  /** Why the host's routing could not be set as the state asks (tried again at the next view). */
  error?: string;
}

/** A Layer 2 segment this member is in, as `/status` shows it. */
export interface SegmentStatus {
  /** The segment's name. */
  name: string;
  /** Its VXLAN network identifier. */
  vni: number;
  /** Its MTU: what the ports plugged into its bridge should use. */
  mtu: number;
  /** The bridge to plug VMs, containers and ports into (`br-<name>`). */
  bridge: string;
  /** The data plane (`vxlan`). */
  driver: string;
  /** Its members, this one included: name and overlay address. */
  members: { name: string; address: string }[];
  /** Whether the data plane carries it now (false: setting it up failed; see `error`). */
  up: boolean;
  /** Why it is not up. */
  error?: string;
}

/** A subnet route this node uses, and the member it goes through. */
export interface RouteStatus {
  /** The prefix. */
  prefix: string;
  /** The router's name. */
  via: string;
  /** The router's overlay address. */
  address: string;
  /** Whether it is in the kernel's table (TUN mode). */
  installed: boolean;
}

/** A leader's shared store in the status document. */
export interface StoreStatus {
  /** The store's name (`etcd://127.0.0.1:2379`). */
  store: string;
  /** Where the state is in it. */
  where: string;
  /** Whether its last call or probe succeeded. */
  ok: boolean;
  /** The last failure, when not ok. */
  error?: string;
  /** The revision of the newest document the leader knows. */
  revision: number;
  /** ISO time since when `ok` has been what it is. */
  since: string;
}

/** The mesh leader a node syncs with, in the status document. */
export interface LeaderInUseStatus {
  /** Its node name ("" while the view does not list it). */
  name: string;
  /** Its overlay address. */
  address: string;
  /** Its public key. */
  publicKey: string;
  /** ISO time since when the node syncs with it. */
  since: string;
}

/** A mesh leader a node knows of, in the status document. */
export interface KnownLeaderStatus {
  /** Its node name. */
  name: string;
  /** Its overlay address. */
  address: string;
  /** Its public key. */
  publicKey: string;
  /** The node syncs with it now. */
  inUse: boolean;
  /** It answered the node's latest probe; null before the first. */
  answers: boolean | null;
  /** It stopped on purpose (the view says so). */
  offline: boolean;
  /**
   * Its latest probe answer said its shared store is unreachable, so its view may be old (the
   * node moves to a leader that reaches the store); absent otherwise.
   */
  storeUnreachable?: true;
}

/** A service, in the status document. */
export interface ServiceStatus {
  /** The service's name. */
  name: string;
  /** Provided on this node. */
  local: boolean;
  /**
   * This node's health check of it: true or false, null before the first result; absent when
   * this node does not check it.
   */
  localHealthy?: boolean | null;
  /** The members offering it, sorted by node name. */
  instances: ServiceInstanceStatus[];
  /** Its leader as this node knows it, null when none is known. */
  leader: ServiceLeaderStatus | null;
  /** The calls this node made of it since it started; absent before the first. */
  calls?: ServiceCallsStatus;
}

/**
 * Calls this node made of a service, all actions together, as counters (a reader takes rates and
 * quantiles from the difference between two readings, as Prometheus does).
 */
export interface ServiceCallsStatus {
  /** Calls ended. */
  count: number;
  /** Of those, calls that failed (any outcome but ok). */
  errors: number;
  /** Latency bounds, seconds, ascending (the `+Inf` bucket is `count`). */
  le: readonly number[];
  /** Cumulative counts, one per bound: calls that took at most that long. */
  buckets: number[];
}

/** One member offering a service, in the status document. */
export interface ServiceInstanceStatus {
  /** The member's node name. */
  node: string;
  /** The member's overlay address. */
  address: string;
  /** True for this node. */
  local: boolean;
  /** True when it answers calls of the service (it provides actions or an HTTP backend). */
  rpc: boolean;
  /** True when calls may go to it now. */
  healthy: boolean;
  /** Why it is out of rotation: `node-down` or `check-failing`; absent when healthy. */
  reason?: string;
}

/** A service's leader, in the status document. */
export interface ServiceLeaderStatus {
  /** The leader's node name. */
  node: string;
  /** The leader's overlay address. */
  address: string;
  /** Its overlay IPv6 address, when the mesh has one. */
  address6?: string;
  /** The lease's fencing token (higher for every new lease of the service). */
  token: number;
  /** ISO time until which it leads as far as this node knows (unless the lease is renewed). */
  expiresAt: string;
}

/** One peer, in the status document. */
export interface PeerStatus {
  /** The peer's node name ("" when unknown). */
  name: string;
  /** The peer's overlay address (no prefix; "" when it has no host route). */
  address: string;
  /** `up`, `degraded`, `down` or `unknown`. */
  health: HealthState;
  /** Why it has that health. */
  healthReason: string;
  /** Median probe RTT over the health window, ms; null when unmeasured. */
  rttMs: number | null;
  /** Probe loss over the health window, 0..1; null when unmeasured. */
  loss: number | null;
  /** Base64 public key. */
  publicKey: string;
  /** Current underlay endpoint, null when unknown. */
  endpoint: string | null;
  /** Overlay prefixes routed to the peer. */
  allowedIps: string[];
  /** ISO time of the last completed handshake, null when none. */
  lastHandshake: string | null;
  /** Seconds since the last completed handshake, null when none. */
  lastHandshakeAgeSeconds: number | null;
  /** True while a session is usable. */
  hasSession: boolean;
  /** Underlay bytes received from the peer. */
  rxBytes: number;
  /** Underlay bytes sent to the peer. */
  txBytes: number;
  /** Transport packets received. */
  rxPackets: number;
  /** Transport packets sent. */
  txPackets: number;
  /** Handshakes completed. */
  handshakes: number;
  /** Persistent keepalive interval in seconds, 0 when off. */
  persistentKeepalive: number;
  /**
   * Times the peer's endpoint moved to another place (roams, and moves of the paths and
   * routes); absent from older agents.
   */
  endpointMoves?: number;
  /**
   * The path to the peer (mesh agents). direct: a direct path (a candidate endpoint answers path
   * probes and the session uses it); relay: through a relay (`via` names it); none: no working
   * path; idle: none asked for (sessions on demand: no traffic with it yet, or gone quiet).
   */
  path?: "direct" | "relay" | "none" | "idle";
  /**
   * The relay's name when `path` is `relay` (its node name, or its key's first 8 chars), else
   * null.
   */
  via?: string | null;
  /**
   * The underlay protocol this peer's packets use now: udp, tcp or websocket (for a relayed
   * peer: to the relay). Absent or null where the agent does not say (udp is the default).
   */
  transport?: "udp" | "tcp" | "websocket" | null;
  /**
   * True when that TCP connection (to the peer, or to its relay) was dialled through the HTTP
   * proxy (`proxy`); absent otherwise.
   */
  proxied?: boolean;
  /** The proxy it went through, `http://host:port` (never its credentials), with `proxied`. */
  proxy?: string;
  /** The peer's candidate endpoints as the path probes know them (mesh agents). */
  candidates?: PathCandidateStatus[];
  /** ISO time the path last changed, null when it never did (mesh agents). */
  pathChangedAt?: string | null;
  /** The post-quantum preshared key with this member (mesh agents). */
  pq?: PqPeerStatus;
}

/**
 * A pair's post-quantum preshared key, in the status document. `state`: pq (the session in use
 * was made with one), exchanging (a key is being made or was made and the session is not on it
 * yet), waiting (the other member initiates the exchange and has not), unanswered (the other
 * member did not answer: older weft, or pq off there), off (pq off here).
 */
export interface PqPeerStatus {
  /** Whether the session in use was made with a post-quantum preshared key. */
  session: boolean;
  /** See the interface docs. */
  state: "pq" | "exchanging" | "waiting" | "unanswered" | "off";
  /** Seconds since the key held was made; null before the first. */
  keyAgeSeconds: number | null;
  /** Rotations completed with this member since this agent started. */
  rotations: number;
  /** Whether data with this member waits for a post-quantum session (`--require-pq`). */
  required: boolean;
}

/** One candidate endpoint of a peer, in the status document. */
export interface PathCandidateStatus {
  /** `host:port`. */
  endpoint: string;
  /**
   * Where it was learnt: `lan` (the peer's interface address), `lan-announce` (where its LAN
   * announcement came from), `observed` (where the leader sees it), `peer-observed` (where its
   * probes or packets came from), `advertised` (its `--advertise`).
   */
  kind: string;
  /** Answers path probes. */
  confirmed: boolean;
  /** Smoothed probe round trip, ms; null before the first answer. */
  rttMs: number | null;
  /** The session uses it. */
  chosen: boolean;
}

/** What the status needs that the device does not know. */
export interface StatusContext {
  /** `userspace` or `tun`. */
  mode: string;
  /** Overlay addresses. */
  addresses: string[];
  /** Interface name. */
  interfaceName: string;
  /** Unix ms the agent started. */
  startedAt: number;
  /** The crypto suite's name. */
  crypto: string;
  /** weft's version. */
  version: string;
  /** Node name. */
  name: string;
  /** Node role. */
  role: string;
  /** Names a peer. */
  describe: (publicKey: string) => { name: string; address: string };
  /** A peer's health. */
  health: (publicKey: string) => PeerHealth | undefined;
  /** More node fields from the layers above (policy). */
  extra?: () => Partial<NodeStatus>;
  /** More fields of a peer from the layers above (its path, in a mesh). */
  extraPeer?: (publicKey: string) => Partial<PeerStatus>;
}

/** Builds the status document of a device. */
export function buildStatus(
  device: Device,
  ctx: StatusContext,
): { node: NodeStatus; peers: PeerStatus[] } {
  const now = Date.now();
  return {
    node: nodeStatusOf(device, ctx, now),
    peers: device.peers().map((p) => peerStatusOf(device, ctx, p, now)),
  };
}

/**
 * One peer's status, as {@link buildStatus} makes it, or null when the device has no such peer:
 * a lookup, not a document of every peer (55 to 69 ms of a 10,000-member leader's loop).
 */
export function buildPeerStatus(
  device: Device,
  ctx: StatusContext,
  publicKey: string,
): PeerStatus | null {
  const p = device.peer(publicKey);
  return p === undefined ? null : peerStatusOf(device, ctx, p, Date.now());
}

/** Peers whose status is made between two looks at the clock (statusInSlices). */
const SLICE_PEERS = 64;

/**
 * As {@link buildStatus}, the peers a slice at a time: after `sliceMs` of work it awaits `pause`
 * (a turn of the event loop) before the next slice. A leader of 10,000 members took 50 to 400
 * ms of its loop for the peers in one go, while its API and members waited. The peers are the
 * device's when it starts; each one's figures are read when its slice is made.
 */
export async function buildStatusInSlices(
  device: Device,
  ctx: StatusContext,
  pause: () => Promise<void>,
  sliceMs: number,
): Promise<{ node: NodeStatus; peers: PeerStatus[] }> {
  const now = Date.now();
  const node = nodeStatusOf(device, ctx, now);
  const all = device.peers();
  const peers: PeerStatus[] = [];
  let until = performance.now() + sliceMs;
  for (let i = 0; i < all.length; i++) {
    if (i % SLICE_PEERS === 0 && i > 0 && performance.now() >= until) {
      await pause();
      until = performance.now() + sliceMs;
    }
    peers.push(peerStatusOf(device, ctx, all[i], Date.now()));
  }
  return { node, peers };
}

function nodeStatusOf(device: Device, ctx: StatusContext, now: number): NodeStatus {
  const stats = device.stats;
  return {
    name: ctx.name,
    role: ctx.role,
    publicKey: device.publicKey,
    addresses: ctx.addresses,
    listenPort: device.listenPort,
    mode: ctx.mode,
    interface: ctx.interfaceName,
    mtu: device.mtu,
    crypto: { aead: device.aeadName, dh: device.dhName, suite: ctx.crypto },
    version: ctx.version,
    uptimeSeconds: Math.round((now - ctx.startedAt) / 1000),
    process: readProcessFigures(),
    handshakesReceived: stats.handshakesReceived,
    cookieRepliesSent: stats.cookieRepliesSent,
    drops: stats.drops,
    ...cryptoWorkerStatus(device),
    ...ctx.extra?.(),
  };
}

function peerStatusOf(
  device: Device,
  ctx: StatusContext,
  p: ReturnType<Device["peers"]>[number],
  now: number,
): PeerStatus {
  const id = ctx.describe(p.publicKeyText);
  const h = ctx.health(p.publicKeyText);
  return {
    name: id.name,
    address: id.address,
    health: h?.state ?? "unknown",
    healthReason: h?.reason ?? "",
    // The median of the window, as the health verdict takes: one stalled probe (a loaded host, a
    // fresh agent) held a mean at 10 times the path's for 10 probes. To the microsecond: more
    // digits than a clock's worth are noise to a reader.
    rttMs: h?.rttMs.median == null ? null : Math.round(h.rttMs.median * 1000) / 1000,
    loss: h?.loss ?? null,
    publicKey: p.publicKeyText,
    endpoint: p.endpoint?.toString() ?? null,
    allowedIps: device.allowedIpsOf(p),
    lastHandshake: p.lastHandshakeUnixMs ? new Date(p.lastHandshakeUnixMs).toISOString() : null,
    lastHandshakeAgeSeconds: p.lastHandshakeUnixMs
      ? Math.max(0, Math.round((now - p.lastHandshakeUnixMs) / 1000))
      : null,
    hasSession: p.current !== null,
    rxBytes: p.counters.rxBytes,
    txBytes: p.counters.txBytes,
    rxPackets: p.counters.rxPackets,
    txPackets: p.counters.txPackets,
    handshakes: p.counters.handshakes,
    persistentKeepalive: p.timers.persistentKeepaliveMs / 1000,
    endpointMoves: p.endpointMoves,
    ...ctx.extraPeer?.(p.publicKeyText),
  };
}

/** The `cryptoWorkers` field of a device that has a crypto batch. */
function cryptoWorkerStatus(device: Device): Pick<NodeStatus, "cryptoWorkers"> {
  const pool = device.cryptoBatch?.pool;
  if (!pool) return {};
  return {
    cryptoWorkers: {
      workers: pool.workers,
      packets: pool.stats.entries,
      parallelBatches: pool.stats.parallelRuns,
      onWorkers: pool.stats.workerEntries,
      failure: pool.failure?.message ?? null,
    },
  };
}
