/**
 * An agent: one device with its transport and packet side, its control/status HTTP server, and
 * the userspace API for programs (ping, datagrams). What `weft up` runs, and what a program embeds.
 * @module
 */

import type { BackendName, CryptoSuite } from "../crypto/types.ts";
import { selectSuite, suiteByName } from "../crypto/select.ts";
import {
  Device,
  type DeviceErrorSource,
  type DeviceEvent,
  type PacketFilter,
  type PeerConfig,
} from "../device/device.ts";
import type { Endpoint, PacketDevice, Transport } from "../io/driver.ts";
import type { TcpStats } from "../io/stats.ts";
import type { ProtocolTimers } from "../protocol/constants.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import type { UserspaceStack } from "../../drivers/userspace.ts";
import { Poller } from "../../drivers/linux/poller.ts";
import { latencyTraceFromEnv } from "./latency_trace.ts";
import { serveUapi } from "../uapi/server.ts";
import { Cidr } from "../net/cidr.ts";
import { formatAddress, parseAddress } from "../net/ip.ts";
import { VERSION } from "../version.ts";
import { openPacketSide } from "./packet_side.ts";
import { buildStatus, type NodeStatus, type PeerStatus } from "../status/status.ts";
import {
  type HealthOptions,
  HealthTracker,
  idleHealth,
  type PeerHealth,
} from "../health/health.ts";
import { HealthProber } from "../health/prober.ts";
import { type Collector, MetricsRegistry } from "../metrics/registry.ts";
import { processCollector } from "../metrics/process.ts";
import { agentEventsCollector, agentInfoCollector } from "./metrics.ts";
import { deviceDropsCollector, devicePeersCollector } from "../device/metrics.ts";
import { healthCollector } from "../health/metrics.ts";
import { listenersCollector } from "../net/listener_metrics.ts";
import { tcpCollector, tunCollector, udpCollector } from "../io/metrics.ts";
import { type ListenerStats, newListenerStats } from "../net/conn_guard.ts";
import { openUnderlay, planUnderlay, raiseFileLimitOnce, type UnderlayKind } from "./underlay.ts";
import { offloadsOf, tcpSide, tunMetricsOf, udpSide } from "./driver_figures.ts";
import { closeQuietly } from "./rollback.ts";
import { resolveCryptoWorkers, startCryptoWorkers } from "./crypto_workers.ts";
import { startHeapTrim } from "./heap_trim.ts";

/**
 * How long (ms) the agent's poller keeps waiting for packets on the JS thread after traffic
 * (drivers/linux/poller.ts, `lingerMs`): the idle-tunnel round trip halves (issue 15), and an
 * idle agent still makes no wake-ups. `WEFT_POLL_LINGER_MS` overrides it (0: off), for
 * measurements.
 */
export const DEFAULT_POLL_LINGER_MS = 1000;

function pollLingerMs(): number {
  let text: string | undefined;
  try {
    text = Deno.env.get("WEFT_POLL_LINGER_MS");
  } catch {
    return DEFAULT_POLL_LINGER_MS; // no --allow-env
  }
  const ms = Number(text);
  return text === undefined || text === "" || !Number.isFinite(ms) || ms < 0
    ? DEFAULT_POLL_LINGER_MS
    : ms;
}

export type { UnderlayKind } from "./underlay.ts";

/** How an agent's plaintext side is provided. */
export type AgentMode = "userspace" | "tun";

/** What an agent is started with. */
export interface AgentOptions {
  /**
   * Our private key, base64 (as `wg genkey` prints). Absent: none yet, as wireguard-go starts
   * (set later through the UAPI with `uapiDeviceChanges`); no handshakes happen until then.
   */
  privateKey?: string;
  /**
   * Overlay addresses with prefix length, e.g. `["10.9.0.1/24", "fd00::1/64"]`. May be empty
   * in `tun` mode without `control`: the TUN then has none (others add them, as wg-quick does).
   */
  addresses: string[];
  /** UDP listen port; 0 picks a free one. Default 51820. */
  listenPort?: number;
  /** Address to bind the underlay socket to. Default: all. */
  listenHost?: string;
  /**
   * Also carry WireGuard messages on TCP (drivers/tcp.ts), for networks that let no UDP
   * through: a port number to listen on, or `"same"` for the UDP port's number, whatever UDP got
   * (with `listenPort` 0, a number free for both). Undefined or 0: UDP only, the default, since
   * WireGuard peers speak no TCP. A TCP port that cannot be had fails the start, naming it.
   * With a `transport` given, TCP is added beside it. The TCP socket gets no `fwMark`.
   */
  tcpPort?: number | "same";
  /** The peers. */
  peers?: PeerConfig[];
  /** MTU of the overlay. Default 1420. */
  mtu?: number;
  /** `userspace` (no TUN, no root) or `tun`. Default `userspace`. */
  mode?: AgentMode;
  /** TUN interface name in `tun` mode. Default `weft0`. */
  interfaceName?: string;
  /**
   * Where the peers' allowed IPs are routed in `tun` mode, as wg-quick's `Table`: `auto` (the
   * main table; default), `off` (no routes), or a table number or name.
   */
  table?: string;
  /**
   * The prefixes routed into the TUN in `tun` mode; default every peer's allowed IPs (`weft up`
   * leaves out default routes, which go through policy routing instead).
   */
  routes?: string[];
  /** The firewall mark of the underlay socket (wg's `fwmark`; `linux` underlay only). */
  fwMark?: number;
  /** Force a crypto backend; default the fastest available. */
  crypto?: BackendName;
  /**
   * Worker threads that seal and open transport messages a batch at a time (0: all on the main
   * thread; a number above 0 needs the sodium backend, and workers asked for that cannot start
   * fail the start). Default `auto`: 2 in `tun` mode with libsodium on 4 cores or more, else 0
   * (lib/agent/crypto_workers.ts).
   */
  cryptoWorkers?: number | "auto";
  /** Protocol timer overrides in ms (tests use short ones). */
  timers?: Partial<ProtocolTimers>;
  /** Handshakes per second past which cookies are demanded. */
  underLoadThreshold?: number;
  /** The logger. Default: info level, text, stderr. */
  logger?: Logger;
  /** A ready transport, instead of opening UDP (tests, other transports). */
  transport?: Transport;
  /**
   * Wraps the transport opened (or given) before the device starts on it (the mesh puts it in a
   * relay mux). The agent owns and closes what this returns, which closes what it wraps.
   */
  wrapTransport?: (transport: Transport) => Transport;
  /** A ready packet device, instead of the userspace stack or a TUN. */
  packets?: PacketDevice;
  /**
   * The UDP implementation: `linux` (FFI sockets with recvmmsg/sendmmsg, sharing one poll loop
   * with the TUN) or `deno` (`Deno.listenDatagram`, which needs `--unstable-net`). Default:
   * `linux` on Linux, else `deno`.
   */
  underlay?: UnderlayKind;
  /**
   * Serve the WireGuard UAPI (`wg show`/`wg set`) on `<dir>/<interface>.sock`: a directory, or
   * true for `/var/run/wireguard`. Default: on in `tun` mode, off in `userspace` mode.
   */
  uapi?: boolean | string;
  /**
   * Let the UAPI's `set` change the private key, listen port (the `linux` underlay rebinds) and
   * fwmark of the running device, as wireguard-go does (`wg setconf` after start). Default
   * false: a request may restate them, a change is refused (EOPNOTSUPP).
   */
  uapiDeviceChanges?: boolean;
  /**
   * Called once when the TUN interface is deleted under the agent (`ip link delete`, as
   * `wg-quick down` does): its reads fail from then on. The agent keeps running; the owner
   * decides (`weft wireguard` closes it and exits).
   */
  onInterfaceGone?: () => void;
  /**
   * Set aside UDP to this node's overlay address on the control port (51821) and the service
   * port (51823) for an in-process control stack (`agent.control`), as the mesh control plane
   * and service layer need.
   */
  control?: boolean;
  /** Receives underlay datagrams that are not WireGuard messages (the join exchange). */
  onForeignDatagram?: (data: Uint8Array, from: Endpoint) => void;
  /** Health thresholds and probe interval. */
  health?: HealthOptions;
  /**
   * Which peers get health tracking and probes: `all` the device's (default), or `watched`
   * only those {@link Agent.watchPeer} names (sessions on demand: the others are `idle`).
   */
  healthScope?: "all" | "watched";
  /** How this node is named in `/status`. Default: no name, role `peer`. */
  identity?: NodeIdentity;
  /**
   * How a peer is named and where it is probed. Default: no name, and the peer's first host
   * allowed IP (a /32 or /128).
   */
  describePeer?: (publicKey: string) => PeerIdentity;
  /**
   * Makes the health probe, once the agent's parts exist (a probe over the control stack needs
   * it); null turns probes off. Default: ICMP echo through the userspace stack (none with a TUN).
   */
  probe?: ((parts: AgentParts) => ProbeFn) | null;
  /** Decides which plaintext packets leave and enter the tunnel (a network policy). */
  filter?: PacketFilter;
  /**
   * Collectors for `/metrics` that layers above the agent own (DNS, policy, join drops),
   * registered after the agent's own; more can be registered later on {@linkcode Agent.metrics}.
   */
  collectors?: readonly Collector[];
  /** Node fields for `/status` that layers above the agent own (the policy). */
  status?: () => Partial<NodeStatus>;
  /** Peer fields for `/status` that layers above the agent own (a mesh peer's path). */
  peerStatus?: (publicKey: string) => Partial<PeerStatus>;
}

/** What an agent started with `control: true` is: its control stack is always there. */
export type ControlledAgent = Agent & {
  /** The control-port stack. */
  readonly control: UserspaceStack;
};

/** How this node is named in `/status`. */
export interface NodeIdentity {
  /** Node name ("" when unknown). */
  name: string;
  /** `leader`, `node`, or `peer` outside a managed mesh. */
  role: string;
}

/** Probes a peer at an overlay address: the round trip in ms, or null when no answer came. */
export type ProbeFn = (address: string) => Promise<number | null>;

/** The parts of a starting agent that the collaborators it is given may need. */
export interface AgentParts {
  /** The WireGuard device. */
  readonly device: Device;
  /** The userspace stack, in userspace mode. */
  readonly stack: UserspaceStack | null;
  /** The control-port stack, with `control: true`. */
  readonly control: UserspaceStack | null;
}

/** How the agent names a peer in status, metrics and the dashboard. */
export interface PeerIdentity {
  /** Node name ("" when unknown). */
  name: string;
  /** Overlay address to probe and show (no prefix). */
  address: string;
}

/** A ping's outcome. */
export interface PingResult {
  /** The address pinged. */
  address: string;
  /** Round-trip time in ms per echo request, null where no reply came in time. */
  rtts: (number | null)[];
  /**
   * Per echo request, the way to the peer the address is routed to when its reply came (null
   * where none came, or no peer routes the address).
   */
  paths: (PeerPath | null)[];
}

/** The way to a peer now, as its `/status` entry says it. */
export interface PeerPath {
  /** The peer's node name ("" when unknown). */
  name: string;
  /** Its base64 public key. */
  publicKey: string;
  /** Its underlay endpoint now, null when unknown (for a relayed peer: its relay's route). */
  endpoint: string | null;
  /** `direct`, `relay`, `none` or `idle` (mesh agents; absent otherwise). */
  path?: PeerStatus["path"];
  /** The relay's name when relayed, else null (mesh agents). */
  via?: string | null;
  /** `udp` or `tcp` (null or absent: not said). */
  transport?: "udp" | "tcp" | null;
}

/** A datagram received from the mesh. */
export interface MeshDatagram {
  /** The sender's overlay address. */
  address: string;
  /** The sender's port. */
  port: number;
  /** The payload. */
  data: Uint8Array;
}

/**
 * The device's error handler: errors are counted on every occurrence (status, metrics) and logged
 * the first time for each source, as a broken backend or listener fails for every packet or event
 * after that.
 */
function deviceErrorLog(
  logger: Logger,
  backend: string,
): (source: DeviceErrorSource, error: unknown) => void {
  const reported = new Set<DeviceErrorSource>();
  return (source, error) => {
    if (reported.has(source)) return;
    reported.add(source);
    logger.error(
      source === "crypto"
        ? "crypto backend failed: packets are dropped and counted as crypto-error"
        : "a device event listener failed; later failures are only counted",
      { backend, error: String(error) },
    );
  };
}

/** What {@link Agent.start} built, handed to the agent it makes. */
interface Built {
  device: Device;
  packets: PacketDevice;
  stack: UserspaceStack | null;
  control: UserspaceStack | null;
  /** The underlay before wrapping (see Underlay.base). */
  underlay: Transport;
  tcpPort: number | null;
  suiteName: string;
  logger: Logger;
}

/** A running agent: see the examples of `@weft/weft` (two agents) and `@weft/weft/agent`. */
export class Agent {
  /** The WireGuard device. */
  readonly device: Device;
  /** The userspace stack, in userspace mode. */
  readonly stack: UserspaceStack | null;
  /** The logger. */
  readonly logger: Logger;
  /** The control-port stack, when started with `control: true`. */
  readonly control: UserspaceStack | null;
  /** Per-peer health (handshake age and probes); subscribe for transitions. */
  readonly health: HealthTracker;
  /** Counters of the listeners serving this agent (`http`, `uapi`, `dns_tcp`), for /metrics. */
  readonly listenerStats: Record<string, ListenerStats> = {};
  /** The TCP port WireGuard messages are also taken on, or null without TCP (`tcpPort`). */
  readonly tcpPort: number | null;
  /** The underlay before any wrapping: its drivers report their counters and offloads. */
  readonly #underlay: Transport;
  /** What `/metrics` shows: the agent's collectors, then its owner's; register more here. */
  readonly metrics: MetricsRegistry = new MetricsRegistry();
  readonly #identity: NodeIdentity;
  readonly #extraStatus: () => Partial<NodeStatus>;
  readonly #extraPeer: ((publicKey: string) => Partial<PeerStatus>) | undefined;
  #prober: HealthProber | null = null;
  readonly #probed = new Map<string, string>();
  readonly #probe: ProbeFn | null;
  readonly #describe: (publicKey: string) => PeerIdentity;
  #reconcile: ReturnType<typeof setInterval> | undefined;
  /** Stops this agent's share of the process's heap trim (lib/agent/heap_trim.ts). */
  #stopTrim: () => void = () => {};
  #handshakeEvents = 0;
  readonly #probeInterval: number;
  #failedHandshakes = 0;
  readonly #mode: AgentMode;
  readonly #addresses: string[];
  readonly #startedAt = Date.now();
  readonly #packets: PacketDevice;
  readonly #suiteName: string;
  /** What the agent owns and closes (the UAPI server, the device and its drivers), last first. */
  #owned = new AsyncDisposableStack();
  #healthStopped = false;
  #closed = false;
  /** The peers health follows in `watched` scope; null in `all` scope. */
  readonly #watched: Set<string> | null;
  /** The watched peers not probed (their samples come from elsewhere). */
  readonly #unprobed = new Set<string>();

  private constructor(opts: AgentOptions, built: Built) {
    const { device, stack, control, logger } = built;
    this.device = device;
    this.#underlay = built.underlay;
    this.tcpPort = built.tcpPort;
    this.#packets = built.packets;
    this.stack = stack;
    this.control = control;
    this.#mode = opts.mode ?? "userspace";
    this.#addresses = [...opts.addresses];
    this.#suiteName = built.suiteName;
    this.logger = logger;
    this.#identity = { ...(opts.identity ?? { name: "", role: "peer" }) };
    this.#extraStatus = opts.status ?? (() => ({}));
    this.#extraPeer = opts.peerStatus;
    this.#probeInterval = opts.health?.probeIntervalMs ?? 5000;
    this.#watched = opts.healthScope === "watched" ? new Set() : null;
    this.health = new HealthTracker({
      ...opts.health,
      handshakeOf: (key) => device.peer(key)?.lastHandshakeUnixMs ?? 0,
      // Once per broken subscriber, with the cause; every failure is counted in /metrics.
      onListenerError: (err, first) => {
        if (first) {
          logger.error("health listener failed", {
            error: err instanceof Error ? err.stack ?? err.message : String(err),
          });
        }
        opts.health?.onListenerError?.(err, first);
      },
    });
    this.#describe = opts.describePeer ?? ((key) => {
      const p = device.peer(key);
      const host = p ? device.allowedIpsOf(p).find((c) => /\/(32|128)$/.test(c)) : undefined;
      return { name: "", address: host?.split("/")[0] ?? "" };
    });
    if (opts.probe === undefined) {
      this.#probe = stack ? (address) => stack.ping(address, { timeoutMs: 2000 }) : null;
    } else {
      this.#probe = opts.probe?.({ device, stack, control }) ?? null;
    }
    this.#registerCollectors(opts.collectors ?? []);
  }

  // The agent's own /metrics families (device, health, listeners, transports), then the owner's.
  #registerCollectors(extra: readonly Collector[]): void {
    const device = this.device;
    const nameOf = (key: string) => this.#describe(key).name;
    const agent = {
      version: VERSION,
      crypto: this.#suiteName,
      uptimeSeconds: () => (Date.now() - this.#startedAt) / 1000,
      handshakes: () => ({
        completed: this.#handshakeEvents,
        failed: this.#failedHandshakes + device.stats.drops["handshake-invalid"],
        received: device.stats.handshakesReceived,
      }),
      listenerErrors: () => ({
        device: device.stats.listenerErrors,
        health: this.health.listenerErrors,
        ...(this.stack ? { datagram: this.stack.stats.listenerErrors } : {}),
        ...(this.control ? { control: this.control.stats.listenerErrors } : {}),
      }),
    };
    const m = this.metrics;
    m.register(agentInfoCollector(agent));
    m.register(processCollector());
    m.register(devicePeersCollector(device, nameOf));
    m.register(
      healthCollector(
        {
          // An idle peer has a state, and no figures (no histogram of probes it never had).
          get: (key) => {
            const h = this.peerHealth(key);
            return h?.state === "idle" ? { state: h.state, rttMs: h.rttMs, loss: null } : h;
          },
        },
        () => device.peers().map((p) => p.publicKeyText),
        nameOf,
      ),
    );
    m.register(agentEventsCollector(agent));
    m.register(deviceDropsCollector(device));
    m.register(listenersCollector(this.listenerStats));
    // The drivers' counters are live objects: taken once here, read at each scrape.
    const underlay = this.#underlay.driverStats?.();
    const tcp = tcpSide(underlay);
    if (tcp) m.register(tcpCollector(tcp.counters));
    const udp = udpSide(underlay);
    if (udp) m.register(udpCollector(udp.counters));
    const packets = this.#packets;
    if (packets.driverStats?.()) {
      m.register(tunCollector(() => tunMetricsOf(packets.driverStats?.() ?? null).tun));
    }
    for (const c of extra) m.register(c);
  }

  /**
   * Starts health tracking and probes of a peer (`watched` scope; a no-op in `all` scope, where
   * every peer is followed). With `probe: false` the peer is tracked but not probed: its samples
   * come from elsewhere (a leader hears its members' hellos: ../health/heard.ts).
   */
  watchPeer(publicKey: string, opts: { probe?: boolean } = {}): void {
    if (!this.#watched || this.#healthStopped) return;
    const unprobed = opts.probe === false;
    if (this.#watched.has(publicKey) && this.#unprobed.has(publicKey) === unprobed) return;
    this.#watched.add(publicKey);
    if (unprobed) {
      this.#unprobed.add(publicKey);
      this.#prober?.remove(publicKey);
      this.#probed.delete(publicKey);
    } else this.#unprobed.delete(publicKey);
    // This peer only: a leader watches thousands, one at a time as they join.
    const peer = this.device.peer(publicKey);
    if (peer) this.#syncPeer(publicKey, peer.lastHandshakeUnixMs);
  }

  /** Stops following a peer's health (`watched` scope): it is `idle` from now on. */
  unwatchPeer(publicKey: string): void {
    if (!this.#watched?.delete(publicKey)) return;
    this.#unprobed.delete(publicKey);
    this.health.removePeer(publicKey);
    this.#prober?.remove(publicKey);
    this.#probed.delete(publicKey);
  }

  /** Whether a peer is probed now (followed, and not with its samples from elsewhere). */
  probing(publicKey: string): boolean {
    return this.#probed.has(publicKey);
  }

  /** Whether a peer's health is followed (always, in `all` scope). */
  watching(publicKey: string): boolean {
    return this.#watched === null || this.#watched.has(publicKey);
  }

  /**
   * A peer's health: the tracker's, or for a peer not watched (sessions on demand) `idle`, since
   * the node neither keeps a session with it nor probes it. Undefined for an unknown peer.
   */
  peerHealth(publicKey: string): PeerHealth | undefined {
    const h = this.health.get(publicKey);
    if (h || this.#watched === null) return h;
    const p = this.device.peer(publicKey);
    return p ? idleHealth(publicKey, p.lastHandshakeUnixMs) : undefined;
  }

  // Keeps the health tracker and the prober in step with the device's peers (or the watched
  // ones). Runs every second on every agent, so it is linear in those: sets, no nested scans.
  #syncHealth(): void {
    const keys = this.#watched === null
      ? new Set(this.device.peers().map((p) => p.publicKeyText))
      : new Set([...this.#watched].filter((k) => this.device.peer(k) !== undefined));
    const tracked = new Set(this.health.peers());
    for (const k of tracked) {
      if (!keys.has(k)) {
        this.health.removePeer(k);
        this.#prober?.remove(k);
        this.#probed.delete(k);
      }
    }
    if (this.#probe && !this.#prober) {
      const probe = this.#probe;
      this.#prober = new HealthProber({
        probe,
        onResult: (k, rtt) => this.health.recordProbe(k, rtt),
        intervalMs: this.#probeInterval,
      });
      this.#prober.start();
      this.#probed.clear();
    }
    for (const k of keys) {
      if (tracked.has(k)) this.#syncProbe(k);
      else this.#syncPeer(k, this.device.peer(k)?.lastHandshakeUnixMs ?? 0);
    }
  }

  // Tracks one peer's health (a no-op when tracked) and probes it unless it is unprobed.
  #syncPeer(k: string, lastHandshakeMs: number): void {
    this.health.addPeer(k, lastHandshakeMs);
    this.#syncProbe(k);
  }

  #syncProbe(k: string): void {
    if (!this.#prober || this.#unprobed.has(k)) return;
    const address = this.#describe(k).address;
    if (address && this.#probed.get(k) !== address) {
      this.#prober.add(k, address); // a known peer just gets its new address
      this.#probed.set(k, address);
    }
  }

  /** Opens the transport and packet side, adds the peers and starts the device. */
  static start(opts: AgentOptions & { control: true }): Promise<ControlledAgent>;
  /** Opens the transport and packet side, adds the peers and starts the device. */
  static start(opts: AgentOptions): Promise<Agent>;
  static async start(opts: AgentOptions): Promise<Agent> {
    const logger = opts.logger ?? createLogger();
    const mode = opts.mode ?? "userspace";
    // The userspace stack and the control stack live at the node's addresses; a TUN need not.
    if (opts.addresses.length === 0 && ((mode === "userspace" && !opts.packets) || opts.control)) {
      throw new Error("an agent needs at least one address");
    }
    const own = opts.addresses.map((a) => Cidr.parse(a));
    const ipv4 = own.find((c) => c.family === 4);
    const ipv6 = own.find((c) => c.family === 6);
    const addresses = {
      ipv4: ipv4 && formatAddress(ipv4.address),
      ipv6: ipv6 && formatAddress(ipv6.address),
    };
    let suite: CryptoSuite & { name: string } = selectSuite(opts.crypto);
    const mtu = opts.mtu ?? 1420;
    // Crypto workers seal with libsodium: unforced, an agent with workers takes its suite.
    const sodiumSuite = opts.crypto === undefined ? suiteByName("sodium") : null;
    const cryptoWorkers = resolveCryptoWorkers(opts.cryptoWorkers ?? "auto", {
      tun: mode === "tun" && opts.packets === undefined,
      aead: sodiumSuite !== null ? "sodium" : suite.aead.name,
      cores: navigator.hardwareConcurrency,
    });
    if (cryptoWorkers > 0 && sodiumSuite !== null) suite = sodiumSuite;
    const table = opts.table ?? "auto";
    if (table !== "auto" && table !== "off" && (mode !== "tun" || opts.packets)) {
      throw new Error(
        `a routing table (${table}) needs tun mode: there are no routes without a TUN`,
      );
    }
    const plan = planUnderlay(opts);
    // Checked, nothing opened yet. From here each part is pushed as it is made, and a failure
    // closes them all, last first; on success the agent takes them over.
    await using stack = new AsyncDisposableStack();
    const closer = (part: { close(): Promise<void> | void }) =>
      closeQuietly(part, (e) => logger.warn("a part did not close", { error: String(e) }));
    // The drivers and the crypto batch, until the device takes them over. Parts handed in
    // belong to the agent from the start, like the ones it opens.
    const drivers = stack.use(new AsyncDisposableStack());
    if (opts.transport) drivers.defer(closer(opts.transport));
    if (opts.packets) drivers.defer(closer(opts.packets));
    if (plan.kind === "linux") raiseFileLimitOnce(logger);
    const onError = (e: unknown) => logger.error("driver error", { error: String(e) });
    const trace = latencyTraceFromEnv();
    const poller = plan.kind === "linux"
      ? new Poller({ onError, onPoll: trace?.onPoll, lingerMs: pollLingerMs() })
      : undefined;
    const side = await openPacketSide({
      given: opts.packets,
      mode,
      mtu,
      own: addresses,
      tun: {
        name: opts.interfaceName ?? "weft0",
        poller,
        onError,
        logger,
        addresses: opts.addresses,
        routes: opts.routes ?? (opts.peers ?? []).flatMap((p) => p.allowedIps ?? []),
        table,
        onGone: opts.onInterfaceGone,
      },
      control: opts.control,
      wrapTun: trace ? (tun) => trace.wrapPackets(tun) : undefined,
      logger,
    });
    const packets = side.packets;
    drivers.defer(closer(packets));
    const underlay = await openUnderlay(plan, {
      given: opts.transport,
      poller,
      onError,
      wrapUdp: trace ? (udp) => trace.wrapTransport(udp) : undefined,
      wrap: opts.wrapTransport,
    });
    const transport = underlay.transport;
    drivers.defer(closer(transport));
    const cryptoBatch = await startCryptoWorkers(
      cryptoWorkers,
      mtu,
      logger,
      typeof opts.cryptoWorkers === "number",
    );
    if (cryptoBatch) drivers.defer(() => cryptoBatch.close());
    const device = new Device({
      privateKey: opts.privateKey,
      suite,
      transport,
      packets,
      timers: opts.timers,
      underLoadThreshold: opts.underLoadThreshold,
      onForeignDatagram: opts.onForeignDatagram,
      filter: opts.filter,
      cryptoBatch: cryptoBatch ?? undefined,
      onError: deviceErrorLog(logger, suite.name),
    });
    // The device closes its drivers and the crypto batch from here on (once: a wrapper's close
    // need not be idempotent); the stack those closers were on is dropped.
    drivers.move();
    stack.defer(closer(device));
    for (const p of opts.peers ?? []) device.setPeer(p);
    // A collaborator's factory (the probe) may throw here: nothing runs yet but the device.
    const agent = new Agent(opts, {
      device,
      packets,
      stack: side.userspace,
      control: side.control,
      underlay: underlay.base,
      tcpPort: underlay.tcpPort,
      suiteName: suite.name,
      logger,
    });
    // A start that fails from here on has had a running agent: it says it stopped as close()
    // would. close() says so itself, after the disposal that runs this (hence the check).
    stack.defer(() => {
      if (!agent.#closed) logger.info("agent stopped", {});
    });
    stack.defer(() => agent.#stopHealth());
    device.onEvent((e) => agent.#logEvent(e));
    device.start();
    agent.#startHealth();
    const uapi = opts.uapi ?? mode === "tun";
    if (uapi) {
      try {
        stack.defer(closer(
          await serveUapi(device, packets.name, {
            dir: typeof uapi === "string" ? uapi : undefined,
            logger,
            fwmark: plan.fwMark,
            deviceChanges: opts.uapiDeviceChanges,
            stats: agent.listenerStats.uapi = newListenerStats(),
          }),
        ));
      } catch (e) {
        throw new Error(
          `the UAPI socket did not start: ${e instanceof Error ? e.message : String(e)}`,
          { cause: e },
        );
      }
    }
    logger.info("agent started", {
      publicKey: device.publicKey,
      listenPort: device.listenPort,
      ...(underlay.tcpPort !== null ? { tcpPort: underlay.tcpPort } : {}),
      mode,
      underlay: plan.kind,
      crypto: suite.name,
      cryptoWorkers,
      addresses: opts.addresses.join(","),
      peers: device.peers().length,
    });
    agent.#owned = stack.move();
    return agent;
  }

  /** Starts the health tracker and keeps it (and the prober) in step with the peers. */
  #startHealth(): void {
    this.#syncHealth();
    this.health.start();
    this.#reconcile = setInterval(() => this.#syncHealth(), 1000);
    this.#stopTrim = startHeapTrim();
    this.health.subscribe((e) => {
      const fields = { ...this.#peerFields(e.peer), from: e.from, reason: e.reason };
      if (e.to === "up") this.logger.info(`peer ${e.to}`, fields);
      else this.logger.warn(`peer ${e.to}`, fields);
    });
  }

  /** Stops the health timers and the prober; idempotent. */
  async #stopHealth(): Promise<void> {
    if (this.#healthStopped) return;
    this.#healthStopped = true;
    clearInterval(this.#reconcile);
    this.#stopTrim();
    this.health.close();
    await this.#prober?.stop();
  }

  /**
   * How a log line names a peer: always its key (`peer`), and its name when it has one (a mesh
   * member), else its overlay address when it has one; never an empty field.
   */
  #peerFields(key: string): { peer: string; name?: string; address?: string } {
    const id = this.#describe(key);
    if (id.name) return { peer: key, name: id.name };
    return id.address ? { peer: key, address: id.address } : { peer: key };
  }

  #logEvent(e: DeviceEvent): void {
    const { type, peer, ...rest } = e;
    const fields = { ...this.#peerFields(peer), ...rest };
    if (type === "handshake-complete") this.#handshakeEvents++;
    if (type === "handshake-give-up") this.#failedHandshakes++;
    if (type === "handshake-give-up") this.logger.warn(type, fields);
    else if (type === "keys-zeroed" || type === "handshake-initiated") {
      this.logger.debug(type, fields);
    } else this.logger.info(type, fields);
  }

  /** The TCP side's counters (connections, frames, drops), or null without TCP. */
  tcpStats(): TcpStats | null {
    return tcpSide(this.#underlay.driverStats?.())?.counters ?? null;
  }

  /** The agent's overlay addresses with prefix lengths. */
  get addresses(): string[] {
    return [...this.#addresses];
  }

  /** The node and its peers, as `/status` serves it. */
  status(): { node: NodeStatus; peers: PeerStatus[] } {
    return buildStatus(this.device, {
      mode: this.#mode,
      addresses: this.#addresses,
      interfaceName: this.#packets.name,
      startedAt: this.#startedAt,
      crypto: this.#suiteName,
      version: VERSION,
      name: this.#identity.name,
      role: this.#identity.role,
      describe: (key) => this.#describe(key),
      health: (key) => this.peerHealth(key),
      extra: () => {
        const offloads = offloadsOf(
          udpSide(this.#underlay.driverStats?.()),
          this.#packets.driverStats?.() ?? null,
        );
        return { ...(offloads ? { offloads } : {}), ...this.#extraStatus() };
      },
      extraPeer: this.#extraPeer,
    });
  }

  #needStack(): UserspaceStack {
    if (!this.stack) throw new Error("this needs userspace mode (--userspace)");
    return this.stack;
  }

  /**
   * Sends `count` ICMP echo requests through the mesh: from the userspace stack, or in TUN mode
   * from the control stack (a mesh agent's), whose requests enter the tunnel as the TUN's would
   * and whose replies are taken before the TUN (drivers/split.ts). Each reply's path is the
   * peer's at that moment ({@link peerPath}).
   */
  async ping(
    address: string,
    opts: { count?: number; timeoutMs?: number; intervalMs?: number } = {},
  ): Promise<PingResult> {
    const stack = this.stack ?? this.control;
    if (!stack) {
      throw new Error("ping needs userspace mode (--userspace) or a mesh agent in TUN mode");
    }
    const count = opts.count ?? 1;
    const rtts: (number | null)[] = [];
    const paths: (PeerPath | null)[] = [];
    for (let i = 0; i < count; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
      const rtt = await stack.ping(address, { timeoutMs: opts.timeoutMs ?? 1000 });
      rtts.push(rtt);
      paths.push(rtt === null ? null : this.peerPath(address));
    }
    return { address, rtts, paths };
  }

  /**
   * The way to the peer `address` is routed to (the longest of its allowed IPs holding it, the
   * device's own lookup) as its status says now, or null when no peer has it.
   */
  peerPath(address: string): PeerPath | null {
    const target = parseAddress(address);
    const peer = target === null ? undefined : this.device.peerFor(target);
    if (peer === undefined) return null;
    const key = peer.publicKeyText;
    const extra = this.#extraPeer?.(key) ?? {};
    return {
      name: this.#describe(key).name,
      publicKey: key,
      endpoint: peer.endpoint?.toString() ?? null,
      ...(extra.path !== undefined ? { path: extra.path } : {}),
      ...(extra.via !== undefined ? { via: extra.via } : {}),
      ...(extra.transport !== undefined ? { transport: extra.transport } : {}),
    };
  }

  /** Sends one UDP datagram to an overlay address (userspace mode). */
  send(address: string, port: number, data: Uint8Array, fromPort?: number): void {
    this.#needStack().send({ address, port }, data, fromPort);
  }

  /** Receives the datagrams sent to `port` on our overlay address (userspace mode). */
  listen(port: number, onDatagram: (d: MeshDatagram) => void): { close(): void } {
    return this.#needStack().listen(port, (data, from) => {
      onDatagram({ address: from.address, port: from.port, data: data.slice() });
    });
  }

  /** Stops everything and wipes the keys. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // The health timers first, as they read the device; then the UAPI server and the device.
    await this.#stopHealth();
    await this.#owned.disposeAsync();
    this.logger.info("agent stopped", {});
  }
}
