/**
 * The mesh: a {@link MeshAgent} leads a mesh or joins one with a token, keeps the membership,
 * the routes (direct, through NAT, relayed), the policy and the services in step, and keeps
 * its state in a directory across restarts.
 *
 * @example Lead a mesh, make a join token, and join it from a second agent
 * ```ts
 * import { MeshAgent } from "@weft/weft/mesh";
 *
 * const leader = await MeshAgent.start({
 *   role: "leader", stateDir: "/tmp/weft/hub", hostname: "hub", userspace: true,
 *   listenPort: 51820, advertise: ["127.0.0.1:51820"],
 * });
 * const { token } = await leader.createToken({ uses: 1 });
 * const node = await MeshAgent.start({
 *   role: "node", token, stateDir: "/tmp/weft/edge", hostname: "edge", userspace: true,
 *   listenPort: 51821,
 * });
 * console.log(node.view().members.map((m) => m.name));
 * await node.close();
 * await leader.close();
 * ```
 * @module
 */

export { JoinError, MeshAgent, type MeshOptions, type MeshRole } from "./mesh_agent.ts";
export type { MeshIdentityOptions, MeshUnderlayOptions } from "./options/options.ts";
export type { JoinClientOptions } from "./join/client.ts";
export type { CreatedToken, LeaderOptions, TokenOptions } from "./leader/service.ts";
export type { NodeSyncOptions } from "./sync/node_sync.ts";
export type { PeersOptions } from "./peers/peers.ts";
export type { MeshDnsOptions } from "../dns/mesh_dns.ts";
export {
  type MeshConfigDeps,
  meshControlFromConfig,
  type MeshControlOptions,
  meshOptionsFromConfig,
  meshRoleFromConfig,
} from "./mesh_config.ts";
export { LeaderError, TOKEN_TTL_RANGE_MS } from "./leader/core.ts";
export {
  type JoinRecord,
  type LeaderFile,
  type LeftRecord,
  type NodeFile,
  StateDir,
} from "./state/state.ts";
export type { NatOptions } from "../nat/runtime/mesh_paths.ts";
export type { LanDiscoveryOptions } from "../nat/runtime/lan.ts";
export type { PathTiming } from "../nat/paths.ts";
export type { InterfaceAddress } from "../nat/candidates.ts";
export type { AnnounceSocket, LanAnnouncerOptions, LanPeer } from "../nat/announce.ts";
export { compilePolicyText, policyFromConfig, type VersionedPolicy } from "../policy/source.ts";
export {
  decodeToken,
  encodeToken,
  type StoredToken,
  type TokenPayload,
  type TokenView,
} from "./join/token.ts";
export { NODE_LABEL_PREFIX } from "../members/labels.ts";
export { grantedServicesProblem, MAX_GRANTED_SERVICES } from "../members/services.ts";
export type { Member, MemberGrants, MembershipView, ServiceSpec } from "../members/member.ts";
export type { NameLookup } from "../net/resolve.ts";
