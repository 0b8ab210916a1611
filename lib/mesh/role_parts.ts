/**
 * The parts a leader has and a node has not, and the other way round, each made from its
 * section of the options: the leader's service and join server, or the node's sync with the
 * leader; and the service-leader leases, which on the leader also arbitrate.
 * @module
 */

import type { HeardLiveness } from "../health/heard.ts";
import type { MeshPaths } from "./nat/mesh_paths.ts";
import type { PolicyRuntime } from "../policy/runtime.ts";
import { LeaseRuntime } from "../services/lease/runtime.ts";
import type { MeshServices } from "../services/mesh_services.ts";
import type { RoleParts, Running, Start } from "./composition.ts";
import { JoinServer } from "./join/server.ts";
import type { Scope } from "./leader/scope.ts";
import { LeaderService } from "./leader/service.ts";
import { CARRY_MIN } from "./leader/push_carry.ts";
import { envNumber } from "../agent/env_number.ts";
import type { ResolvedMesh } from "./resolve.ts";
import type { StateDir } from "./state/state.ts";
import { NodeSync } from "./sync/node_sync.ts";

/**
 * Runs for the leadership of this node's services; on the leader, also arbitrates every
 * service's lease (its health view of the members decides who may hold one).
 */
export function makeLeases(
  mesh: ResolvedMesh,
  run: Running,
  start: Start,
  role: {
    leaderAddress: () => string;
    isLeader: (address: string) => boolean;
    scope: () => Scope | null;
  },
): LeaseRuntime {
  const { agent, channel, logger, membership } = run;
  const core = start.core;
  const kv = mesh.leader.store?.kv;
  return new LeaseRuntime({
    port: channel,
    self: { publicKey: agent.device.publicKey, address: run.own },
    members: () => membership.view.members,
    leaderAddress: role.leaderAddress,
    isLeader: role.isLeader,
    logger,
    timing: mesh.leases.leaseTiming,
    ...(core
      ? {
        arbiter: {
          persist: (r) => core.saveLeases(r),
          restored: core.leases(),
          healthy: (key) => agent.peerHealth(key)?.state !== "down",
          // Leaders sharing a key-value store keep the holders there, as etcd leases.
          ...(kv ? { kv } : {}),
          // Views scoped by policy: a member is told only of the holders it may see.
          scope: {
            classOf: (key) => role.scope()?.groupOf(key),
            sees: (a, b) => role.scope()?.sees(a, b) ?? false,
          },
        },
      }
      : {}),
  });
}

/** What the role's parts read besides the running agent. */
export interface RoleContext {
  /** Where the agent starts from. */
  start: Start;
  /** The state directory (a node's file). */
  state: StateDir;
  /** The policy. */
  policy: PolicyRuntime;
  /** On a leader, its members' liveness from their hellos. */
  heard: HeardLiveness | null;
  /** The service layer (what a node's hellos announce). */
  services: MeshServices;
  /** The leases (a member that left gives its leases up). */
  leases: LeaseRuntime;
  /** The paths, once made (a node's LAN candidates). */
  paths: () => MeshPaths | null;
}

/** The leader's service and join server, or the node's sync with the leader. */
export function makeRole(mesh: ResolvedMesh, run: Running, ctx: RoleContext): RoleParts {
  const { agent, channel, logger, membership } = run;
  const { start, policy, paths } = ctx;
  if (start.core) {
    const core = start.core;
    const service = new LeaderService({
      core,
      device: agent.device,
      channel,
      logger,
      memberLeft: (key) => ctx.leases.memberLeft(key),
      heard: (key, everyMs, rttMs) => ctx.heard?.heard(key, everyMs, rttMs),
      paced: (key, everyMs) => ctx.heard?.expect(key, everyMs),
      applyView: (v, change) => membership.apply(v, false, change),
      usePolicy: (p) => policy.use(p, membership.view),
      underlay: { listenPort: agent.device.listenPort, tcpPort: agent.tcpPort },
      readWaitMs: () => agent.device.readWaitMs,
      // A measurement's setting (the fleet bench turns carried pushes off or on for small meshes).
      carryMin: envNumber("WEFT_CARRY_MIN", CARRY_MIN, { min: 0, integer: true }),
    }, mesh.leader);
    const joins = new JoinServer({ core, device: agent.device, logger });
    // Cut off from its shared store, a leader's view may be old: its probe answers say so, and
    // its members move to a leader that reaches the store.
    const store = mesh.leader.store;
    if (store?.health) channel.prober.answerStale(() => store.health?.().ok === false);
    return { role: "leader", core, service, joins };
  }
  const node = start.node;
  const sync = new NodeSync({
    channel,
    probe: (address, timeoutMs) => channel.prober.probe(address, timeoutMs),
    // A probe that waited for the leader's session or a new path timed the setup, not the path.
    generation: (key) => agent.probeGeneration(key),
    stale: (address) => channel.prober.staleAt(address),
    // The leaders are not probed for health besides (./compose.ts): these are the samples.
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
      endpoints: mesh.identity.advertise,
      services: ctx.services.announced(),
      labels: mesh.identity.labels,
      relay: mesh.identity.relay,
      tcpPort: agent.tcpPort,
      routes: mesh.identity.routes,
    },
    ...(mesh.nat ? { lan: () => paths()?.lan() ?? [] } : {}),
    lanKey: node.lanKey,
    onLanKey: (key) => paths()?.setLanKey(key),
    // Sessions on demand: the bye goes straight to the members this node has a session with.
    inSession: (key) => {
      const p = agent.device.peer(key);
      return p !== undefined && (p.current !== null || p.next !== null);
    },
  }, mesh.sync);
  return { role: "node", sync };
}
