/**
 * The agent under a mesh agent, started with its section of the options and the hooks through
 * which it reaches the mesh's parts: the relays under its transport, the policy's filter, the
 * probe over the control channel, the members' names, and the `/status` fields and `/metrics`
 * collectors of the parts. The parts need the running agent to be made, so its hooks reach them
 * through getters that answer as without them until the composition root has made them.
 * @module
 */

import { pqCollector } from "./pq/metrics.ts";
import { Agent, type ControlledAgent } from "../agent/agent.ts";
import type { UserspaceStack } from "../../drivers/userspace.ts";
import { dnsCollector } from "../dns/metrics.ts";
import type { Member } from "../members/member.ts";
import type { Collector } from "../metrics/registry.ts";
import { pathsCollector } from "../nat/metrics.ts";
import { isPathProbe } from "../nat/probe.ts";
import { policyCollector } from "../policy/metrics.ts";
import type { PolicyRuntime } from "../policy/runtime.ts";
import { relayCollector } from "../relay/metrics.ts";
import { type RelayParts, wrapRelays } from "./relay/relay_parts.ts";
import { leaseCollector } from "../services/lease/collector.ts";
import { leaseMetrics } from "../services/lease/metrics.ts";
import { servicesCollector } from "../services/metrics.ts";
import { servicesStatus } from "../services/service_status.ts";
import type { NodeStatus, StoreStatus } from "../status/status.ts";
import type { MeshComposition } from "./composition.ts";
import { leaderCollector } from "./leader/metrics.ts";
import type { MemberIndex } from "./peers/peers.ts";
import type { ResolvedMesh } from "./resolve.ts";
import type { LeaderStore } from "./store/store.ts";
import { routeCollector } from "./subnets/metrics.ts";
import type { ControlChannel } from "./sync/control_channel.ts";
import { carriedCollector, controlCollector, sharedViewsCollector } from "./sync/metrics.ts";

/** What the agent's hooks read: made before it, or reached once the parts exist. */
export interface AgentHooks {
  /** This node's private key (base64). */
  privateKey: string;
  /** Its public key (base64). */
  publicKey: string;
  /** Its overlay addresses (CIDR). */
  addresses: string[];
  /** Its name in the view it starts from (a node's join may have given it another). */
  name: string;
  /** The members by key, for the peers' names. */
  index: MemberIndex;
  /** The policy, whose filter the device consults from its start. */
  policy: PolicyRuntime;
  /** The relay client and server, under the transport. */
  relay: RelayParts;
  /** The parts, once made (null before). */
  parts: () => MeshComposition | null;
  /** The control channel on a control stack (made once, by the first caller). */
  channelOn: (stack: UserspaceStack) => ControlChannel;
  /** The control channel, if made. */
  channel: () => ControlChannel | undefined;
}

/** Starts the agent under the mesh. */
export async function startMeshAgent(
  mesh: ResolvedMesh,
  hooks: AgentHooks,
): Promise<ControlledAgent> {
  const { agent: opts, logger } = mesh;
  const { policy, relay, parts } = hooks;
  const store = mesh.role === "leader" ? mesh.leader.store : undefined;
  return await Agent.start({
    privateKey: hooks.privateKey,
    addresses: hooks.addresses,
    listenPort: opts.listenPort,
    tcpPort: opts.tcpPort,
    ...(opts.webSocketTls ? { webSocketTls: opts.webSocketTls } : {}),
    ...(opts.webSocketCaCerts ? { webSocketCaCerts: opts.webSocketCaCerts } : {}),
    proxy: opts.proxy,
    mtu: opts.mtu,
    mode: opts.userspace ? "userspace" : "tun",
    interfaceName: opts.iface,
    // With an exit node, the underlay socket's packets carry a mark that keeps them out of the
    // tunnel (policy routing, as wg-quick's).
    ...(opts.exitMark ? { fwMark: opts.exitMark } : {}),
    crypto: opts.crypto,
    cryptoWorkers: opts.cryptoWorkers,
    timers: opts.timers,
    logger,
    underlay: opts.underlay,
    control: true,
    health: opts.health,
    // Sessions on demand: health follows the active peers only (peers/activity.ts).
    healthScope: "watched",
    ...(opts.openTransport ? { transport: await opts.openTransport(opts.listenPort) } : {}),
    wrapTransport: (t) => wrapRelays(t, relay),
    identity: { name: hooks.name, role: mesh.role },
    describePeer: (key) => hooks.index.identity(key),
    // control: true, so the parts hold the control stack.
    probe: !opts.probes ? null : ({ control }) => {
      const c = hooks.channelOn(control!);
      return (address) => c.prober.probe(address, 2000);
    },
    filter: policy.deviceFilter,
    collectors: meshCollectors(policy, parts, hooks.channel, store),
    status: () => {
      const c = parts();
      return {
        ...policy.status(),
        ...(c
          ? meshNodeStatus(
            c,
            c.membership.view.members.find((m) => m.publicKey === hooks.publicKey),
          )
          : {}),
        // A leader's shared store (etcd) and how it answers: the state directory has no health.
        ...(store?.health ? { store: storeStatus(store) } : {}),
      };
    },
    peerStatus: (key) => ({
      ...parts()?.nat?.paths.peerStatus(key),
      ...parts()?.nat?.routes.peerStatus(key),
      ...parts()?.pq.peerStatus(key),
    }),
    // Path probes go to the paths; only the leader serves joins; a node drops the rest.
    onForeignDatagram: (data, from, waitedMs) => {
      const c = parts();
      if (isPathProbe(data)) c?.nat?.paths.handle(data, from);
      else if (c?.role.role === "leader") c.role.joins.handle(data, from, waitedMs);
    },
  });
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
      sharedViews: () => leader()?.service.sharedViews(),
      pushes: () => leader()?.service.pushes(),
      carried: () => leader()?.service.carried(),
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
    controlCollector(() => {
      const c = channel();
      return c && { untracked: c.prober.untracked, malformed: c.malformed };
    }),
    sharedViewsCollector(() => {
      const role = parts()?.role;
      return role?.role === "node" ? role.sync.sharedViews() : undefined;
    }),
    carriedCollector(() => {
      const role = parts()?.role;
      return role?.role === "node" ? role.sync.carried() : undefined;
    }),
    pqCollector(() => parts()?.pq.metrics()),
  ];
}

/** The `services` field of `/status`; on a node, the leader it syncs with and every leader. */
function meshNodeStatus(
  c: MeshComposition,
  self: Member | undefined,
): Pick<
  NodeStatus,
  | "services"
  | "plugins"
  | "leader"
  | "leaders"
  | "routes"
  | "carries"
  | "exitNode"
  | "systemDns"
  | "segments"
> {
  const routes = c.accepted.inUse();
  const systemDns = c.dns?.systemDns;
  const segments = c.segments.status();
  const plugins = c.plugins.status();
  return {
    services: servicesStatus(c.services.list(), c.leases.leaders()),
    ...(plugins.length ? { plugins } : {}),
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

/** A leader's shared store as `/status` shows it (its times as ISO text, as elsewhere there). */
function storeStatus(store: LeaderStore): StoreStatus | undefined {
  const h = store.health?.();
  return h && { ...h, since: new Date(h.since).toISOString() };
}
