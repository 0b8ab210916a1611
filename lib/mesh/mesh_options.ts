/**
 * How a mesh agent starts: one flat object made of the sections each part reads. It is read in
 * one place, `resolve.ts`, which hands each part its section; its own module so the agent and
 * the resolver share it without importing each other.
 * @module
 */

import type { MeshDnsOptions } from "../dns/mesh_dns.ts";
import type { NatOptions } from "./nat/mesh_paths.ts";
import type { LeaseOptions } from "../services/lease/runtime.ts";
import type { ServicesOptions } from "../services/mesh_services.ts";
import type { JoinClientOptions } from "./join/client.ts";
import type { LeaderOptions } from "./leader/service.ts";
import type { MeshIdentityOptions, MeshUnderlayOptions } from "./options/options.ts";
import type { PeersOptions } from "./peers/peers.ts";
import type { NodeSyncOptions } from "./sync/node_sync.ts";
import type { PluginsOptions } from "./plugins/plugins.ts";
import type { SubnetOptions } from "./subnets/accepted.ts";
import type { SegmentsOptions } from "./segments/segments.ts";
import type { PqOptions } from "./pq/mesh_pq.ts";

/**
 * How a mesh agent starts: one flat object made of sections, each read by the part it
 * configures (identity, underlay, join, leader, sync, peers, DNS, services, plugins,
 * post-quantum keys).
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
    ServicesOptions,
    SubnetOptions,
    SegmentsOptions,
    PluginsOptions,
    PqOptions {}
