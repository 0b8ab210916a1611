/**
 * An agent: one device with its transport and packet side, its control/status HTTP server, and
 * the userspace API for programs (ping, datagrams). What `weft up` runs, and what a program embeds.
 * @module
 */

import type { CryptoSuite } from "../crypto/types.ts";
import { selectSuite, suiteByName } from "../crypto/select.ts";
import type {
  AgentMode,
  AgentOptions,
  MeshDatagram,
  NodeIdentity,
  PeerIdentity,
  PeerPath,
  PingResult,
  ProbeFn,
} from "./agent_options.ts";
import { Device, type DeviceErrorSource, type DeviceEvent } from "../device/device.ts";
import type { PacketDevice, Transport } from "../io/driver.ts";
import type { TcpStats } from "../io/stats.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { LogBudget } from "../log/budget.ts";
import { DeviceEventLog } from "./event_log.ts";
import { HealthLog } from "./health_log.ts";
import { HealthFollow } from "./health_follow.ts";
import type { UserspaceStack } from "../../drivers/userspace.ts";
import { Poller } from "../../drivers/linux/poller.ts";
import { latencyTraceFromEnv } from "./latency_trace.ts";
import { serveUapi } from "../uapi/server.ts";
import { Cidr } from "../net/cidr.ts";
import { formatAddress, parseAddress } from "../net/ip.ts";
import { VERSION } from "../version.ts";
import { openPacketSide } from "./packet_side.ts";
import {
  buildPeerStatus,
  buildStatus,
  buildStatusInSlices,
  type NodeStatus,
  type PeerStatus,
  type StatusContext,
} from "../status/status.ts";
import { type HealthListener, HealthTracker, type PeerHealth } from "../health/health.ts";
import { sessionAndPath, withinTimeout } from "../health/prober.ts";
import { type Collector, MetricsRegistry } from "../metrics/registry.ts";
import { agentCollectors } from "./agent_collectors.ts";
import { type ListenerStats, newListenerStats } from "../net/conn_guard.ts";
import { openUnderlay, planUnderlay, raiseFileLimitOnce } from "./underlay.ts";
import type { ProxyConnector } from "../../drivers/proxy_connect.ts";
import { offloadsOf, tcpSide, udpSide } from "./driver_figures.ts";
import { closeQuietly } from "./rollback.ts";
import { resolveCryptoWorkers, startCryptoWorkers } from "./crypto_workers.ts";
import { startHeapTrim } from "./heap_trim.ts";
import { startArenaTrim } from "./arena_trim.ts";
import { lowerV8WorkersOnce } from "./v8_workers.ts";
import { shortenJsSliceOnce } from "./js_slice.ts";
import { envNumber } from "./env_number.ts";
import { warmDataPathOnce, warmDriversOf, warmUpAllowedByEnv } from "./warm_up.ts";

/**
 * How long (ms) the agent's poller keeps waiting for packets on the JS thread after traffic
 * (drivers/linux/poller.ts, `lingerMs`): the idle-tunnel round trip halves (issue 15), and an
 * idle agent still makes no wake-ups. Longer than a second: `ping`'s request comes a second after
 * the last, just past a linger of 1 s, and each one took the helper thread's hop (median 0.47 to
 * 1.40 ms against 0.40 to 0.77 with 1.5 s in four runs, docs/performance.md).
 * `WEFT_POLL_LINGER_MS` overrides it (0: off), for measurements.
 */
export const DEFAULT_POLL_LINGER_MS = 1500;

function pollLingerMs(): number {
  return envNumber("WEFT_POLL_LINGER_MS", DEFAULT_POLL_LINGER_MS, { min: 0 });
}

export type { UnderlayKind } from "./underlay.ts";

export type {
  AgentMode,
  AgentOptions,
  AgentParts,
  MeshDatagram,
  NodeIdentity,
  PeerIdentity,
  PeerPath,
  PingResult,
  ProbeFn,
} from "./agent_options.ts";

/** How long a health probe (an echo request) waits for its reply, ms. */
const PROBE_TIMEOUT_MS = 2000;

/** What an agent started with `control: true` is: its control stack is always there. */
export type ControlledAgent = Agent & {
  /** The control-port stack. */
  readonly control: UserspaceStack;
};

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
  /** What dials TCP through the HTTP proxy; null without one. */
  proxy: ProxyConnector | null;
  suiteName: string;
  logger: Logger;
}

/** A running agent: see the examples of `@weft/weft` (two agents) and `@weft/weft/agent`. */
export class Agent {
  /**
   * The WireGuard device.
   * @ignore internal: the mesh agent's and the CLI's, not an embedding program's
   */
  readonly device: Device;
  /**
   * The userspace stack, in userspace mode.
   * @ignore internal: the mesh agent's and the CLI's, not an embedding program's
   */
  readonly stack: UserspaceStack | null;
  /** The logger. */
  readonly logger: Logger;
  /**
   * The control-port stack, when started with `control: true`.
   * @ignore internal: the mesh agent's and the CLI's, not an embedding program's
   */
  readonly control: UserspaceStack | null;
  /**
   * Per-peer health (handshake age and probes); subscribe for transitions. It follows the
   * device's peers (or the watched ones): a peer removed from it that the device still has is
   * taken up afresh (figures reset, probed again) at the next sync, within a second; to stop
   * following a peer, remove it from the device (or unwatch it).
   * @ignore internal: the mesh agent's and the CLI's, not an embedding program's
   */
  readonly health: HealthTracker;
  /**
   * Counters of the listeners serving this agent (`http`, `uapi`, `dns_tcp`), for /metrics.
   * @ignore internal: the mesh agent's and the CLI's, not an embedding program's
   */
  readonly listenerStats: Record<string, ListenerStats> = {};
  /** The TCP port WireGuard messages are also taken on, or null without TCP (`tcpPort`). */
  readonly tcpPort: number | null;
  /**
   * What dials the TCP side through the HTTP proxy (`proxy`), with its counters; null without.
   * @ignore internal: read by the status and metrics of the layers above
   */
  readonly proxy: ProxyConnector | null;
  /** The underlay before any wrapping: its drivers report their counters and offloads. */
  readonly #underlay: Transport;
  /**
   * What `/metrics` shows: the agent's collectors, then its owner's; register more here.
   * @ignore internal: the mesh agent's and the CLI's, not an embedding program's
   */
  readonly metrics: MetricsRegistry = new MetricsRegistry();
  readonly #identity: NodeIdentity;
  readonly #extraStatus: () => Partial<NodeStatus>;
  readonly #extraPeer: ((publicKey: string) => Partial<PeerStatus>) | undefined;
  readonly #describe: (publicKey: string) => PeerIdentity;
  // Health transitions' lines, held to a budget per state (a leader behind marks thousands).
  readonly #healthLog: HealthLog;
  readonly #eventLog: DeviceEventLog;
  /** Stops this agent's share of the process's heap trim (lib/agent/heap_trim.ts). */
  #stopTrim: () => void = () => {};
  /** Stops this agent's share of the process's arena trim (lib/agent/arena_trim.ts). */
  #stopArenaTrim: () => void = () => {};
  #handshakeEvents = 0;
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
  /** Which peers health follows and probes (the device's or the watched ones). */
  readonly #follow: HealthFollow;

  private constructor(opts: AgentOptions, built: Built) {
    const { device, stack, control, logger } = built;
    this.device = device;
    this.#underlay = built.underlay;
    this.tcpPort = built.tcpPort;
    this.proxy = built.proxy;
    this.#packets = built.packets;
    this.stack = stack;
    this.control = control;
    this.#mode = opts.mode ?? "userspace";
    this.#addresses = [...opts.addresses];
    this.#suiteName = built.suiteName;
    this.logger = logger;
    this.#healthLog = new HealthLog(logger);
    this.#eventLog = new DeviceEventLog(logger);
    this.#identity = { ...(opts.identity ?? { name: "", role: "peer" }) };
    this.#extraStatus = opts.status ?? (() => ({}));
    this.#extraPeer = opts.peerStatus;
    this.health = new HealthTracker({
      ...opts.health,
      handshakeOf: (key) => device.peer(key)?.lastHandshakeUnixMs ?? 0,
      // Behind on our own socket, a probe's answer may wait in our queue: no loss is taken.
      lagging: () => device.lagging,
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
    let probe: ProbeFn | null;
    if (opts.probe === undefined) {
      // An echo reply read after the timeout was due timed a stall of this process: no RTT.
      probe = stack
        ? (address) =>
          stack.ping(address, { timeoutMs: PROBE_TIMEOUT_MS })
            .then((rtt) => withinTimeout(rtt, PROBE_TIMEOUT_MS))
        : null;
    } else {
      probe = opts.probe?.({ device, stack, control }) ?? null;
    }
    this.#follow = new HealthFollow({
      device,
      health: this.health,
      probe,
      probeIntervalMs: opts.health?.probeIntervalMs ?? 5000,
      scope: opts.healthScope ?? "all",
      describe: (key) => this.#describe(key),
    });
    this.#registerCollectors(opts.collectors ?? []);
  }

  // The agent's own /metrics families (device, health, listeners, transports), then the owner's.
  #registerCollectors(extra: readonly Collector[]): void {
    const device = this.device;
    const own = agentCollectors({
      device,
      nameOf: (key) => this.#describe(key).name,
      figures: {
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
        healthTransitions: () => this.#healthLog.counts(),
      },
      peerHealth: (key) => this.peerHealth(key),
      listenerStats: this.listenerStats,
      underlay: this.#underlay,
      packets: this.#packets,
      ...(this.proxy ? { proxy: this.proxy.stats } : {}),
    });
    for (const c of [...own, ...extra]) this.metrics.register(c);
  }

  /**
   * Starts health tracking and probes of a peer (`watched` scope; a no-op in `all` scope, where
   * every peer is followed). With `probe: false` the peer is tracked but not probed: its samples
   * come from elsewhere (a leader hears its members' hellos: ../health/heard.ts).
   * @ignore internal: the mesh agent's and the CLI's, not an embedding program's
   */
  watchPeer(publicKey: string, opts: { probe?: boolean } = {}): void {
    this.#follow.watchPeer(publicKey, opts);
  }

  /**
   * Stops following a peer's health (`watched` scope): it is `idle` from now on.
   * @ignore internal: the mesh agent's and the CLI's, not an embedding program's
   */
  unwatchPeer(publicKey: string): void {
    this.#follow.unwatchPeer(publicKey);
  }

  /**
   * A peer's session and path as one value (its handshakes and endpoint; "" for no such peer):
   * a probe across a change of it timed the setup, not the path, and gets no RTT.
   * @ignore internal: the mesh agent's, not an embedding program's
   */
  probeGeneration(publicKey: string): string {
    return sessionAndPath(this.device.peer(publicKey));
  }

  /**
   * Whether a peer is probed now (followed, and not with its samples from elsewhere).
   * @ignore internal: the mesh agent's and the CLI's, not an embedding program's
   */
  probing(publicKey: string): boolean {
    return this.#follow.probing(publicKey);
  }

  /**
   * Whether a peer's health is followed (always, in `all` scope).
   * @ignore internal: the mesh agent's and the CLI's, not an embedding program's
   */
  watching(publicKey: string): boolean {
    return this.#follow.watching(publicKey);
  }

  /**
   * A peer's health: the tracker's, or for a peer not watched (sessions on demand) `idle`, since
   * the node neither keeps a session with it nor probes it. Undefined for an unknown peer.
   * @ignore internal: the mesh agent's and the CLI's, not an embedding program's
   */
  peerHealth(publicKey: string): PeerHealth | undefined {
    return this.#follow.peerHealth(publicKey);
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
    // A proxy that goes away fails every redial: said within a budget, all counted in /metrics.
    const proxyBudget = new LogBudget();
    const underlay = await openUnderlay(plan, {
      given: opts.transport,
      poller,
      onError,
      onProxyError: (e) => {
        const left = proxyBudget.take();
        if (left === null) return;
        logger.warn("tcp dial through the proxy failed", {
          reason: e.reason,
          error: e.message,
          ...(left ? { suppressed: String(left) } : {}),
        });
      },
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
    // The JS thread's slice (js_slice.ts), before the warm-up's compiles: it carries the packets.
    shortenJsSliceOnce(logger, opts.identity?.role === "leader");
    // Before the device exists: V8 compiles the per-packet code now, on twins of these drivers.
    const twins = opts.warmUp !== false && warmUpAllowedByEnv()
      ? warmDriversOf(packets, transport)
      : null;
    // The twins' poller lingers as the agent's does, so its wait on the JS thread is warmed too.
    if (twins !== null) {
      await warmDataPathOnce(suite, { ...twins, lingerMs: pollLingerMs() }, logger);
    }
    // On Linux whatever the underlay: after the warm-up, whose compiles should finish while it
    // pauses. A mesh leader's to nice 10, others' left alone unless asked (v8_workers.ts).
    lowerV8WorkersOnce(logger, opts.identity?.role === "leader");
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
      proxy: underlay.proxy,
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
      ...(underlay.proxy !== null ? { proxy: underlay.proxy.label } : {}),
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
    this.#follow.start();
    this.health.start();
    this.#stopTrim = startHeapTrim();
    this.#stopArenaTrim = startArenaTrim();
    this.health.subscribe((e) => this.#healthLog.event(e, () => this.#peerFields(e.peer)));
  }

  /** Stops the health timers and the prober; idempotent. */
  async #stopHealth(): Promise<void> {
    if (this.#healthStopped) return;
    this.#healthStopped = true;
    this.#follow.stop();
    this.#healthLog.close();
    this.#eventLog.close();
    this.#stopTrim();
    this.#stopArenaTrim();
    this.health.close();
    await this.#follow.stopProbes();
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
    if (e.type === "handshake-complete") this.#handshakeEvents++;
    if (e.type === "handshake-give-up") this.#failedHandshakes++;
    this.#eventLog.event(e, (peer) => this.#peerFields(peer));
  }

  /**
   * The TCP side's counters (connections, frames, drops), or null without TCP.
   * @ignore internal: the mesh agent's and the CLI's, not an embedding program's
   */
  tcpStats(): TcpStats | null {
    return tcpSide(this.#underlay.driverStats?.())?.counters ?? null;
  }

  /** The agent's overlay addresses with prefix lengths. */
  get addresses(): string[] {
    return [...this.#addresses];
  }

  /** The node and its peers, as `/status` serves it. */
  status(): { node: NodeStatus; peers: PeerStatus[] } {
    return buildStatus(this.device, this.#statusContext());
  }

  /** One peer's status as `/status` lists it, or null when there is no such peer. */
  peerStatus(publicKey: string): PeerStatus | null {
    return buildPeerStatus(this.device, this.#statusContext(), publicKey);
  }

  /**
   * As {@link status}, the peers a slice of `sliceMs` at a time with `pause` (a turn of the
   * event loop) between: a document of thousands of peers without holding the loop for it.
   */
  statusInSlices(
    pause: () => Promise<void>,
    sliceMs: number,
  ): Promise<{ node: NodeStatus; peers: PeerStatus[] }> {
    return buildStatusInSlices(this.device, this.#statusContext(), pause, sliceMs);
  }

  #statusContext(): StatusContext {
    return {
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
    };
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
      ...(extra.proxy !== undefined ? { proxy: extra.proxy } : {}),
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

  /**
   * Calls `fn` on each of the device's peer events (a handshake done or given up, a key
   * rotated, an endpoint roamed); returns the function that stops it.
   */
  onEvent(fn: (e: DeviceEvent) => void): () => void {
    return this.device.onEvent(fn);
  }

  /** Calls `fn` on each change of a peer's health (up, degraded, down); returns the stop. */
  onHealth(fn: HealthListener): () => void {
    return this.health.subscribe(fn);
  }

  /**
   * Adds a collector to the agent's `/metrics` page: a function that writes samples (families
   * made with `counter`, `gauge`, `histogram` of `@weft/weft/metrics`) at each scrape. Returns
   * the function that removes it.
   */
  addCollector(collector: Collector): () => void {
    return this.metrics.register(collector);
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
