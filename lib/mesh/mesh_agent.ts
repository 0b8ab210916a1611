/**
 * A mesh agent: `weft --leader` or `weft --join <token>`. It runs an {@link Agent} whose peers
 * are the other members, keeps membership in sync through the leader, and persists what it needs
 * to restart alone. Node-to-node sessions are direct, so traffic does not depend on the leader.
 *
 * This module starts the agent (the state and the join: `boot.ts`, `join/`) with what must
 * exist before it (the relay parts under its transport, the policy's filter, the probe over the
 * control channel), then hands the rest to the composition root (`compose.ts`), which makes every
 * part and lists them in start order: the leader's service (`leader/`) or the node's sync
 * (`sync/`), the paths through NATs (`lib/nat/runtime/`), the relays (`lib/relay/runtime/`), the
 * service layer (`mesh.services`: `lib/services/`, with its leases in `lib/services/lease/`),
 * and DNS (`lib/dns/mesh_dns.ts`).
 * @module
 */

import { Agent, type ControlledAgent } from "../agent/agent.ts";
import type { DirLock } from "../config/dir_lock.ts";
import { selectSuite } from "../crypto/select.ts";
import type { DnsServer } from "../dns/server.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { ownLabelsProblem } from "../members/labels.ts";
import type { Member, MembershipView, ServiceSpec } from "../members/member.ts";
import { isPathProbe } from "../nat/probe.ts";
import type { MeshPaths } from "./nat/mesh_paths.ts";
import type { PolicyEngine } from "../policy/engine.ts";
import type { PolicyFilter } from "../policy/filter.ts";
import { PolicyRuntime } from "../policy/runtime.ts";
import type { VersionedPolicy } from "../policy/source.ts";
import { parsePolicy } from "../policy/parse.ts";
import type { PolicyDocument } from "../policy/schema.ts";
import { type SegmentSpec, type SegmentView, segmentViews } from "../policy/segment_admin.ts";
import type { MeshRoutes } from "./relay/mesh_routes.ts";
import { makeRelayParts, wrapRelays } from "./relay/relay_parts.ts";
import { leaseMetrics } from "../services/lease/metrics.ts";
import type { MeshServices } from "../services/mesh_services.ts";
import { servicesStatus } from "../services/service_status.ts";
import type { NodeStatus, StoreStatus } from "../status/status.ts";
import type { LeaderStore } from "./store/store.ts";
import { type MeshStatus, meshStatus } from "../status/mesh_status.ts";
import type { UserspaceStack } from "../../drivers/userspace.ts";
import { LinuxForwarding } from "../../drivers/linux/forwarding.ts";
import { LinuxKernelRoutes } from "../../drivers/linux/kernel_routes.ts";
import { AcceptedRoutes, connectedNetworks } from "./subnets/accepted.ts";
import { SubnetRouter } from "./subnets/router.ts";
import { routeCollector } from "./subnets/metrics.ts";
import { ExitNodeUse } from "./subnets/exit.ts";
import { LinuxDefaultRouting } from "../../drivers/linux/default_route.ts";
import { LinuxSystemDns } from "../../drivers/linux/system_dns.ts";
import { LinuxVxlanSegments } from "../../drivers/linux/vxlan.ts";
import { controlCollector } from "./sync/metrics.ts";
import { MeshSegments } from "./segments/segments.ts";
import { SYSTEM_DNS_FILE, SystemDnsFile } from "./state/system_dns_file.ts";
import {
  abandonState,
  keepState,
  type OpenedState,
  openLeader,
  openNode,
  openState,
} from "./boot.ts";
import { composeMesh, type MeshComposition, type Start } from "./compose.ts";
import { type CheckedToken, checkJoinToken, JoinError } from "./join/client.ts";
import { type GrantChange, type LeaderCore, LeaderError } from "./leader/core.ts";
import type { CreatedToken, LeaderService, PolicyApplied, TokenOptions } from "./leader/service.ts";
import { Membership } from "./membership.ts";
import type { MeshOptions } from "./mesh_options.ts";
import { DEFAULT_LISTEN_PORT, meshTcpPort, ownRoutes, underlayKind } from "./options/options.ts";
import { MemberIndex, MeshPeers } from "./peers/peers.ts";
import { PeerActivity } from "./peers/activity.ts";
import { HeardLiveness } from "../health/heard.ts";
import { healthWatch } from "./peers/health_watch.ts";
import type { StateDir } from "./state/state.ts";
import { ConfigError } from "../config/config_error.ts";
import {
  layerPrefs,
  mergePrefs,
  noPrefs,
  type Prefs,
  PREFS_FILE,
  type PrefsChange,
  type PrefSettings,
  readPrefs,
  writePrefs,
} from "./prefs.ts";
import { ControlChannel } from "./sync/control_channel.ts";
import type { Prober } from "./sync/protocol.ts";
import type { Collector } from "../metrics/registry.ts";
import { dnsCollector } from "../dns/metrics.ts";
import { leaderCollector } from "./leader/metrics.ts";
import { pathsCollector } from "../nat/metrics.ts";
import { relayCollector } from "../relay/metrics.ts";
import { servicesCollector } from "../services/metrics.ts";
import { leaseCollector } from "../services/lease/collector.ts";
import { policyCollector } from "../policy/metrics.ts";

export { checkJoinToken, JoinError, JoinUnavailableError } from "./join/client.ts";
export type { MeshOptions } from "./mesh_options.ts";
// `mesh.services` is the service API: its type goes wherever the agent does.
export { MeshServices } from "../services/mesh_services.ts";

/** A mesh agent's role. */
export type MeshRole = "leader" | "node";

/** What a mesh agent is made of: the agent and its state, and the composed parts. */
interface MeshShell {
  opts: MeshOptions;
  agent: ControlledAgent;
  state: StateDir;
  /** The state directory's lock, released last when the agent closes. */
  lock: DirLock;
  logger: Logger;
  channel: ControlChannel;
  membership: Membership;
  policy: PolicyRuntime;
  composed: MeshComposition;
}

/**
 * The `/metrics` collectors of the mesh's own parts, read at each scrape; before the parts are
 * composed (the agent starts first) only the policy's figures exist.
 */
function meshCollectors(
  policy: PolicyRuntime,
  parts: () => MeshComposition | null,
  channel: () => ControlChannel | undefined,
  store: LeaderStore | undefined,
): Collector[] {
  const leader = () => {
    const role = parts()?.role;
    return role?.role === "leader" ? role : undefined;
  };
  return [
    dnsCollector(() => parts()?.dns?.server?.stats),
    leaderCollector({
      joinDrops: () => leader()?.joins.drops(),
      memberRefusals: () => {
        const l = leader();
        // Joins the store refused are the join server's; hellos and byes, the service's.
        if (!l) return undefined;
        const r = l.service.refusals();
        return { ...r, store: (r.store ?? 0) + l.joins.storeRefused };
      },
      linkReportDrops: () => parts()?.links.store?.drops(),
      departedForgotten: () => leader()?.core.departedForgotten,
      storeUp: () => leader() ? store?.health?.().ok : undefined,
    }),
    pathsCollector(() => {
      const nat = parts()?.nat;
      const routes = nat?.routes;
      return nat?.paths.metrics(routes ? (key) => routes.state(key) : undefined);
    }),
    relayCollector(() => parts()?.nat?.routes.metrics()),
    routeCollector(() => parts()?.router?.counters()),
    servicesCollector(() => parts()?.services.metrics()),
    leaseCollector(() => {
      const c = parts();
      return c
        ? leaseMetrics(c.leases.stats(), c.services.list().map((s) => s.name), c.leases.leaders())
        : undefined;
    }),
    policyCollector(() => policy.drops()),
    controlCollector(() => channel()?.prober.untracked),
  ];
}

/** The `services` field of `/status`; on a node, the leader it syncs with and every leader. */
function meshNodeStatus(
  c: MeshComposition,
  self: Member | undefined,
): Pick<
  NodeStatus,
  "services" | "leader" | "leaders" | "routes" | "carries" | "exitNode" | "systemDns" | "segments"
> {
  const routes = c.accepted.inUse();
  const systemDns = c.dns?.systemDns;
  const segments = c.segments.status();
  return {
    services: servicesStatus(c.services.list(), c.leases.leaders()),
    ...(c.role.role === "node" ? c.role.sync.status() : {}),
    ...(routes.length ? { routes } : {}),
    ...(self?.advertisedRoutes?.length
      ? { carries: { advertised: self.advertisedRoutes, carried: self.routes ?? [] } }
      : {}),
    ...(c.exit?.wanted != null ? { exitNode: c.exit.status } : {}),
    ...(systemDns ? { systemDns } : {}),
    ...(segments.length ? { segments } : {}),
  };
}

/** A running mesh agent; the example of `@weft/weft/mesh` starts a leader and a node. */
export class MeshAgent<R extends MeshRole = MeshRole> {
  /** The agent (device, drivers, userspace API). */
  readonly agent: ControlledAgent;
  /** `leader` or `node`. */
  readonly role: R;
  /** This node's name. */
  readonly name: string;
  /**
   * The leader's state: on a leader, always; on a node, null.
   * @ignore internal: the leader's core, for the control routes and tests
   */
  readonly leader: R extends "leader" ? LeaderCore : R extends "node" ? null : LeaderCore | null;
  /**
   * Probes peers through the tunnel.
   * @ignore internal: for the control routes and tests
   */
  readonly prober: Prober;
  /** The network policy engine (rules compiled against the membership). */
  readonly policyEngine: PolicyEngine;
  /** The stateful filter enforcing it on this node's tunnel. */
  readonly policyFilter: PolicyFilter;
  readonly #shell: MeshShell;
  readonly #parts: MeshComposition;
  #closed = false;
  // The policy in force parsed for segments(), by version.
  #segmentDoc: { version: number; doc: PolicyDocument } | null = null;
  // Until start() returns, the state directory's lock is the start's: a start that fails removes
  // what it made in the directory before it lets the lock go.
  #starting = true;
  // The labels and services the agent was started with (flags, file), the preferences set at
  // runtime over them (prefs.ts), and the changes one after the other.
  #configured: PrefSettings = {
    labels: {},
    services: [],
    advertiseRoutes: [],
    advertiseExitNode: false,
    exitNode: undefined,
    exitNodeAllowLanAccess: false,
    exitNodeFallback: false,
    acceptRoutes: true,
  };
  #prefs: Prefs = noPrefs();
  #setting: Promise<unknown> = Promise.resolve();

  private constructor(shell: MeshShell) {
    this.#shell = shell;
    this.#parts = shell.composed;
    this.agent = shell.agent;
    const role = shell.composed.role;
    this.role = role.role as R;
    // The name the mesh knows it by: a node's join may have been granted its previous one.
    this.name = shell.membership.member(shell.agent.device.publicKey)?.name ??
      shell.opts.hostname;
    this.leader = (role.role === "leader" ? role.core : null) as MeshAgent<R>["leader"];
    this.prober = shell.channel.prober;
    this.policyEngine = shell.policy.engine;
    this.policyFilter = shell.policy.filter;
  }

  /** Whether this agent is the leader (narrows its type: `leader` is then not null). */
  isLeader(): this is MeshAgent<"leader"> {
    return this.#parts.role.role === "leader";
  }

  /** Starts a leader or a node; a fresh node joins with its token first. */
  static async start<O extends MeshOptions>(opts: O): Promise<MeshAgent<O["role"]>> {
    const logger = opts.logger ?? createLogger();
    let checked: CheckedToken | null;
    try {
      if (opts.role === "node") {
        const p = ownLabelsProblem(opts.labels ?? {});
        if (p !== undefined) throw new JoinError(p);
      }
      // A token that cannot be used is refused before anything is created on disk.
      checked = opts.role === "node" && opts.token
        ? checkJoinToken(opts.token, selectSuite(opts.crypto).dh)
        : null;
    } catch (e) {
      opts.stateLock?.release(); // the agent took it over
      throw e;
    }
    // The state directory is locked first: a second agent on it stops here.
    const opened = await openState(opts.stateDir, logger, opts.stateLock);
    const configured: PrefSettings = {
      labels: opts.labels ?? {},
      services: opts.services ?? [],
      advertiseRoutes: opts.advertiseRoutes ?? [],
      advertiseExitNode: opts.advertiseExitNode ?? false,
      exitNode: opts.exitNode,
      exitNodeAllowLanAccess: opts.exitNodeAllowLanAccess === true,
      exitNodeFallback: opts.exitNodeFallback === true,
      acceptRoutes: opts.acceptRoutes !== false,
    };
    let prefs: Prefs;
    let mesh: MeshAgent<O["role"]>;
    try {
      // What `weft set` changed at runtime is laid over the configuration (prefs.ts).
      prefs = await readPrefs(opened.state.path(PREFS_FILE));
      opts = { ...opts, ...layerPrefs(configured, prefs) };
      if (opts.role === "leader") {
        const { core, addresses } = await openLeader(opts, opened, logger);
        mesh = await MeshAgent.#compose<O["role"]>(opts, opened, addresses, { core }, logger);
      } else {
        const { node, addresses, joinedOver, run } = await openNode(opts, opened, checked, logger);
        mesh = await MeshAgent.#compose<O["role"]>(
          opts,
          opened,
          addresses,
          { node, joinedOver, run },
          logger,
        );
      }
    } catch (e) {
      // #compose closed what it had opened; what the start made in the state directory goes
      // (a key, a new leader's state, the directory), then the lock.
      await abandonState(opened, logger);
      throw e;
    }
    keepState(opened);
    mesh.#configured = configured;
    mesh.#prefs = prefs;
    mesh.#starting = false;
    return mesh;
  }

  /**
   * Starts the agent with what it needs from the start (the relays under its transport, the
   * members' names, the policy filter, the probe over the control channel, the figures), then
   * has the composition root make the parts and starts them in their order. If any of it fails,
   * everything opened so far is closed before the error is rethrown, so a failed start leaves no
   * socket or timer behind.
   */
  static async #compose<R extends MeshRole>(
    opts: MeshOptions,
    opened: OpenedState,
    addresses: string[],
    start: Start,
    logger: Logger,
  ): Promise<MeshAgent<R>> {
    const underlay = underlayKind(opts);
    const view = start.core ? start.core.view() : start.node.view;
    const carried = ownRoutes(opts);
    if (carried.length && opts.userspace) {
      throw new Error("carrying routes for the mesh needs TUN mode (the kernel forwards them)");
    }
    if (opts.exitNode !== undefined && opts.userspace) {
      throw new Error("routing this host's traffic through an exit node needs TUN mode");
    }
    // With an exit node, the underlay socket's packets carry a mark that keeps them out of the
    // tunnel (policy routing, as wg-quick's): the listen port's number, as the routing table's.
    // In TUN mode over the Linux underlay always, so that one may be chosen at runtime (a mark
    // alone changes nothing: only the exit node's rules look at it).
    const markable = !opts.userspace && underlay === "linux" && !opts.openTransport;
    const exitMark = opts.exitNode === undefined && !markable
      ? 0
      : (opts.listenPort || DEFAULT_LISTEN_PORT);
    const index = new MemberIndex();
    const policy = new PolicyRuntime({ members: view, logger, addresses });
    const relay = makeRelayParts(opts, view);
    // The agent's hooks below read the parts, which need the running agent to be made: until
    // the composition exists they answer as without those parts.
    let composed: MeshComposition | null = null;
    let membership: Membership | null = null;
    // The channel needs the agent's control stack, and the agent's probe needs the channel: the
    // probe's factory, which the agent calls with its parts, makes it.
    let channel: ControlChannel | undefined;
    const channelOn = (stack: UserspaceStack) => channel ??= new ControlChannel(stack, logger);
    const port = opts.listenPort ?? DEFAULT_LISTEN_PORT;
    const agent = await Agent.start({
      privateKey: opened.privateKey,
      addresses,
      listenPort: port,
      tcpPort: meshTcpPort(opts),
      mtu: opts.mtu,
      mode: opts.userspace ? "userspace" : "tun",
      interfaceName: opts.interfaceName ?? "weft0",
      ...(exitMark ? { fwMark: exitMark } : {}),
      crypto: opts.crypto,
      cryptoWorkers: opts.cryptoWorkers,
      timers: opts.timers,
      logger,
      underlay,
      control: true,
      health: opts.health,
      // Sessions on demand: health follows the active peers only (peers/activity.ts).
      healthScope: "watched",
      ...(opts.openTransport ? { transport: await opts.openTransport(port) } : {}),
      wrapTransport: (t) => wrapRelays(t, relay),
      identity: {
        name: view.members.find((m) => m.publicKey === opened.publicKey)?.name ?? opts.hostname,
        role: opts.role,
      },
      describePeer: (key) => index.identity(key),
      // control: true, so the parts hold the control stack.
      probe: opts.probes === false ? null : ({ control }) => {
        const c = channelOn(control!);
        return (address) => c.prober.probe(address, 2000);
      },
      filter: policy.deviceFilter,
      collectors: meshCollectors(policy, () => composed, () => channel, opts.store),
      status: () => ({
        ...policy.status(),
        ...(composed
          ? meshNodeStatus(
            composed,
            membership?.view.members.find((m) => m.publicKey === opened.publicKey),
          )
          : {}),
        // A leader's shared store (etcd) and how it answers: the state directory has no health.
        ...(opts.role === "leader" && opts.store?.health ? { store: storeStatus(opts.store) } : {}),
      }),
      peerStatus: (key) => ({
        ...composed?.nat?.paths.peerStatus(key),
        ...composed?.nat?.routes.peerStatus(key),
      }),
      // Path probes go to the paths; only the leader serves joins; a node drops the rest.
      onForeignDatagram: (data, from) => {
        const role = composed?.role;
        if (isPathProbe(data)) composed?.nat?.paths.handle(data, from);
        else if (role?.role === "leader") role.joins.handle(data, from);
      },
    });
    let mesh: MeshAgent<R> | null = null;
    try {
      const keepalive = opts.persistentKeepalive ?? 25;
      // A leader follows its members by their hellos rather than probing each (a fleet's
      // thousands): peers/health_watch.ts.
      const heard = opts.role === "leader"
        ? new HeardLiveness({
          sink: agent.health,
          // A member gone quiet is probed until it says hello again (one that uses another
          // leader is judged so all along).
          // A router gone quiet hands its routes to a standby at once (HA routes). Only a member
          // that said hello to this leader counts: one using another leader is that one's to
          // judge (each leader calling the other's routers quiet would move routes back and forth).
          probing: (key, on) => {
            agent.watchPeer(key, { probe: on });
            if (on && !heard?.hasHeard(key)) return;
            start.core?.setQuiet(key, on).catch((e) =>
              logger.warn("handing routes over failed", { error: String(e) })
            );
          },
        })
        : null;
      const activity: PeerActivity = new PeerActivity(
        {
          device: agent.device,
          logger,
          keepalive,
          ...healthWatch({
            watchPeer: (key, o) => agent.watchPeer(key, o),
            unwatchPeer: (key) => agent.unwatchPeer(key),
            member: (key) => index.get(key),
            kept: (key) => activity.kept(key),
            heard,
          }),
          activatePaths: (key) => composed?.nat?.paths.activate(key),
          deactivatePaths: (key) => composed?.nat?.paths.deactivate(key),
          probePackets: (address) => channelOn(agent.control).prober.packets(address),
          // A leader answers a bye on the session the stopping member still holds.
          wipeStopped: opts.role !== "leader",
        },
        opts.keepPeers ?? [],
        opts.activityTiming,
      );
      const iface = opts.interfaceName ?? "weft0";
      const accepted = new AcceptedRoutes({
        self: opened.publicKey,
        accept: opts.acceptRoutes !== false,
        reroute: () => peers.apply(membership?.view ?? view, true),
        kernel: opts.userspace ? null : opts.kernelRoutes ?? new LinuxKernelRoutes(iface),
        connected: () => connectedNetworks(iface),
        view: () => membership?.view ?? view,
        logger,
      });
      // In TUN mode always: with no routes it sets nothing up, and `weft set` may add some.
      const router = !opts.userspace
        ? new SubnetRouter({
          forwarding: opts.forwarding ?? new LinuxForwarding(),
          iface,
          self: opened.publicKey,
          view: () => membership?.view ?? view,
          prefixes: carried,
          masquerade: opts.snatSubnetRoutes !== false,
          logger,
        })
        : null;
      const exit = opts.exitNode === undefined && !markable ? null : new ExitNodeUse({
        exitNode: opts.exitNode ?? null,
        allowLanAccess: opts.exitNodeAllowLanAccess === true,
        fallback: opts.exitNodeFallback === true,
        routing: opts.defaultRouting ?? new LinuxDefaultRouting(),
        iface,
        mark: exitMark,
        view: () => membership?.view ?? view,
        logger,
        reroute: () => peers.apply(membership?.view ?? view, true),
        // The relay carrying the exit node's traffic stays off the tunnel too.
        ...(opts.natTraversal === false
          ? {}
          : { relayOf: (key: string) => composed?.nat?.routes.relayOf(key) ?? null }),
      });
      if (!opts.userspace) {
        // A run that crashed left its forwarding rules and exit-node routing behind: gone
        // before anything is set up again (and when this run sets up neither).
        const mark = opts.listenPort || DEFAULT_LISTEN_PORT;
        await (opts.forwarding ?? new LinuxForwarding()).sweep(iface).catch((e) =>
          logger.warn("removing old forwarding rules failed", { error: String(e) })
        );
        await (opts.defaultRouting ?? new LinuxDefaultRouting()).sweep(mark, mark, iface).catch((
          e,
        ) => logger.warn("removing old exit-node routing failed", { error: String(e) }));
      }
      // The host's resolver, pointed here with --accept-dns; what a crashed run changed is put
      // back first (and when this run does not point it here).
      const systemDns = opts.userspace ? null : opts.systemDns ?? new LinuxSystemDns({
        keep: new SystemDnsFile(opened.state.path(SYSTEM_DNS_FILE)),
      });
      const leftover = await systemDns?.restore().catch((e) => {
        // Without the record the host cannot be put back: pointing it here again would lose
        // what it was, so --accept-dns stops here; without it, the agent runs on.
        if (opts.acceptDns) {
          throw new Error(`accept-dns: ${(e instanceof Error ? e.message : String(e))}`, {
            cause: e,
          });
        }
        logger.error("putting back the host resolver failed", {
          error: e instanceof Error ? e.message : String(e),
        });
        return null;
      });
      if (leftover) {
        logger.warn("put back the host resolver a previous run left pointed at weft", {
          mode: leftover.mode,
          ...(leftover.leftAlone ? { leftAlone: leftover.leftAlone } : {}),
        });
      }
      // The Layer 2 segments the policy puts this member in (TUN mode: the kernel's bridges).
      const segments = new MeshSegments({
        drivers: opts.userspace ? null : opts.segmentDrivers ?? [new LinuxVxlanSegments({ iface })],
        self: opened.publicKey,
        mtu: opts.mtu ?? 1420,
        view: () => membership?.view ?? view,
        policy: () => policy.engine.policy,
        logger,
      });
      const peers = new MeshPeers({
        device: agent.device,
        index,
        logger,
        // Only the active peers (the kept ones, those with traffic) get keepalives.
        keepalive: (key) => activity.active(key) ? keepalive : 0,
        lookup: opts.lookup,
        chosenEndpoint: (key) =>
          composed?.nat?.routes.endpoint(key) ?? composed?.nat?.paths.chosen(key) ?? null,
        routesOf: exit
          ? (m) => [...accepted.routesOf(m), ...exit.routesOf(m)]
          : (m) => accepted.routesOf(m),
      });
      // The parts hear each new view through the one list, in its order (compose.ts).
      membership = new Membership(view, {
        peers,
        policy,
        parts: { viewChanged: (v) => composed?.parts.viewChanged(v) },
      });
      const c = composeMesh({
        opts,
        start,
        privateKey: opened.privateKey,
        addresses,
        agent,
        underlay,
        state: opened.state,
        channel: channelOn(agent.control),
        peers,
        activity,
        heard,
        policy,
        membership,
        relay,
        accepted,
        router,
        exit,
        systemDns,
        segments,
        logger,
      });
      composed = c;
      mesh = new MeshAgent<R>({
        opts,
        agent,
        state: opened.state,
        lock: opened.lock,
        logger,
        channel: channelOn(agent.control),
        membership,
        policy,
        composed: c,
      });
      await c.parts.start();
      return mesh;
    } catch (e) {
      try {
        if (mesh) await mesh.close();
        else {
          await composed?.parts.close();
          policy.close();
          await agent.close();
        }
      } catch (closing) {
        logger.error("closing after a failed start failed", { error: String(closing) });
      }
      throw e;
    }
  }

  /**
   * The paths to the other members (null when NAT traversal is off).
   * @ignore internal: the path table, for the control routes and tests
   */
  get paths(): MeshPaths | null {
    return this.#parts.nat?.paths ?? null;
  }

  /**
   * The routes through relays and TCP (null when NAT traversal is off).
   * @ignore internal: the relay and TCP routes, for the control routes and tests
   */
  get routes(): MeshRoutes | null {
    return this.#parts.nat?.routes ?? null;
  }

  /**
   * The mesh view (leader only; null on a node): every member and every link between two
   * members, merged from the members' link reports. `/status` serves it as `mesh`.
   */
  meshStatus(): MeshStatus | null {
    const store = this.#parts.links.store;
    if (!store) return null;
    return meshStatus(this.view().members, store.reports(), this.agent.device.publicKey);
  }

  /** The DNS server, when on. */
  get dns(): DnsServer | null {
    return this.#parts.dns?.server ?? null;
  }

  /** The parts' names in start order (close runs in reverse); see compose.ts. */
  get partNames(): string[] {
    return this.#parts.parts.names;
  }

  /** The network policy in force, if any. */
  get policy(): VersionedPolicy | null {
    return this.#shell.policy.policy;
  }

  /** This node's own member record in the current view. */
  get self(): Member | undefined {
    return this.#shell.membership.member(this.agent.device.publicKey);
  }

  /** The membership view this node holds. */
  view(): MembershipView {
    return this.#shell.membership.view;
  }

  /**
   * Calls `fn` once when the leader removes this node from the mesh (`weft node remove`): it has
   * no peers from then on. Only the leader can say it (its own overlay address, authenticated
   * by WireGuard). The agent keeps running: what to do (stop, wait for an operator) is the
   * caller's. Never called on the leader. Returns the function that stops it.
   */
  onRemoved(fn: () => void): () => void {
    const role = this.#parts.role;
    return role.role === "node" ? role.sync.onRemoved(fn) : () => {};
  }

  /** Whether the leader removed this node (see {@link MeshAgent.onRemoved}). */
  get removed(): boolean {
    const role = this.#parts.role;
    return role.role === "node" && role.sync.removed;
  }

  /** Subscribes to membership changes; returns the unsubscribe function. */
  onMembership(fn: (v: MembershipView) => void): () => void {
    return this.#shell.membership.subscribe(fn);
  }

  /** Labels that nodes claimed outside `node.weft/` (in a join or a hello), dropped. */
  get labelsDropped(): number {
    const role = this.#parts.role;
    return role.role === "leader" ? role.service.labelsDropped : 0;
  }

  #needLeader(): LeaderService {
    const role = this.#parts.role;
    if (role.role !== "leader") throw new LeaderError("this node is not the leader");
    return role.service;
  }

  /**
   * Creates a join token (leader only): nodes joining with it get its labels, may offer the
   * services it names, and with `relay` may relay for others (the example of
   * `@weft/weft/mesh` makes one).
   */
  async createToken(opts: TokenOptions = {}): Promise<CreatedToken> {
    return await this.#needLeader().createToken(opts);
  }

  /**
   * Changes what a node was granted (leader only; `weft node set`): relaying for others, labels
   * set or removed (policies, scoped views and segments follow).
   */
  async setNodeGrants(nameOrAddress: string, change: GrantChange): Promise<Member> {
    return await this.#needLeader().setNodeGrants(nameOrAddress, change);
  }

  /** Service offers the leader left out of member records for want of a grant (leader only). */
  get servicesRefused(): number {
    const role = this.#parts.role;
    return role.role === "leader" ? role.service.servicesRefused : 0;
  }

  /** Removes a node from the mesh (leader only). */
  async removeNode(nameOrAddress: string): Promise<Member> {
    return await this.#needLeader().removeNode(nameOrAddress);
  }

  /**
   * Frees a removed node's name before its grace period (24 h by default) ends, so that another
   * joiner may have it (leader only; `weft node free-name`).
   */
  async freeName(name: string): Promise<void> {
    return await this.#needLeader().freeName(name);
  }

  /**
   * Puts a policy (YAML text, as `weft policy apply` takes it) in force at the leader and sends
   * it to every node, once it is checked whole against the members: a name a selector gives that
   * no member has (nor the policy's `future:` list) and a test of its `tests:` that fails refuse
   * it, with every other problem of the text, in one `PolicyError` (`problems`); the policy in
   * force stays. Label selectors that match no member are warnings. The same text again changes
   * nothing (the same version).
   */
  async applyPolicy(text: string): Promise<PolicyApplied> {
    return await this.#needLeader().setPolicy(text);
  }

  /**
   * Adds a Layer 2 segment to the policy in force (leader only; `weft segment create`): a new
   * policy version, stored and sent to every node like {@link MeshAgent.applyPolicy}'s, whose
   * members each get the bridge `br-<name>`. The whole document is validated again: a name or
   * VNI another segment has rejects with a `SegmentConflictError`, anything else the policy
   * refuses (a bad name, VNI, MTU or selector) with its `PolicyError`. Changes at once apply one
   * after the other, each on top of the one before. The example of `@weft/weft/mesh` makes one.
   */
  async createSegment(spec: SegmentSpec): Promise<{ version: number }> {
    return { version: await this.#needLeader().createSegment(spec) };
  }

  /**
   * Removes a segment from the policy in force (leader only; `weft segment delete`), as
   * {@link MeshAgent.createSegment} adds one; a name the policy does not hold rejects with a
   * `SegmentNotFoundError`.
   */
  async deleteSegment(name: string): Promise<{ version: number }> {
    return { version: await this.#needLeader().deleteSegment(name) };
  }

  /**
   * The segments of the policy in force on this node, each with the members of this node's view
   * it selects (`weft segment list`, `GET /v1/segments`).
   */
  segments(): SegmentView[] {
    const p = this.policy;
    if (!p) return [];
    if (this.#segmentDoc?.version !== p.version) {
      this.#segmentDoc = { version: p.version, doc: parsePolicy(p.text) };
    }
    return segmentViews(this.#segmentDoc.doc, this.view().members);
  }

  /**
   * Replaces the services this node advertises (served in every node's DNS once the leader has
   * them). Resolves when the leader has them (leader) or when they were sent (node).
   */
  async setServices(services: ServiceSpec[]): Promise<void> {
    const copy = services.map((x) => ({ ...x }));
    // With what the service layer adds (services provided here, health).
    const list = this.#parts.services.configure(copy);
    this.#parts.leases.offer(list.map((s) => s.name));
    const role = this.#parts.role;
    if (role.role === "leader") await role.service.setServices(list);
    else role.sync.setServices(list);
  }

  /**
   * Changes this node's own labels (`node.weft/` ones) and the services it offers at runtime
   * (`weft set`, `PATCH /v1/prefs`; `parsePrefsChange` parses the API's form): only what the
   * change names. The preferences are written to `prefs.json` in the state directory before it
   * resolves, and every later start lays them over its configuration (see `lib/mesh/prefs.ts`
   * for the precedence; `reset` goes back to the configuration). Each change goes to the leader
   * at once: a node's next hello is sent now, a leader updates its own record. Changes run one
   * after the other. Resolves with the labels and services in force; rejects with a
   * `ConfigError` (too many labels or services) and changes nothing.
   */
  set(change: PrefsChange): Promise<PrefSettings> {
    const run = this.#setting.catch(() => {}).then(() => this.#set(change));
    this.#setting = run;
    return run;
  }

  async #set(change: PrefsChange): Promise<PrefSettings> {
    const before = layerPrefs(this.#configured, this.#prefs);
    const next = mergePrefs(this.#prefs, change);
    const after = layerPrefs(this.#configured, next);
    const routesBefore = ownRoutes(before);
    const routes = ownRoutes(after);
    const routesChanged = String(routesBefore) !== String(routes);
    const router = this.#parts.router;
    const exit = this.#parts.exit;
    const exitWant = (s: PrefSettings) => ({
      exitNode: s.exitNode ?? null,
      allowLanAccess: s.exitNodeAllowLanAccess,
      fallback: s.exitNodeFallback,
    });
    const exitChanged = JSON.stringify(exitWant(before)) !== JSON.stringify(exitWant(after));
    if (exitChanged && !exit) {
      throw new ConfigError(
        "choosing an exit node at runtime needs TUN mode and the Linux underlay (restart with " +
          "--exit-node)",
      );
    }
    if (routesChanged) {
      if (!router) {
        throw new ConfigError(
          "carrying routes for the mesh needs TUN mode (the kernel forwards them)",
        );
      }
      // The host first: what it cannot forward is refused before anything is written or told.
      await router.setPrefixes(routes);
    }
    if (exitChanged) {
      try {
        await exit!.set(exitWant(after));
      } catch (e) {
        if (routesChanged) await router?.setPrefixes(routesBefore).catch(() => {});
        throw e;
      }
    }
    try {
      // On disk before anything says it is in force: a restart keeps what was answered.
      await writePrefs(this.#shell.state.path(PREFS_FILE), next);
    } catch (e) {
      if (routesChanged) await router?.setPrefixes(routesBefore).catch(() => {});
      if (exitChanged) await exit?.set(exitWant(before)).catch(() => {});
      throw e;
    }
    this.#prefs = next;
    if (before.acceptRoutes !== after.acceptRoutes) {
      await this.#parts.accepted.setAccept(after.acceptRoutes);
    }
    if (routesChanged) {
      const role = this.#parts.role;
      if (role.role === "node") role.sync.setRoutes(routes);
      else await role.core.updateMember(this.agent.device.publicKey, { advertisedRoutes: routes });
    }
    if (JSON.stringify(before.labels) !== JSON.stringify(after.labels)) {
      const role = this.#parts.role;
      if (role.role === "node") role.sync.setLabels(after.labels);
      else {
        // The leader's own record: its node.weft/ labels (the granted ones are its config's).
        await role.core.updateMember(this.agent.device.publicKey, { nodeLabels: after.labels });
      }
    }
    if (JSON.stringify(before.services) !== JSON.stringify(after.services)) {
      await this.setServices(after.services);
    }
    return after;
  }

  /** The preferences set at runtime and the labels and services in force with them. */
  prefs(): { prefs: Prefs; settings: PrefSettings } {
    return {
      prefs: structuredClone(this.#prefs),
      settings: layerPrefs(this.#configured, this.#prefs),
    };
  }

  /**
   * The service layer: provide services (`provide`, `provideHttp`), call them, publish and
   * subscribe, health checks, the instances of every service, the services'
   * leaders and leases: the whole service API (the agent forwards none of it; the example of
   * `@weft/weft/services` uses it).
   */
  get services(): MeshServices {
    return this.#parts.services;
  }

  /**
   * Stops the agent; state stays on disk. A node says bye to the leader first (waiting at most
   * about a second for its answer): the leader marks it offline and withdraws its services at
   * once, so callers stop sending to it; its next start says hello and it is back. Everything is closed even when the final state write
   * fails, and then this rejects (naming the cause): what was not written is lost.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const { agent, state, logger } = this.#shell;
    const role = this.#parts.role;
    // Every part, last started first (see compose.ts): the final writes wait for them.
    let partsFailed: unknown = undefined;
    try {
      await this.#parts.parts.close();
    } catch (e) {
      partsFailed = e;
    }
    const failures: string[] = [];
    const finalWrite = async (file: string, write: () => Promise<void>): Promise<void> => {
      try {
        await write();
      } catch (e) {
        logger.error("final state write failed", { file, error: String(e) });
        failures.push(`${state.path(file)}: ${String(e)}`);
      }
    };
    if (role.role === "leader") {
      await finalWrite("leader.json", () => role.core.flushAndCompact());
      role.core.close();
    } else await finalWrite("node.json", () => role.sync.flush());
    try {
      await agent.close();
    } finally {
      // Last, once the final writes are done: another agent may use the directory from here.
      // (A start that failed releases it itself, after removing what it made.)
      if (!this.#starting) this.#shell.lock.release();
    }
    if (failures.length) {
      throw new Error(`state not saved at shutdown: ${failures.join("; ")}`);
    }
    if (partsFailed !== undefined) throw partsFailed;
  }
}

/** A leader's shared store as `/status` shows it (its times as ISO text, as elsewhere there). */
function storeStatus(store: LeaderStore): StoreStatus | undefined {
  const h = store.health?.();
  return h && { ...h, since: new Date(h.since).toISOString() };
}
