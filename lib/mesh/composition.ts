/**
 * What a composed mesh agent is made of, typed: where it starts from, the parts only a leader or a
 * node has, NAT traversal's parts, the link reports, and the whole composition. Its own module so
 * the composition root (compose.ts) and the factories it calls share the types without a cycle.
 * @module
 */

import type { MeshPq } from "./pq/mesh_pq.ts";
import type { ControlledAgent } from "../agent/agent.ts";
import type { MeshDns } from "../dns/mesh_dns.ts";
import type { Logger } from "../log/logger.ts";
import type { ServiceSpec } from "../members/member.ts";
import type { MeshPaths } from "./nat/mesh_paths.ts";
import type { PolicyRuntime } from "../policy/runtime.ts";
import type { MeshRoutes } from "./relay/mesh_routes.ts";
import type { RelayService } from "./relay/relay_service.ts";
import type { LeaseRuntime } from "../services/lease/runtime.ts";
import type { MeshServices } from "../services/mesh_services.ts";
import type { JoinServer } from "./join/server.ts";
import type { LeaderCore } from "./leader/core.ts";
import type { LinkStore } from "./leader/link_store.ts";
import type { LeaderService } from "./leader/service.ts";
import type { Membership } from "./membership.ts";
import type { PartList } from "./part.ts";
import type { MeshSegments } from "./segments/segments.ts";
import type { NodeFile } from "./state/state.ts";
import type { AcceptedRoutes } from "./subnets/accepted.ts";
import type { ExitNodeUse } from "./subnets/exit.ts";
import type { SubnetRouter } from "./subnets/router.ts";
import type { ControlChannel } from "./sync/control_channel.ts";
import type { LinkReporter } from "./sync/link_reporter.ts";
import type { NodeSync } from "./sync/node_sync.ts";
import type { Plugins } from "./plugins/plugins.ts";

/** Where the agent starts from: the leader's state, or a node's file. */
export type Start =
  | { core: LeaderCore; node?: undefined; joinedOver?: undefined }
  | {
    node: NodeFile;
    core?: undefined;
    joinedOver?: "udp" | "tcp" | "websocket";
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

/** A mesh agent's parts, typed, and the list that drives them. */
export interface MeshComposition {
  /** Every part, in start order. */
  parts: PartList;
  /** The running agent under the parts. */
  agent: ControlledAgent;
  /** The control channel on the agent's control stack. */
  channel: ControlChannel;
  /** The view held; it feeds the parts' `viewChanged`. */
  membership: Membership;
  /** The policy, which the agent's filter consults. */
  policy: PolicyRuntime;
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
  /** The plugins (none unless named). */
  plugins: Plugins;
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
  /** The post-quantum preshared keys with the other members. */
  pq: MeshPq;
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

/** What the parts made after the agent share: the running agent, its channel, the view. */
export interface Running {
  /** The running agent. */
  agent: ControlledAgent;
  /** The control channel on its control stack. */
  channel: ControlChannel;
  /** The view held. */
  membership: Membership;
  /** This node's own overlay address (IPv4, no prefix). */
  own: string;
  /** The logger. */
  logger: Logger;
}
