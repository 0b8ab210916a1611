/**
 * The composition root of a mesh agent: the one place its parts are made, each from its section
 * of the options resolved once (resolve.ts), and listed in start order with the reasons for that
 * order. {@link PartList} (part.ts) drives the list: start in order, the membership's new views
 * to the started parts in order, close in reverse.
 *
 * The parts, in start order: the control channel, the peers, the policy, the post-quantum keys,
 * the subnet router, the
 * accepted routes, the exit node, the segments, the join server (leader), the service layer, the
 * paths, the relay members, the relay service, the routes, the sessions on demand (activity), the
 * leases, the leader's service or the node's sync, the link reports, DNS, the plugins (when any
 * are named). Before them the agent
 * itself starts (agent_part.ts), with what it needs from its start: the members' names, the
 * policy's filter, the relays under its transport.
 *
 * Parts that only a leader has, or only a node, or only with a feature on, are in the list or
 * not; nothing is filled in later. Where two parts need each other (the node's sync reads the
 * paths' LAN candidates, the paths tell the sync of new ones), the one made first gets a
 * function that reaches the other once both exist: no part calls it before it starts.
 * @module
 */

import type { UserspaceStack } from "../../drivers/userspace.ts";
import { MeshDns } from "../dns/mesh_dns.ts";
import { dnsScope, LocalAddresses } from "../dns/scope.ts";
import { HeardLiveness } from "../health/heard.ts";
import {
  type MembershipView,
  onlineChange,
  onlineView,
  type ServiceSpec,
} from "../members/member.ts";
import { PolicyRuntime } from "../policy/runtime.ts";
import { makeRelayParts, type RelayParts } from "./relay/relay_parts.ts";
import { RelayService } from "./relay/relay_service.ts";
import { MeshServices } from "../services/mesh_services.ts";
import { startMeshAgent } from "./agent_part.ts";
import type { OpenedState } from "./boot.ts";
import type { MeshComposition, NatParts, RoleParts, Running, Start } from "./composition.ts";
import { type HostParts, makeHostParts } from "./host_parts.ts";
import { Membership } from "./membership.ts";
import { makeLinks, makeNat } from "./nat_parts.ts";
import { type NamedPart, PartList } from "./part.ts";
import { PeerActivity } from "./peers/activity.ts";
import { healthWatch } from "./peers/health_watch.ts";
import { MemberIndex, MeshPeers } from "./peers/peers.ts";
import type { ResolvedMesh } from "./resolve.ts";
import { makeLeases, makeRole } from "./role_parts.ts";
import { ControlChannel } from "./sync/control_channel.ts";
import { Plugins } from "./plugins/plugins.ts";
import { MeshPq } from "./pq/mesh_pq.ts";

export type { LinkParts, MeshComposition, NatParts, RoleParts, Start } from "./composition.ts";

/** Where the start stands when the parts are made: the state, the addresses, the role's start. */
export interface Boot {
  /** The state directory and this node's keys. */
  opened: OpenedState;
  /** This node's overlay addresses (CIDR). */
  addresses: string[];
  /** The leader's state, or the node's file. */
  start: Start;
}

/**
 * Starts the agent and makes every part from its section of `mesh`, listed in start order (not
 * started: the caller starts the list). If making a part fails, what was made is closed (the
 * policy, the agent) before the error is rethrown, so no socket or timer is left behind.
 */
export async function composeMesh(mesh: ResolvedMesh, boot: Boot): Promise<MeshComposition> {
  const { logger } = mesh;
  const { opened, addresses, start } = boot;
  const view = start.core ? start.core.view() : start.node.view;
  // What the agent needs from its start: the members' names, the policy's filter, the relays
  // under its transport.
  const index = new MemberIndex();
  const policy = new PolicyRuntime({ members: view, logger, addresses });
  const relay = makeRelayParts(mesh.relay, view);
  // The agent's hooks read the parts, which need the running agent to be made: until the
  // composition exists they answer as without those parts.
  let composed: MeshComposition | null = null;
  // The channel needs the agent's control stack, and the agent's probe needs the channel: the
  // probe's factory, which the agent calls with its parts, makes it.
  let channelMade: ControlChannel | undefined;
  const channelOn = (stack: UserspaceStack) => channelMade ??= new ControlChannel(stack, logger);
  const agent = await startMeshAgent(mesh, {
    privateKey: opened.privateKey,
    publicKey: opened.publicKey,
    addresses,
    name: view.members.find((m) => m.publicKey === opened.publicKey)?.name ??
      mesh.identity.hostname,
    index,
    policy,
    relay,
    parts: () => composed,
    channelOn,
    channel: () => channelMade,
  });
  try {
    const channel = channelOn(agent.control);
    const { keepalive } = mesh.peers;
    // A leader follows its members by their hellos rather than probing each (a fleet's
    // thousands): peers/health_watch.ts.
    const heard = start.core
      ? new HeardLiveness({
        sink: agent.health,
        // Behind on its own socket, the leader reads hellos late: none counts as missed then.
        lagging: () => agent.device.lagging,
        // A member gone quiet is probed until it says hello again (one that uses another leader
        // is judged so all along). A router gone quiet hands its routes to a standby at once (HA
        // routes). Only a member that said hello to this leader counts: one using another
        // leader is that one's to judge (each leader calling the other's routers quiet would
        // move routes back and forth).
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
        probePackets: (address) => channel.prober.packets(address),
        retainProbes: (keep) => channel.prober.retain(keep),
        // A leader answers a bye on the session the stopping member still holds.
        wipeStopped: !start.core,
      },
      mesh.peers.keepPeers,
      mesh.peers.activityTiming,
    );
    let membership: Membership | null = null;
    const held = () => membership?.view ?? view;
    const host = await makeHostParts(mesh, {
      self: opened.publicKey,
      state: opened.state,
      view: held,
      policy,
      reroute: () => peers.apply(held(), true),
      ...(mesh.nat ? { relayOf: (key: string) => composed?.nat?.routes.relayOf(key) ?? null } : {}),
    });
    const { accepted, exit } = host;
    const peers = new MeshPeers({
      device: agent.device,
      index,
      logger,
      // Only the active peers (the kept ones, those with traffic) get keepalives.
      keepalive: (key) => activity.active(key) ? keepalive : 0,
      lookup: mesh.peers.lookup,
      chosenEndpoint: (key) =>
        composed?.nat?.routes.endpoint(key) ?? composed?.nat?.paths.chosen(key) ?? null,
      routesOf: exit
        ? (m) => [...accepted.routesOf(m), ...exit.routesOf(m)]
        : (m) => accepted.routesOf(m),
    });
    // The parts hear each new view through the one list, in its order.
    membership = new Membership(view, {
      peers: { apply: (v, change) => peers.apply(v, false, change) },
      policy,
      parts: { viewChanged: (v, change) => composed?.parts.viewChanged(v, change) },
    });
    const run: Running = {
      agent,
      channel,
      membership,
      own: addresses[0].split("/")[0],
      logger,
    };
    composed = listParts(mesh, run, {
      boot,
      policy,
      relay,
      heard,
      activity,
      peers,
      host,
    });
    return composed;
  } catch (e) {
    try {
      await composed?.parts.close();
      policy.close();
      await agent.close();
    } catch (closing) {
      logger.error("closing after a failed start failed", { error: String(closing) });
    }
    throw e;
  }
}

/** The parts made before the list, which the list holds with the rest. */
interface Made {
  boot: Boot;
  policy: PolicyRuntime;
  relay: RelayParts;
  heard: HeardLiveness | null;
  activity: PeerActivity;
  peers: MeshPeers;
  host: HostParts;
}

/** Makes the parts that follow the view and lists every part in start order. */
function listParts(mesh: ResolvedMesh, run: Running, made: Made): MeshComposition {
  const { agent, channel, logger, membership, own } = run;
  const { policy, relay, heard, activity, peers, host } = made;
  const { start, opened, addresses } = made.boot;
  const view = membership.view;

  // The service layer announces from the start (HTTP backends provided at once), before the
  // parts that carry announcements are made; they read `services.announced()` when they start,
  // so until they exist there is nothing to tell.
  let announce: (list: ServiceSpec[]) => Promise<void> = () => Promise.resolve();
  const leases = makeLeases(mesh, run, start, {
    leaderAddress: () => role.role === "node" ? role.sync.leader.address : own,
    isLeader: (address) => role.role === "node" && role.sync.isLeader(address),
    // The leader's scope once its service started; before, no member is told of another.
    scope: () => role.role === "leader" ? role.service.scope : null,
  });
  const services = new MeshServices({
    stack: agent.control,
    publicKey: agent.device.publicKey,
    address: own,
    view: () => membership.view,
    peerHealth: (key) => agent.peerHealth(key)?.state,
    announce: (list) => void announce(list),
    configured: mesh.identity.services,
    logger,
    leases,
    // Who may call this node's services: the policy in force, as the leader sent it.
    callRules: () => policy.engine.policy?.calls,
  }, mesh.services);
  const plugins = new Plugins(mesh.plugins, { services, logger });

  const role: RoleParts = makeRole(mesh, run, {
    start,
    state: opened.state,
    policy,
    heard,
    services,
    leases,
    paths: () => nat?.paths ?? null,
  });
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

  const nat: NatParts | null = mesh.nat && makeNat(mesh.nat, run, role, {
    start,
    privateKey: opened.privateKey,
    addresses,
    advertise: mesh.identity.advertise,
    relay,
    activity,
  });
  const server = relay.server;
  const relayService = server
    ? new RelayService({ server, device: agent.device, channel, logger })
    : null;
  const hostAddresses = new LocalAddresses();
  const dns = mesh.dns.server
    ? new MeshDns(mesh.dns.server, {
      agent,
      view: () => membership.view,
      userspace: mesh.agent.userspace,
      underlay: mesh.agent.underlay,
      logger,
      serviceLeader: (s) => leases.leaderMember(s),
      ...(host.systemDns ? { systemDns: host.systemDns } : {}),
      iface: mesh.agent.iface,
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

  const links = makeLinks(run, role, nat, activity);
  const pq = new MeshPq({ device: agent.device, stack: agent.control, logger }, mesh.pq);
  let stopPqByes = () => {};

  // The start order. Each entry says why it stands where it does; close runs bottom-up, and a
  // new view reaches the started parts top-down (the peers and the policy get it before, from
  // the membership itself). The paths and the relays follow the members online: one that left
  // on purpose (its bye) loses its paths and relay sessions at once, and is back at its hello.
  const list: (NamedPart | null)[] = [
    // Closes last: every part above sends on it until it closes.
    { name: "channel", part: channel },
    // The device's peers and the policy hear every view first, from the membership itself
    // (membership.ts); the policy's filter is in the agent from its start, its sweep starts here.
    { name: "peers", part: peers },
    { name: "policy", part: policy },
    // The post-quantum keys follow the device's peers, which the membership set just before;
    // a member's bye (it stops and loses its keys) starts its pair again from none.
    {
      name: "pq",
      part: {
        start: () => {
          pq.start(membership.view);
          stopPqByes = channel.listen((msg, from) => {
            if (msg.t !== "bye") return;
            const m = membership.view.members.find((x) => x.address === from);
            if (m && m.publicKey === msg.k) pq.bye(msg.k);
          });
        },
        viewChanged: (v, change) => pq.viewChanged(v, change),
        close: () => {
          stopPqByes();
          pq.close();
        },
      },
    },
    // Forwarding for the routes this node carries is on before anyone is told to send them;
    // the kernel routes follow the peers' allowed IPs, which the membership set first.
    host.router && { name: "subnet router", part: host.router },
    { name: "accepted routes", part: host.accepted },
    host.exit && { name: "exit node", part: host.exit },
    // Segments follow the view (members in and out) and the policy (segments defined), whose
    // runtime tells them of each new one; their VXLAN goes through the peers set up above.
    {
      name: "segments",
      part: {
        start: async () => {
          stopSegments = policy.onChange(() => host.segments.policyChanged());
          await host.segments.start();
        },
        viewChanged: () => host.segments.viewChanged(),
        close: async () => {
          stopSegments();
          await host.segments.close();
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
        viewChanged: (v, change) =>
          change
            ? nat.paths.viewChanged(v, onlineChange(change, me))
            : nat.paths.viewChanged(online(v)),
        close: () => nat.paths.close(),
      },
    },
    {
      name: "relay members",
      part: {
        viewChanged: (v, change) => {
          if (!change) {
            return void (relay.members = new Set(online(v).members.map((m) => m.publicKey)));
          }
          const c = onlineChange(change, me);
          for (const k of c.remove) relay.members.delete(k);
          for (const m of c.upsert) relay.members.add(m.publicKey);
        },
        close: () => {},
      },
    },
    relayService && {
      name: "relay service",
      part: {
        start: () => relayService.start(online(membership.view)),
        viewChanged: (v, change) =>
          change
            ? relayService.viewChanged(v, onlineChange(change, me))
            : relayService.viewChanged(online(v)),
        close: () => relayService.close(),
      },
    },
    nat && {
      name: "routes",
      part: {
        start: () => {
          // The join got through only over TCP (or its WebSocket): the leader is reached that
          // way from the start.
          if ((start.joinedOver === "tcp" || start.joinedOver === "websocket") && start.node) {
            nat.routes.startOnTcp(start.node.leader.publicKey, start.joinedOver);
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
          heard?.start();
          activity.start(membership.view);
          stopLeft = channel.listen((msg, from) => {
            if (msg.t === "bye") activity.bye(msg.k, from);
          });
        },
        // The probe counts follow the view too (the activity's `retainProbes`).
        viewChanged: (v, change) => activity.viewChanged(v, change),
        close: () => {
          stopLeft();
          activity.close();
          heard?.close();
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
        viewChanged: (v, change) => links.viewChanged(v, change),
        close: () => links.close(),
      },
    },
    // It answers from the view, the peers' health and the service leaders.
    dns && { name: "dns", part: dns },
    // Last: the plugins use the service layer as a program embedding the agent would, once
    // every part runs (what they provide is announced through the leader's service or the
    // sync); they close first, their services withdrawn while the layer still runs. A plugin
    // that cannot start stops the start.
    mesh.plugins.plugins?.length ? { name: "plugins", part: plugins } : null,
  ];
  return {
    parts: new PartList(list.filter((p) => p !== null), logger),
    agent,
    channel,
    membership,
    policy,
    role,
    services,
    leases,
    nat,
    relayService,
    dns,
    plugins,
    links: links.parts,
    pq,
    ...host,
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
