/**
 * The composition root of a mesh agent: makes every part from its section of the options and
 * the collaborators it is handed, and lists the parts in start order, in one place, with the
 * reasons for that order. {@link PartList} (part.ts) drives the list: start in order, the
 * membership's new views to the started parts in order, close in reverse.
 *
 * Parts that only a leader has, or only a node, or only with a feature on, are in the list or
 * not; nothing is filled in later. Where two parts need each other (the node's sync reads the
 * paths' LAN candidates, the paths tell the sync of new ones), the one made first gets a
 * function that reaches the other once both exist: no part calls it before it starts.
 * @module
 */

import type { ControlledAgent, UnderlayKind } from "../agent/agent.ts";
import { MeshDns } from "../dns/mesh_dns.ts";
import type { SystemDns } from "../net/system_dns.ts";
import type { MeshSegments } from "./segments/segments.ts";
import type { HeardLiveness } from "../health/heard.ts";
import type { Logger } from "../log/logger.ts";
import { type MembershipView, onlineView, type ServiceSpec } from "../members/member.ts";
import { MeshPaths } from "./nat/mesh_paths.ts";
import type { PolicyRuntime } from "../policy/runtime.ts";
import { MeshRoutes } from "./relay/mesh_routes.ts";
import type { RelayParts } from "./relay/relay_parts.ts";
import { RelayService } from "./relay/relay_service.ts";
import { LeaseRuntime } from "../services/lease/runtime.ts";
import { MeshServices } from "../services/mesh_services.ts";
import { JoinServer } from "./join/server.ts";
import type { LeaderCore } from "./leader/core.ts";
import { LeaderService } from "./leader/service.ts";
import type { Scope } from "./leader/scope.ts";
import { dnsScope, LocalAddresses } from "../dns/scope.ts";
import { LinkStore } from "./leader/link_store.ts";
import type { Membership } from "./membership.ts";
import type { MeshOptions } from "./mesh_options.ts";
import { type NamedPart, PartList } from "./part.ts";
import type { MeshPeers } from "./peers/peers.ts";
import type { PeerActivity } from "./peers/activity.ts";
import { decodeLanKey } from "./state/lan_key.ts";
import type { NodeFile, StateDir } from "./state/state.ts";
import type { ControlChannel } from "./sync/control_channel.ts";
import { NodeSync } from "./sync/node_sync.ts";
import { LinkReporter } from "./sync/link_reporter.ts";
import { linksParts } from "./sync/links.ts";
import { ownRoutes } from "./options/options.ts";
import type { AcceptedRoutes } from "./subnets/accepted.ts";
import type { SubnetRouter } from "./subnets/router.ts";
import type { ExitNodeUse } from "./subnets/exit.ts";

/** Where the agent starts from: the leader's state, or a node's file. */
export type Start =
  | { core: LeaderCore; node?: undefined; joinedOver?: undefined }
  | {
    node: NodeFile;
    core?: undefined;
    joinedOver?: "udp" | "tcp";
    /** This run's id (sent with the join, if there was one): the node's hellos carry it. */
    run?: string;
  };

/** The parts only the leader has, or only a node. */
export type RoleParts =
  | {
    role: "leader";
    /** The leader's state. */
    core: LeaderCore;
    /** The leader's service to the nodes (sync, hellos, grants). */
    service: LeaderService;
    /** The join server on the WireGuard port. */
    joins: JoinServer;
  }
  | {
    role: "node";
    /** The node's sync with the leader. */
    sync: NodeSync;
  };

/** The parts of NAT traversal (present unless it is off). */
export interface NatParts {
  /** The direct paths to the other members. */
  paths: MeshPaths;
  /** The routes through relays and TCP when a direct path is not enough. */
  routes: MeshRoutes;
}

/** What the composition root is handed: made before the parts, for the agent's sake. */
export interface MeshContext {
  /** The options. */
  opts: MeshOptions;
  /** The leader's state, or the node's file. */
  start: Start;
  /** This node's private key (base64). */
  privateKey: string;
  /** This node's overlay addresses (CIDR). */
  addresses: string[];
  /** The running agent. */
  agent: ControlledAgent;
  /** The UDP implementation under it (the DNS sockets follow it). */
  underlay: UnderlayKind;
  /** The state directory. */
  state: StateDir;
  /** The control channel on the agent's control stack. */
  channel: ControlChannel;
  /** The device's peers. */
  peers: MeshPeers;
  /** Which peers have a session (sessions on demand). */
  activity: PeerActivity;
  /** On a leader, its members' liveness from their hellos; null on a node. */
  heard: HeardLiveness | null;
  /** The policy, which the agent's filter already consults. */
  policy: PolicyRuntime;
  /** The view held; it feeds the parts' `viewChanged`. */
  membership: Membership;
  /** The relay client and server below the device. */
  relay: RelayParts;
  /** The routes this node uses through routers (their allowed IPs, the kernel's table). */
  accepted: AcceptedRoutes;
  /** This node as a router of the routes it advertises; null when it advertises none. */
  router: SubnetRouter | null;
  /** The exit node this node sends its internet traffic through; null without `--exit-node`. */
  exit: ExitNodeUse | null;
  /** The host's resolver, pointed at this node with `--accept-dns`; null in userspace mode. */
  systemDns: SystemDns | null;
  /** The Layer 2 segments the policy puts this member in. */
  segments: MeshSegments;
  /** The logger. */
  logger: Logger;
}

/** A mesh agent's parts, typed, and the list that drives them. */
export interface MeshComposition {
  /** Every part, in start order. */
  parts: PartList;
  /** The leader's parts, or the node's. */
  role: RoleParts;
  /** The service layer. */
  services: MeshServices;
  /** The service-leader leases (and, on the leader, their arbiter). */
  leases: LeaseRuntime;
  /** NAT traversal's parts, unless it is off. */
  nat: NatParts | null;
  /** The relay service, when this node relays. */
  relayService: RelayService | null;
  /** The DNS server, unless DNS is off. */
  dns: MeshDns | null;
  /** This node's link reports, and on the leader the store of every member's latest. */
  links: LinkParts;
  /** The routes this node uses through routers. */
  accepted: AcceptedRoutes;
  /** The exit node in use; null without `--exit-node`. */
  exit: ExitNodeUse | null;
  /** This node as a router of the routes it advertises; null when it advertises none. */
  router: SubnetRouter | null;
  /** The Layer 2 segments this member is in. */
  segments: MeshSegments;
  /** Puts `list` in this node's member record: at the leader, or in the hellos to it. */
  announceServices(list: ServiceSpec[]): Promise<void>;
}

/** The link reports: this node's reporter, and the leader's store (null on a node). */
export interface LinkParts {
  /** Reports this node's links: to the leader, or (on the leader) into the store. */
  reporter: LinkReporter;
  /** The latest report of every member (leader only). */
  store: LinkStore | null;
}

/** Makes a mesh agent's parts and lists them in start order. See the module docs. */
export function composeMesh(ctx: MeshContext): MeshComposition {
  const { opts, start, agent, channel, logger, membership, relay } = ctx;
  const own = ctx.addresses[0].split("/")[0];
  const view = membership.view;

  // The service layer announces from the start (HTTP backends provided at once), before the
  // parts that carry announcements are made; they read `services.announced()` when they start,
  // so until they exist there is nothing to tell.
  let announce: (list: ServiceSpec[]) => Promise<void> = () => Promise.resolve();
  const leases = makeLeases(
    ctx,
    () => role.role === "node" ? role.sync.leader.address : own,
    (address) => role.role === "node" && role.sync.isLeader(address),
    // The leader's scope once its service started; before, no member is told of another.
    () => role.role === "leader" ? role.service.scope : null,
  );
  const services = new MeshServices({
    stack: agent.control,
    publicKey: agent.device.publicKey,
    address: own,
    view: () => membership.view,
    peerHealth: (key) => agent.peerHealth(key)?.state,
    announce: (list) => void announce(list),
    configured: opts.services ?? [],
    logger,
    leases,
  }, opts);
  // A failing check gives the leadership up at once, not when the lease runs out.
  services.onHealth((name, healthy) => leases.setHealth(name, healthy));

  const role = makeRole(ctx, services, leases, () => nat?.paths ?? null);
  let stopByes = () => {};
  let stopSegments = (): unknown => undefined;
  let stopLeft = () => {};
  const me = agent.device.publicKey;
  const online = (v: MembershipView) => onlineView(v, me);
  announce = (list) => {
    leases.offer(list.map((s) => s.name));
    if (role.role === "leader") {
      return role.service.setServices(list).catch((e) =>
        logger.error("saving the leader's services failed", { error: String(e) })
      );
    }
    role.sync.setServices(list);
    return Promise.resolve();
  };

  const nat = opts.natTraversal === false ? null : makeNat(ctx, role);
  const server = relay.server;
  const relayService = server
    ? new RelayService({ server, device: agent.device, channel, logger })
    : null;
  const hostAddresses = new LocalAddresses();
  const dns = MeshDns.on(opts)
    ? new MeshDns(opts, {
      agent,
      view: () => membership.view,
      userspace: opts.userspace ?? false,
      underlay: ctx.underlay,
      logger,
      serviceLeader: (s) => leases.leaderMember(s),
      ...(ctx.systemDns ? { systemDns: ctx.systemDns } : {}),
      iface: opts.interfaceName ?? "weft0",
      // Views scoped by policy hold for names: a querier other than this host is answered with
      // the members it may see. The leader knows every scope; a member only its own, so it
      // answers others with what every scope holds (lib/dns/scope.ts).
      visibleTo: dnsScope({
        view: () => membership.view,
        self: me,
        local: (a) => hostAddresses.has(a),
        judge: () => {
          if (role.role !== "leader") return "unknown";
          const service = role.service;
          return service.scope?.scoped ? (a, b) => service.sees(a, b) : "all";
        },
      }),
    })
    : null;

  const links = makeLinks(ctx, role, nat);

  // The start order. Each entry says why it stands where it does; close runs bottom-up, and a
  // new view reaches the started parts top-down (the peers and the policy get it before, from
  // the membership itself). The paths and the relays follow the members online: one that left
  // on purpose (its bye) loses its paths and relay sessions at once, and is back at its hello.
  const list: (NamedPart | null)[] = [
    // Closes last: every part above sends on it until it closes.
    { name: "channel", part: channel },
    // The device's peers and the policy hear every view first, from the membership itself
    // (membership.ts); the policy's filter is in the agent from its start, its sweep starts here.
    { name: "peers", part: ctx.peers },
    { name: "policy", part: ctx.policy },
    // Forwarding for the routes this node carries is on before anyone is told to send them;
    // the kernel routes follow the peers' allowed IPs, which the membership set first.
    ctx.router && { name: "subnet router", part: ctx.router },
    { name: "accepted routes", part: ctx.accepted },
    ctx.exit && { name: "exit node", part: ctx.exit },
    // Segments follow the view (members in and out) and the policy (segments defined), whose
    // runtime tells them of each new one; their VXLAN goes through the peers set up above.
    {
      name: "segments",
      part: {
        start: async () => {
          stopSegments = ctx.policy.onChange(() => ctx.segments.policyChanged());
          await ctx.segments.start();
        },
        viewChanged: () => ctx.segments.viewChanged(),
        close: async () => {
          stopSegments();
          await ctx.segments.close();
        },
      },
    },
    // The join server answers as soon as the agent runs (its datagrams come through the agent's
    // hook, not a start); listed early, it closes after the leader's service it adds members to.
    role.role === "leader" ? { name: "joins", part: role.joins } : null,
    // The service layer before the leases and the leader's service or the sync, which read
    // what it announces when they start.
    {
      name: "services",
      part: {
        start: () => {
          services.start();
          stopByes = channel.listen((msg, from) => {
            // A peer stopping says so to every member: its key must be the one that member has.
            if (msg.t !== "bye") return;
            const m = membership.view.members.find((x) => x.address === from);
            if (m && m.publicKey === msg.k) services.memberLeft(from);
          });
        },
        viewChanged: viewPairs((before, after) => services.viewChanged(before, after), view),
        close: () => {
          stopByes();
          services.close();
        },
      },
    },
    // The paths before the routes, which fall back from what the paths measure; the relay's
    // member list before the relay service, whose members it admits.
    nat && {
      name: "paths",
      part: {
        start: () => nat.paths.start(online(membership.view)),
        viewChanged: (v) => nat.paths.viewChanged(online(v)),
        close: () => nat.paths.close(),
      },
    },
    {
      name: "relay members",
      part: {
        viewChanged: (v) => relay.members = new Set(online(v).members.map((m) => m.publicKey)),
        close: () => {},
      },
    },
    relayService && {
      name: "relay service",
      part: {
        start: () => relayService.start(online(membership.view)),
        viewChanged: (v) => relayService.viewChanged(online(v)),
        close: () => relayService.close(),
      },
    },
    nat && {
      name: "routes",
      part: {
        start: () => {
          // The join got through only over TCP: the leader is reached that way from the start.
          if (start.joinedOver === "tcp" && start.node) {
            nat.routes.startOnTcp(start.node.leader.publicKey);
          }
          nat.routes.start(online(membership.view));
        },
        viewChanged: (v) => nat.routes.viewChanged(online(v)),
        close: () => nat.routes.close(),
      },
    },
    // Sessions on demand once the paths and routes run (an active peer's paths are probed):
    // the kept peers become active at its start, the others at their first handshake. After the
    // paths in the list, so a view reaches them first: an active member back online (a restart
    // handshakes before its hello) is handed to paths that already have it among the members.
    // A member that stops says bye to those it has a session with: theirs is wiped at once (the
    // leader's offline mark, which does the same, may be late or down).
    {
      name: "activity",
      part: {
        start: () => {
          ctx.heard?.start();
          ctx.activity.start(membership.view);
          stopLeft = channel.listen((msg, from) => {
            if (msg.t === "bye") ctx.activity.bye(msg.k, from);
          });
        },
        viewChanged: (v) => {
          ctx.activity.viewChanged(v);
          // The probe counts follow the view: a member that left leaves no entry behind.
          const addresses = new Set<string>();
          for (const m of v.members) {
            addresses.add(m.address);
            if (m.address6) addresses.add(m.address6);
          }
          channel.prober.retain((a) => addresses.has(a));
        },
        close: () => {
          stopLeft();
          ctx.activity.close();
          ctx.heard?.close();
        },
      },
    },
    // The leases run for what the services announce. They close before the routes, paths and
    // services, with the channel still open, so the leases held are given up, not left to run
    // out.
    {
      name: "leases",
      part: {
        start: () => {
          leases.start();
          leases.offer(services.announced().map((s) => s.name));
        },
        viewChanged: () => leases.viewChanged(),
        close: () => leases.close(),
      },
    },
    // The leader's service, or the node's sync, once every part that follows the view runs:
    // the first view it applies (a node's file, announced) reaches them all started.
    role.role === "leader"
      ? {
        name: "leader",
        part: {
          start: () => {
            role.service.start();
            // The record was opened with the configured services; the announced ones may
            // differ (HTTP backends provided from the start).
            void announce(services.announced());
          },
          close: () => role.service.close(),
        },
      }
      : {
        name: "sync",
        part: {
          start: () => role.sync.start(start.node?.policy ?? null),
          close: () => role.sync.close(),
        },
      },
    // The link reports once the leader's service or the sync runs; the store hears every view
    // (a removed member's report goes with it). Before the DNS, which has nothing to do with it.
    {
      name: "links",
      part: {
        start: () => links.start(),
        viewChanged: (v) => links.viewChanged(v),
        close: () => links.close(),
      },
    },
    // Last: it answers from the view, the peers' health and the service leaders.
    dns && { name: "dns", part: dns },
  ];
  return {
    parts: new PartList(list.filter((p) => p !== null), logger),
    role,
    services,
    leases,
    nat,
    relayService,
    dns,
    links: links.parts,
    accepted: ctx.accepted,
    exit: ctx.exit,
    router: ctx.router,
    segments: ctx.segments,
    announceServices: (list) => announce(list),
  };
}

/** A viewChanged that also hands over the view before (the service layer compares them). */
function viewPairs(
  fn: (before: MembershipView, after: MembershipView) => void,
  first: MembershipView,
): (v: MembershipView) => void {
  let before = first;
  return (v) => {
    fn(before, v);
    before = v;
  };
}

/**
 * Runs for the leadership of this node's services; on the leader, also arbitrates every
 * service's lease (its health view of the members decides who may hold one).
 */
function makeLeases(
  ctx: MeshContext,
  leaderAddress: () => string,
  isLeader: (address: string) => boolean,
  scope: () => Scope | null,
): LeaseRuntime {
  const { opts, agent, channel, logger, membership, start } = ctx;
  const core = start.core;
  return new LeaseRuntime({
    port: channel,
    self: { publicKey: agent.device.publicKey, address: ctx.addresses[0].split("/")[0] },
    members: () => membership.view.members,
    leaderAddress,
    isLeader,
    logger,
    timing: opts.leaseTiming,
    ...(core
      ? {
        arbiter: {
          persist: (r) => core.saveLeases(r),
          restored: core.leases(),
          healthy: (key) => agent.peerHealth(key)?.state !== "down",
          // Leaders sharing a key-value store keep the holders there, as etcd leases.
          ...(opts.store?.kv ? { kv: opts.store.kv } : {}),
          // Views scoped by policy: a member is told only of the holders it may see.
          scope: {
            classOf: (key) => scope()?.groupOf(key),
            sees: (a, b) => scope()?.sees(a, b) ?? false,
          },
        },
      }
      : {}),
  });
}

/** The leader's service and join server, or the node's sync with the leader. */
function makeRole(
  ctx: MeshContext,
  services: MeshServices,
  leases: LeaseRuntime,
  paths: () => MeshPaths | null,
): RoleParts {
  const { opts, agent, channel, logger, membership, policy, start } = ctx;
  if (start.core) {
    const core = start.core;
    const service = new LeaderService({
      core,
      device: agent.device,
      channel,
      logger,
      memberLeft: (key) => leases.memberLeft(key),
      heard: (key, everyMs, rttMs) => ctx.heard?.heard(key, everyMs, rttMs),
      paced: (key, everyMs) => ctx.heard?.expect(key, everyMs),
      applyView: (v) => membership.apply(v),
      usePolicy: (p) => policy.use(p, membership.view),
      underlay: { listenPort: agent.device.listenPort, tcpPort: agent.tcpPort },
    }, opts);
    const joins = new JoinServer({ core, device: agent.device, logger });
    // Cut off from its shared store, a leader's view may be old: its probe answers say so, and
    // its members move to a leader that reaches the store.
    const store = opts.store;
    if (store?.health) channel.prober.answerStale(() => store.health?.().ok === false);
    return { role: "leader", core, service, joins };
  }
  const node = start.node;
  const sync = new NodeSync({
    channel,
    probe: (address, timeoutMs) => channel.prober.probe(address, timeoutMs),
    stale: (address) => channel.prober.staleAt(address),
    // The leaders are not probed for health besides (../mesh_agent.ts): these are the samples.
    probed: (key, rtt) => {
      if (agent.watching(key) && !agent.probing(key)) agent.health.recordProbe(key, rtt);
    },
    state: ctx.state,
    logger,
    publicKey: agent.device.publicKey,
    address: agent.addresses[0].split("/")[0],
    leader: node.leader,
    ...(node.name ? { name: node.name } : {}),
    ...(start.run !== undefined ? { run: start.run } : {}),
    view: () => membership.view,
    applyView: (v, announce) => membership.apply(v, announce),
    policy: () => policy.policy,
    usePolicy: (p) => policy.use(p, membership.view),
    advertise: {
      endpoints: opts.advertise ?? [],
      services: services.announced(),
      labels: opts.labels ?? {},
      relay: opts.relay ?? false,
      tcpPort: agent.tcpPort,
      routes: ownRoutes(opts),
    },
    ...(opts.natTraversal === false ? {} : { lan: () => paths()?.lan() ?? [] }),
    lanKey: node.lanKey,
    onLanKey: (key) => paths()?.setLanKey(key),
    // Sessions on demand: the bye goes straight to the members this node has a session with.
    inSession: (key) => {
      const p = agent.device.peer(key);
      return p !== undefined && (p.current !== null || p.next !== null);
    },
  }, opts);
  return { role: "node", sync };
}

/** The paths to the other members through NATs, and the routes through relays and TCP. */
function makeNat(ctx: MeshContext, role: RoleParts): NatParts {
  const { opts, agent, channel, logger, membership, relay, start } = ctx;
  const view = membership.view;
  const addresses = ctx.addresses;
  const own = addresses[0].split("/")[0];
  const paths = new MeshPaths({
    device: agent.device,
    privateKey: ctx.privateKey,
    role: opts.role,
    channel,
    logger,
    leaderAddress: () => role.role === "node" ? role.sync.leader.address : own,
    // A leader takes call-me from the other leaders (for it, or passed on from their members).
    isLeader: (address) =>
      role.role === "node"
        ? role.sync.isLeader(address)
        : address !== own && role.core.leaders().some((m) => m.address === address),
    // Views are scoped by policy: the leader passes a call-me on only within a scope.
    ...(role.role === "leader" ? { mayCall: (a, b) => role.service.sees(a, b) } : {}),
    overlay: [...addresses, view.network, ...(view.network6 ? [view.network6] : [])],
    // The leader's record holds what it advertises (its addresses when none was given).
    advertise: start.core ? start.core.leader.endpoints : opts.advertise ?? [],
    lanKey: start.core ? start.core.lanKey : decodeLanKey(start.node.lanKey),
    ...(start.core ? { publishedLan: start.core.leader.lan ?? [] } : {}),
    // Sessions on demand: only the active peers' paths are probed; a peer that calls or pings
    // us is made active (keepalive and health too).
    onDemand: true,
    wake: (key) => ctx.activity.wake(key),
    publishLan: (lan) => {
      if (role.role === "node") role.sync.hello();
      else {
        role.service.setLan(lan).catch((e) =>
          logger.error("saving the leader's LAN candidates failed", { error: String(e) })
        );
      }
    },
  }, opts);
  const server = relay.server;
  const routes = new MeshRoutes({
    device: agent.device,
    paths,
    client: relay.client,
    channel,
    logger,
    ...(server ? { serverStats: () => server.stats } : {}),
    // Sessions on demand: a member that opened a relay session to us is made active.
    wake: (key) => ctx.activity.wake(key),
  });
  return { paths, routes };
}

/**
 * This node's link reporter (sampling the device's peers, their health and paths) and, on the
 * leader, the store that takes the members' reports from the control channel.
 */
function makeLinks(ctx: MeshContext, role: RoleParts, nat: NatParts | null): {
  parts: LinkParts;
  start: () => void;
  viewChanged: (v: MembershipView) => void;
  close: () => void;
} {
  const { agent, channel, logger, membership } = ctx;
  const self = agent.device.publicKey;
  let members = new Set(membership.view.members.map((m) => m.publicKey));
  const store = role.role === "leader"
    ? new LinkStore({
      self,
      memberAt: (address) => role.core.member(address),
      isMember: (key) => members.has(key),
      logger,
    })
    : null;
  const reporter = new LinkReporter({
    // The active peers only: an idle one has no link to report (the leader's view shows it
    // idle), and a report does not grow with the members known.
    samples: () =>
      ctx.activity.activeKeys().flatMap((key) => {
        const p = agent.device.peer(key);
        if (!p) return [];
        const h = agent.health.get(key);
        return [{
          publicKey: key,
          health: h?.state ?? "unknown",
          rttMs: h?.rttMs.avg ?? null,
          ...nat?.paths.peerStatus(key),
          ...nat?.routes.peerStatus(key),
          rxBytes: p.counters.rxBytes,
          txBytes: p.counters.txBytes,
        }];
      }),
    // Only to the leader: no other member has any use for them.
    deliver: (n, links) => {
      if (store) store.setOwn(links);
      else if (role.role === "node") {
        for (const part of linksParts(n, links)) channel.send(role.sync.leader.address, part);
      }
    },
    onChange: (fn) => agent.health.subscribe(() => fn()),
  });
  let stop = () => {};
  let unpace = () => {};
  return {
    parts: { reporter, store },
    start: () => {
      if (store) {
        stop = channel.listen((msg, from) => {
          if (msg.t === "links") store.accept(msg, from);
        });
      }
      // A large fleet's leader paces its members' hellos: their reports slow down with them.
      if (role.role === "node") {
        unpace = role.sync.onPace((ms) => reporter.atMostEvery(ms));
      }
      reporter.start();
    },
    viewChanged: (v) => {
      members = new Set(v.members.map((m) => m.publicKey));
      store?.viewChanged(v);
    },
    close: () => {
      reporter.close();
      stop();
      unpace();
    },
  };
}
