/**
 * A mesh agent: `weft --leader` or `weft --join <token>`. It runs an {@link Agent} whose peers
 * are the other members, keeps membership in sync through the leader, and persists what it needs
 * to restart alone. Node-to-node sessions are direct, so traffic does not depend on the leader.
 *
 * This module only composes the parts, each from its own section of the options: the starting
 * point (`boot.ts`, with the join in `join_client.ts`), the peers (`peers.ts`), the view
 * (`membership.ts`), the policy (`policy_runtime.ts`), the control channel
 * (`control_channel.ts`), the leader's service (`leader_service.ts`, `join_server.ts`) or a
 * node's sync (`node_sync.ts`), the paths through NATs (`nat_paths.ts`), the service layer
 * (`lib/services/mesh_services.ts`), the service-leader leases (`lib/services/lease_runtime.ts`),
 * and DNS (`mesh_dns.ts`).
 * @module
 */

import { Agent, type ControlledAgent, type ExtraMetrics } from "../agent/agent.ts";
import type { DirLock } from "../config/dir_lock.ts";
import { selectSuite } from "../crypto/select.ts";
import type { DnsServer } from "../dns/server.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { ownLabelsProblem } from "../members/labels.ts";
import type { Member, MembershipView, ServiceSpec } from "../members/member.ts";
import type { PolicyEngine } from "../policy/engine.ts";
import type { PolicyFilter } from "../policy/filter.ts";
import type { UserspaceStack } from "../../drivers/userspace.ts";
import { type OpenedState, openLeader, openNode, openState } from "./boot.ts";
import { ControlChannel } from "./control_channel.ts";
import {
  type CheckedToken,
  checkJoinToken,
  type JoinClientOptions,
  JoinError,
} from "./join_client.ts";
import { JoinServer } from "./join_server.ts";
import { type LeaderCore, LeaderError } from "./leader.ts";
import {
  type CreatedToken,
  type LeaderOptions,
  LeaderService,
  type TokenOptions,
} from "./leader_service.ts";
import { type MeshDnsOptions, startMeshDns } from "./mesh_dns.ts";
import { Membership } from "./membership.ts";
import { NodeSync, type NodeSyncOptions } from "./node_sync.ts";
import {
  DEFAULT_LISTEN_PORT,
  type MeshIdentityOptions,
  meshTcpPort,
  type MeshUnderlayOptions,
  underlayKind,
} from "./options.ts";
import { MemberIndex, MeshPeers, type PeersOptions } from "./peers.ts";
import { MeshPaths, type NatOptions } from "./nat_paths.ts";
import { decodeLanKey } from "./lan_key.ts";
import { isPathProbe } from "../nat/probe.ts";
import type { VersionedPolicy } from "./policy_source.ts";
import { PolicyRuntime } from "./policy_runtime.ts";
import type { NodeFile, StateDir } from "./state.ts";
import type { Prober } from "./sync.ts";
import { RelayClient } from "../relay/client.ts";
import { RelayMux } from "../relay/mux.ts";
import { RelayServer } from "../relay/server.ts";
import { RelayTransport } from "../relay/transport.ts";
import { RELAY_HEADER_SIZE } from "../relay/wire.ts";
import type { Transport } from "../io/driver.ts";
import type { NodeStatus } from "../status/status.ts";
import { MeshRoutes } from "./mesh_routes.ts";
import { RelayService } from "./relay_service.ts";
import {
  type LeaseOptions,
  LeaseRuntime,
  type LeaseStats,
  type ServiceLeader,
  type ServiceLeaderChange,
  type ServiceLease,
} from "../services/lease_runtime.ts";
import { MeshServices, type ServicesOptions } from "../services/mesh_services.ts";
import { servicesStatus } from "../services/service_status.ts";
import { leaseMetrics } from "../services/lease_metrics.ts";
import type { RequestOptions } from "../services/client.ts";
import type { PublishOptions, PublishResult } from "../services/pubsub.ts";
import type { SubscribeOptions, Subscription } from "../services/subscription.ts";

export { checkJoinToken, JoinError } from "./join_client.ts";

/**
 * How a mesh agent starts: one flat object made of sections, each read by the part it
 * configures (identity, underlay, join, leader, sync, peers, DNS).
 */
export interface MeshOptions
  extends
    MeshIdentityOptions,
    MeshUnderlayOptions,
    JoinClientOptions,
    LeaderOptions,
    NodeSyncOptions,
    PeersOptions,
    MeshDnsOptions,
    NatOptions,
    LeaseOptions,
    ServicesOptions {}

/** Where the agent starts from: the leader's state, or a node's file. */
type Start =
  | { core: LeaderCore; node?: undefined; joinedOver?: undefined }
  | { node: NodeFile; core?: undefined; joinedOver?: "udp" | "tcp" };

/** The parts made after the agent, which its figures, status and datagrams reach. */
interface LateParts {
  dns: DnsServer | null;
  joins: JoinServer | null;
  /** The leader's service to the nodes (leader only). */
  leader: LeaderService | null;
  paths: MeshPaths | null;
  routes: MeshRoutes | null;
  relayService: RelayService | null;
  leases: LeaseRuntime | null;
  services: MeshServices | null;
}

/** The relay parts, made with the transport (before the agent): the client always, the server
 * when this node relays. */
interface RelayParts {
  client: RelayClient;
  server: RelayServer | null;
  /** The transport under the mux, where the server's packets go. */
  underlay: Transport | null;
  /** The members' keys now (only members may use the relay). */
  members: Set<string>;
}

/** Everything a mesh agent is made of. */
interface MeshParts {
  opts: MeshOptions;
  agent: ControlledAgent;
  state: StateDir;
  /** The state directory's lock, released last when the agent closes. */
  lock: DirLock;
  logger: Logger;
  channel: ControlChannel;
  peers: MeshPeers;
  membership: Membership;
  policy: PolicyRuntime;
  late: LateParts;
  relay: RelayParts;
  core: LeaderCore | null;
}

/** The figures `/metrics` shows of the mesh's own parts. */
function meshMetrics(policy: PolicyRuntime, late: LateParts): ExtraMetrics {
  const dns = late.dns?.stats;
  // One series per (type, rcode) pair as the server counts them, so sum() counts each once.
  const byTypeRcode = dns ? { ...dns.byTypeRcode } : undefined;
  const joinDrops = late.joins?.drops();
  const memberRefusals = late.leader?.refusals();
  const routes = late.routes;
  const paths = late.paths?.metrics(routes ? (key) => routes.state(key) : undefined);
  const relay = routes?.metrics();
  return {
    policyDrops: policy.drops(),
    ...(byTypeRcode ? { dns: { byTypeRcode } } : {}),
    ...(joinDrops ? { joinDrops } : {}),
    ...(memberRefusals ? { memberRefusals } : {}),
    ...(paths ? { paths } : {}),
    ...(relay ? { relay } : {}),
    ...(late.services ? { services: late.services.metrics() } : {}),
    ...(late.leases
      ? {
        leases: leaseMetrics(
          late.leases.stats(),
          late.services?.list().map((s) => s.name) ?? [],
          late.leases.leaders(),
        ),
      }
      : {}),
  };
}

/** The `services` field of `/status`, once the service layer runs. */
function meshServicesStatus(late: LateParts): Pick<NodeStatus, "services"> {
  if (!late.services) return {};
  return { services: servicesStatus(late.services.list(), late.leases?.leaders() ?? []) };
}

/** A running mesh agent. See the module docs.
 *
 * @example
 * ```ts
 * import { MeshAgent } from "@weft/weft";
 * const leader = await MeshAgent.start({
 *   role: "leader", stateDir: "/tmp/weft-leader", hostname: "leader", userspace: true,
 *   listenPort: 51820,
 * });
 * const { token } = await leader.createToken({ ttlMs: 3600_000 });
 * const node = await MeshAgent.start({
 *   role: "node", token, stateDir: "/tmp/weft-node", hostname: "node1", userspace: true,
 *   listenPort: 51830,
 * });
 * console.log(node.view().members.map((m) => m.name));
 * ```
 */
export class MeshAgent {
  /** The agent (device, drivers, userspace API). */
  readonly agent: ControlledAgent;
  /** `leader` or `node`. */
  readonly role: "leader" | "node";
  /** This node's name. */
  readonly name: string;
  /**
   * The leader's state (leader only).
   * @ignore internal: the leader's core, for the control routes and tests
   */
  readonly leader: LeaderCore | null;
  /**
   * Probes peers through the tunnel.
   * @ignore internal: for the control routes and tests
   */
  readonly prober: Prober;
  /** The network policy engine (rules compiled against the membership). */
  readonly policyEngine: PolicyEngine;
  /** The stateful filter enforcing it on this node's tunnel. */
  readonly policyFilter: PolicyFilter;
  readonly #parts: MeshParts;
  #service: LeaderService | null = null;
  #sync: NodeSync | null = null;
  #closed = false;

  private constructor(parts: MeshParts) {
    this.#parts = parts;
    this.agent = parts.agent;
    this.role = parts.opts.role;
    this.name = parts.opts.hostname;
    this.leader = parts.core;
    this.prober = parts.channel.prober;
    this.policyEngine = parts.policy.engine;
    this.policyFilter = parts.policy.filter;
  }

  /** Starts a leader or a node; a fresh node joins with its token first. */
  static async start(opts: MeshOptions): Promise<MeshAgent> {
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
    try {
      if (opts.role === "leader") {
        const { core, addresses } = await openLeader(opts, opened);
        return await MeshAgent.#compose(opts, opened, addresses, { core }, logger);
      }
      const { node, addresses, joinedOver } = await openNode(opts, opened, checked, logger);
      return await MeshAgent.#compose(opts, opened, addresses, { node, joinedOver }, logger);
    } catch (e) {
      // #compose closed what it had opened; the lock goes last.
      opened.lock.release();
      throw e;
    }
  }

  /**
   * Starts the agent with the parts it needs from the start (the members' names, the policy
   * filter, the probe over the control channel, the figures), then the role and DNS. If any of
   * it fails, everything opened so far is closed before the error is rethrown, so a failed start
   * leaves no socket or timer behind.
   */
  static async #compose(
    opts: MeshOptions,
    opened: OpenedState,
    addresses: string[],
    start: Start,
    logger: Logger,
  ): Promise<MeshAgent> {
    const underlay = underlayKind(opts);
    const view = start.core ? start.core.view() : start.node.view;
    const index = new MemberIndex();
    const policy = new PolicyRuntime({ members: view, logger, addresses });
    const late: LateParts = {
      dns: null,
      joins: null,
      leader: null,
      paths: null,
      routes: null,
      relayService: null,
      leases: null,
      services: null,
    };
    const relay = makeRelayParts(opts, view);
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
      crypto: opts.crypto,
      cryptoWorkers: opts.cryptoWorkers,
      timers: opts.timers,
      logger,
      underlay,
      control: true,
      health: opts.health,
      ...(opts.openTransport ? { transport: await opts.openTransport(port) } : {}),
      wrapTransport: (t) => wrapRelays(t, relay),
      identity: { name: opts.hostname, role: opts.role },
      describePeer: (key) => index.identity(key),
      // control: true, so the parts hold the control stack.
      probe: opts.probes === false ? null : ({ control }) => {
        const c = channelOn(control!);
        return (address) => c.prober.probe(address, 2000);
      },
      filter: policy.deviceFilter,
      metrics: () => meshMetrics(policy, late),
      status: () => ({ ...policy.status(), ...meshServicesStatus(late) }),
      peerStatus: (key) => ({
        ...late.paths?.peerStatus(key),
        ...late.routes?.peerStatus(key),
      }),
      // Path probes go to the paths; only the leader serves joins; a node drops the rest.
      onForeignDatagram: (data, from) => {
        if (isPathProbe(data)) late.paths?.handle(data, from);
        else late.joins?.handle(data, from);
      },
    });
    let mesh: MeshAgent | null = null;
    try {
      const peers = new MeshPeers({
        device: agent.device,
        index,
        logger,
        keepalive: opts.persistentKeepalive,
        lookup: opts.lookup,
        chosenEndpoint: (key) => late.routes?.endpoint(key) ?? late.paths?.chosen(key) ?? null,
      });
      const membership = new Membership(view, { peers, policy });
      mesh = new MeshAgent({
        opts,
        agent,
        state: opened.state,
        lock: opened.lock,
        logger,
        channel: channelOn(agent.control),
        peers,
        membership,
        policy,
        late,
        relay,
        core: start.core ?? null,
      });
      policy.start();
      late.services = mesh.#makeServices();
      late.paths = mesh.#makePaths(opened, addresses, start);
      if (start.core) mesh.#startLeader(start.core);
      else mesh.#startNode(start.node);
      late.services.start();
      late.paths?.start(membership.view);
      mesh.#startRelays(start);
      late.leases = mesh.#startLeases(start);
      late.dns = await startMeshDns(opts, {
        agent,
        view: () => membership.view,
        userspace: opts.userspace ?? false,
        underlay,
        logger,
        serviceLeader: (s) => late.leases?.leaderMember(s) ?? null,
      });
      return mesh;
    } catch (e) {
      try {
        if (mesh) await mesh.close();
        else {
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
   * The service layer on the service port of the control stack; what it announces (services
   * provided here, those failing their check) goes into this node's member record.
   */
  #makeServices(): MeshServices {
    const { opts, agent, logger, membership } = this.#parts;
    const services = new MeshServices({
      stack: agent.control,
      publicKey: agent.device.publicKey,
      address: agent.addresses[0].split("/")[0],
      view: () => membership.view,
      peerHealth: (key) => agent.health.get(key)?.state,
      announce: (list) => this.#announceServices(list),
      configured: opts.services ?? [],
      logger,
    }, opts);
    let before = membership.view;
    membership.subscribe((v) => {
      services.viewChanged(before, v);
      before = v;
    });
    return services;
  }

  /** Puts `list` in this node's member record: at the leader, or in the hellos to it. */
  #announceServices(list: ServiceSpec[]): Promise<void> {
    this.#parts.late.leases?.offer(list.map((s) => s.name));
    if (this.#service) {
      return this.#service.setServices(list).catch((e) =>
        this.#parts.logger.error("saving the leader's services failed", { error: String(e) })
      );
    }
    this.#sync?.setServices(list);
    return Promise.resolve();
  }

  /** The paths to the other members through NATs, unless NAT traversal is off. */
  #makePaths(opened: OpenedState, addresses: string[], start: Start): MeshPaths | null {
    const { opts, agent, channel, logger, membership } = this.#parts;
    if (opts.natTraversal === false) return null;
    const view = membership.view;
    const own = addresses[0].split("/")[0];
    const paths = new MeshPaths({
      device: agent.device,
      privateKey: opened.privateKey,
      role: opts.role,
      channel,
      logger,
      leaderAddress: () => this.#sync?.leader.address ?? start.node?.leader.address ?? own,
      overlay: [...addresses, view.network, ...(view.network6 ? [view.network6] : [])],
      // The leader's record holds what it advertises (its addresses when none was given).
      advertise: start.core ? start.core.leader.endpoints : opts.advertise ?? [],
      lanKey: start.core ? start.core.lanKey : decodeLanKey(start.node.lanKey),
      ...(start.core ? { publishedLan: start.core.leader.lan ?? [] } : {}),
      publishLan: (lan) => {
        if (this.#sync) this.#sync.hello();
        this.#service?.setLan(lan).catch((e) =>
          logger.error("saving the leader's LAN candidates failed", { error: String(e) })
        );
      },
    }, opts);
    membership.subscribe((v) => paths.viewChanged(v));
    return paths;
  }

  /** Serves relay requests when this node relays; routes peers through relays and TCP. */
  #startRelays(start: Start): void {
    const { agent, channel, logger, membership, relay, late } = this.#parts;
    const server = relay.server;
    membership.subscribe((v) => relay.members = new Set(v.members.map((m) => m.publicKey)));
    if (server) {
      const service = new RelayService({ server, device: agent.device, channel, logger });
      late.relayService = service;
      service.start(membership.view);
      membership.subscribe((v) => service.viewChanged(v));
    }
    const paths = late.paths;
    if (!paths) return; // without the direct paths' figures there is nothing to fall back from
    const routes = new MeshRoutes({
      device: agent.device,
      paths,
      client: relay.client,
      channel,
      logger,
      ...(server ? { serverStats: () => server.stats } : {}),
    });
    late.routes = routes;
    // The join got through only over TCP: the leader is reached that way from the start.
    if (start.joinedOver === "tcp" && start.node) routes.startOnTcp(start.node.leader.publicKey);
    routes.start(membership.view);
    membership.subscribe((v) => routes.viewChanged(v));
  }

  /**
   * Runs for the leadership of this node's services; on the leader, also arbitrates every
   * service's lease (its health view of the members decides who may hold one).
   */
  #startLeases(start: Start): LeaseRuntime {
    const { opts, agent, channel, logger, membership } = this.#parts;
    const own = agent.addresses[0].split("/")[0];
    const core = start.core;
    const leases = new LeaseRuntime({
      port: channel,
      self: { publicKey: agent.device.publicKey, address: own },
      members: () => membership.view.members,
      leaderAddress: () => this.#sync?.leader.address ?? own,
      logger,
      timing: opts.leaseTiming,
      ...(core
        ? {
          arbiter: {
            persist: (r) => core.saveLeases(r),
            restored: core.leases(),
            healthy: (key) => agent.health.get(key)?.state !== "down",
          },
        }
        : {}),
    });
    leases.start();
    const services = this.#parts.late.services;
    leases.offer((services?.announced() ?? opts.services ?? []).map((s) => s.name));
    // A failing check gives the leadership up at once, not when the lease runs out.
    services?.onHealth((name, healthy) => leases.setHealth(name, healthy));
    membership.subscribe(() => leases.viewChanged());
    return leases;
  }

  #startLeader(core: LeaderCore): void {
    const { agent, channel, logger, membership, policy, late } = this.#parts;
    this.#service = new LeaderService({
      core,
      device: agent.device,
      channel,
      logger,
      applyView: (v) => membership.apply(v),
      usePolicy: (p) => policy.use(p, membership.view),
      underlay: { listenPort: agent.device.listenPort, tcpPort: agent.tcpPort },
    }, this.#parts.opts);
    this.#service.start();
    late.leader = this.#service;
    late.joins = new JoinServer({ core, device: agent.device, logger });
    // The record was opened with the configured services; the announced ones may differ (HTTP
    // backends provided from the start).
    if (late.services) void this.#announceServices(late.services.announced());
  }

  #startNode(node: NodeFile): void {
    const { opts, agent, channel, logger, membership, policy, state, late } = this.#parts;
    const paths = late.paths;
    this.#sync = new NodeSync({
      channel,
      state,
      logger,
      publicKey: agent.device.publicKey,
      address: agent.addresses[0].split("/")[0],
      leader: node.leader,
      view: () => membership.view,
      applyView: (v, announce) => membership.apply(v, announce),
      policy: () => policy.policy,
      usePolicy: (p) => policy.use(p, membership.view),
      advertise: {
        endpoints: opts.advertise ?? [],
        services: late.services?.announced() ?? opts.services ?? [],
        labels: opts.labels ?? {},
        relay: opts.relay ?? false,
        tcpPort: agent.tcpPort,
      },
      ...(paths ? { lan: () => paths.lan() } : {}),
      lanKey: node.lanKey,
      onLanKey: (key) => late.paths?.setLanKey(key),
    }, opts);
    this.#sync.start(node.policy ?? null);
  }

  /**
   * The paths to the other members (null when NAT traversal is off).
   * @ignore internal: the path table, for the control routes and tests
   */
  get paths(): MeshPaths | null {
    return this.#parts.late.paths;
  }

  /**
   * The routes through relays and TCP (null when NAT traversal is off).
   * @ignore internal: the relay and TCP routes, for the control routes and tests
   */
  get routes(): MeshRoutes | null {
    return this.#parts.late.routes;
  }

  /** The DNS server, when on. */
  get dns(): DnsServer | null {
    return this.#parts.late.dns;
  }

  /** The network policy in force, if any. */
  get policy(): VersionedPolicy | null {
    return this.#parts.policy.policy;
  }

  /** This node's own member record in the current view. */
  get self(): Member | undefined {
    return this.#parts.membership.member(this.agent.device.publicKey);
  }

  /** The membership view this node holds. */
  view(): MembershipView {
    return this.#parts.membership.view;
  }

  /** Subscribes to membership changes; returns the unsubscribe function. */
  onMembership(fn: (v: MembershipView) => void): () => void {
    return this.#parts.membership.subscribe(fn);
  }

  /** Labels that nodes claimed outside `node.weft/` (in a join or a hello), dropped. */
  get labelsDropped(): number {
    return this.#service?.labelsDropped ?? 0;
  }

  #needLeader(): LeaderService {
    if (!this.#service) throw new LeaderError("this node is not the leader");
    return this.#service;
  }

  /**
   * Creates a join token (leader only): nodes joining with it get its labels, may offer the
   * services it names, and with `relay` may relay for others.
   * @example
   * ```ts
   * const { token } = await leader.createToken({ ttlMs: 3600_000, services: ["auth"] });
   * ```
   */
  async createToken(opts: TokenOptions = {}): Promise<CreatedToken> {
    return await this.#needLeader().createToken(opts);
  }

  /** Grants or withdraws relaying for others to a node (leader only; `weft node set`). */
  async setNodeGrants(nameOrAddress: string, change: { relay?: boolean }): Promise<Member> {
    return await this.#needLeader().setNodeGrants(nameOrAddress, change);
  }

  /** Service offers the leader left out of member records for want of a grant (leader only). */
  get servicesRefused(): number {
    return this.#service?.servicesRefused ?? 0;
  }

  /** Removes a node from the mesh (leader only). */
  async removeNode(nameOrAddress: string): Promise<Member> {
    return await this.#needLeader().removeNode(nameOrAddress);
  }

  /** Applies a validated policy (canonical text) at the leader and sends it to every node. */
  async applyPolicy(canonical: string): Promise<number> {
    return await this.#needLeader().setPolicy(canonical);
  }

  /**
   * Replaces the services this node advertises (served in every node's DNS once the leader has
   * them). Resolves when the leader has them (leader) or when they were sent (node).
   */
  async setServices(services: ServiceSpec[]): Promise<void> {
    const copy = services.map((x) => ({ ...x }));
    // With what the service layer adds (services provided here, health).
    const list = this.#parts.late.services?.configure(copy) ?? copy;
    this.#parts.late.leases?.offer(list.map((s) => s.name));
    if (this.#service) await this.#service.setServices(list);
    else this.#sync?.setServices(list);
  }

  /**
   * The service layer: provide services (`provide`, `provideHttp`), call them, publish and
   * subscribe, health checks, the instances of every service.
   *
   * @example
   * ```ts
   * import type { MeshAgent } from "@weft/weft";
   * declare const mesh: MeshAgent;
   * declare function issue(params: unknown): Promise<string>;
   * const auth = mesh.services.provide("auth", {
   *   login: async (params) => ({ token: await issue(params) }),
   *   whoami: { handler: (_p, ctx) => ctx.callerName, idempotent: true },
   * });
   * // later: auth.close() stops providing it
   * ```
   */
  get services(): MeshServices {
    return this.#parts.late.services!;
  }

  /**
   * Calls `service/action` on an instance of the service: this node's when it provides it,
   * else the healthy ones in turn; rejects with a `ServiceError` (`no-instance`, `timeout`,
   * `remote-error`, `too-large`, `rate-limited`, `bad-request`).
   *
   * @example
   * ```ts
   * import type { MeshAgent } from "@weft/weft";
   * declare const mesh: MeshAgent;
   * const { token } = await mesh.request("auth/login", { user: "ann" }, { timeoutMs: 2000 }) as
   *   { token: string };
   * ```
   */
  request(path: string, params?: unknown, opts?: RequestOptions): Promise<unknown> {
    return this.services.request(path, params, opts);
  }

  /**
   * Publishes an event to the subscribers of `topic`: on every node (`all`, the default), one
   * per service group (`one-per-service`), or on this node only (`local-only`).
   *
   * @example
   * ```ts
   * import type { MeshAgent } from "@weft/weft";
   * declare const mesh: MeshAgent;
   * const r = await mesh.publish("status/updated", { load: 0.4 });
   * if (r.unacked.length) console.warn("not delivered to", r.unacked);
   * ```
   */
  publish(topic: string, data: unknown, opts?: PublishOptions): Promise<PublishResult> {
    return this.services.publish(topic, data, opts);
  }

  /**
   * Subscribes to a topic pattern (`*` one segment, a last `>` one or more); the events come
   * through `for await`, and leaving the loop ends the subscription.
   *
   * @example
   * ```ts
   * import type { MeshAgent } from "@weft/weft";
   * declare const mesh: MeshAgent;
   * for await (const ev of mesh.subscribe("status/*")) {
   *   console.log(ev.topic, ev.publisher, ev.data);
   * }
   * ```
   */
  subscribe(pattern: string, opts?: SubscribeOptions): Subscription {
    return this.services.subscribe(pattern, opts);
  }

  /**
   * The leader of a service as this node knows it (from the mesh leader's announcements), or
   * null when it has none now. At most one node holds a service's lease at a time; see the
   * README's "Service leaders" for what that rests on.
   *
   * @example
   * ```ts
   * const l = mesh.serviceLeader("auth");
   * if (l) console.log(`auth is led by ${l.member} (${l.address}), token ${l.token}`);
   * ```
   */
  serviceLeader(name: string): ServiceLeader | null {
    return this.#parts.late.leases?.leader(name) ?? null;
  }

  /** Every service leader this node knows of. */
  serviceLeaders(): ServiceLeader[] {
    return this.#parts.late.leases?.leaders() ?? [];
  }

  /**
   * Subscribes to changes of service leaders (a new leader, or none known); returns the
   * unsubscribe function.
   *
   * @example
   * ```ts
   * const stop = mesh.onServiceLeader(({ name, leader }) =>
   *   console.log(name, leader ? `led by ${leader.member}` : "has no leader")
   * );
   * ```
   */
  onServiceLeader(fn: (change: ServiceLeaderChange) => void): () => void {
    return this.#parts.late.leases?.subscribe(fn) ?? (() => {});
  }

  /** Whether this node leads a service now (it holds the service's lease). */
  isServiceLeader(name: string): boolean {
    return this.serviceLease(name) !== null;
  }

  /**
   * This node's lease of a service when it leads it: the fencing token to hand to the resources
   * it writes to (they refuse tokens lower than the highest they saw), and until when it leads
   * unless renewed. Null when it does not lead it.
   *
   * @example
   * ```ts
   * const lease = mesh.serviceLease("scheduler");
   * if (lease) await db.write({ fencingToken: lease.token, job });
   * ```
   */
  serviceLease(name: string): ServiceLease | null {
    return this.#parts.late.leases?.lease(name) ?? null;
  }

  /**
   * What this node's own health check says of a local service: while it fails, the node gives
   * up the service's leadership (at once) and does not run for it. Throws a RangeError for a
   * name that is not a service name.
   */
  setServiceHealth(name: string, healthy: boolean): void {
    this.#parts.late.leases?.setHealth(name, healthy);
  }

  /** The service-leader lease counters (the arbiter's on the leader). */
  leaseStats(): LeaseStats | null {
    return this.#parts.late.leases?.stats() ?? null;
  }

  /**
   * Stops the agent; state stays on disk. Everything is closed even when the final state write
   * fails, and then this rejects (naming the cause): what was not written is lost.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const { agent, state, logger, channel, peers, policy, late, core } = this.#parts;
    // First, while the channel is open: the leases held are given up, not left to run out.
    late.leases?.close();
    late.services?.close();
    late.routes?.close();
    late.relayService?.close();
    await late.paths?.close();
    this.#sync?.close();
    policy.close();
    peers.close();
    this.#service?.close();
    late.joins?.close();
    channel.close();
    const failures: string[] = [];
    const finalWrite = async (file: string, write: () => Promise<void>): Promise<void> => {
      try {
        await write();
      } catch (e) {
        logger.error("final state write failed", { file, error: String(e) });
        failures.push(`${state.path(file)}: ${String(e)}`);
      }
    };
    if (core) await finalWrite("leader.json", () => core.flush());
    const sync = this.#sync;
    if (sync) await finalWrite("node.json", () => sync.flush());
    await late.dns?.close();
    try {
      await agent.close();
    } finally {
      // Last, once the final writes are done: another agent may use the directory from here.
      this.#parts.lock.release();
    }
    if (failures.length) {
      throw new Error(`state not saved at shutdown: ${failures.join("; ")}`);
    }
  }
}

/** The relay client, and the server when this node relays (the leader always does). */
function makeRelayParts(opts: MeshOptions, view: MembershipView): RelayParts {
  const now = () => performance.now();
  const parts: RelayParts = {
    client: new RelayClient({ now }),
    server: null,
    underlay: null,
    members: new Set(view.members.map((m) => m.publicKey)),
  };
  if (opts.role !== "leader" && !opts.relay) return parts;
  const mtu = opts.mtu ?? 1420;
  parts.server = new RelayServer({
    now,
    // The underlay is there before the first packet: wrapRelays sets it as the agent starts.
    send: (data, to) => parts.underlay?.send(data, to),
    isMember: (key) => parts.members.has(key),
    // A WireGuard message of a full MTU-sized packet, in the relay header.
    maxPacket: RELAY_HEADER_SIZE + mtu + 32,
    ...(opts.relayRateMbps === undefined ? {} : { rate: relayRate(opts.relayRateMbps) }),
  });
  return parts;
}

/** The agent's transport with relaying on top: see lib/relay/mux.ts. */
function wrapRelays(underlay: Transport, relay: RelayParts): Transport {
  relay.underlay = underlay;
  const mux = new RelayMux(underlay, new RelayTransport(relay.client, underlay));
  const server = relay.server;
  if (server) mux.setRelayHandler((data, from) => server.forward(data, from));
  return mux;
}

/** A relay's per-member rate from Mbit/s: bytes a second, and a packet for every 1,000 bytes. */
function relayRate(mbps: number): { bytesPerSecond: number; packetsPerSecond: number } {
  const bytesPerSecond = Math.round(mbps * 125_000);
  return { bytesPerSecond, packetsPerSecond: Math.max(1, Math.round(bytesPerSecond / 1000)) };
}
