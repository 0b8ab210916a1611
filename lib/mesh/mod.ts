/**
 * The mesh: a {@link MeshAgent} leads a mesh or joins one with a token, keeps the membership,
 * the routes (direct, through NAT, relayed), the policy and the services in step, and keeps
 * its state in a directory across restarts.
 *
 * @example Lead a mesh, make a join token, and join it from a second agent
 * ```ts run
 * import { MeshAgent } from "@weft/weft/mesh";
 *
 * // Both in one program: no TUN, no DNS server, nothing announced on the LAN, only loopback.
 * const local = { userspace: true, dnsPort: 0, lanDiscovery: false, natTraversal: false } as const;
 * const leader = await MeshAgent.start({
 *   ...local,
 *   role: "leader",
 *   hostname: "hub",
 *   stateDir: await Deno.makeTempDir(), // its key, members and tokens, kept across restarts
 *   listenPort: 52820,
 *   advertise: ["127.0.0.1:52820"], // where members reach it (default: this machine's addresses)
 * });
 * // What `weft token create --ttl 1h --uses 1 --label role=edge` makes and `weft --join` takes.
 * const { token } = await leader.createToken({
 *   ttlMs: 3600_000,
 *   uses: 1,
 *   labels: { role: "edge" },
 * });
 * const node = await MeshAgent.start({
 *   ...local,
 *   role: "node",
 *   token,
 *   hostname: "edge",
 *   stateDir: await Deno.makeTempDir(),
 *   listenPort: 52830,
 *   advertise: ["127.0.0.1:52830"],
 * });
 * console.log(node.view().members.map((m) => m.name)); // prints: [ "hub", "edge" ]
 * console.log(node.self?.address, node.self?.labels); // prints: 10.200.0.2 { role: "edge" }
 * const { rtts } = await node.ping("10.200.0.1", { timeoutMs: 5000 }); // through the tunnel
 * console.log(rtts[0] !== null); // prints: true
 * // A Layer 2 segment of the members labelled role=edge, kept in the policy (`weft segment create`).
 * const { version } = await leader.createSegment({ name: "lab", vni: 100, select: "role=edge" });
 * console.log(version, leader.segments().map((s) => [s.name, s.members.map((m) => m.name)]));
 * // prints: 1 [ [ "lab", [ "edge" ] ] ]
 * await node.close(); // a restart from its state directory needs no token
 * await leader.close();
 * ```
 * @module
 */

export {
  JoinError,
  JoinUnavailableError,
  MeshAgent,
  type MeshOptions,
  type MeshRole,
} from "./mesh_agent.ts";
export { LeaderError } from "./leader/core.ts";
export type { Plugin, PluginMesh, PluginServices, PluginSubscription } from "./plugins/api.ts";
export type { PluginsOptions } from "./plugins/plugins.ts";
export { DEFAULT_PLUGIN_TIMING, type PluginTiming } from "./plugins/host.ts";
export {
  PLUGIN_PERMISSIONS,
  type PluginPermission,
  type PluginPermissions,
  type PluginSpec,
} from "../config/plugins.ts";
export type { PluginStatus } from "../status/status.ts";
export { EXIT, MAX_ROUTES, parseRoute, parseRoutes } from "../routes/prefixes.ts";
export {
  bypassesProxy,
  type EnvReader,
  type NoProxyRule,
  parseNoProxy,
  parseProxyUrl,
  proxyFromEnv,
  type ProxySetting,
  type ProxyUrl,
} from "../net/proxy.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export type { PeerPath, PingResult } from "../agent/agent_options.ts";
export type { UnderlayKind } from "../agent/underlay.ts";
export type { BackendName } from "../crypto/types.ts";
export type { DropReason } from "../device/drops.ts";
export { DROP_REASONS } from "../device/drops.ts";
export type { MeshDnsOptions } from "../dns/mesh_dns.ts";
export type { HealthEvent, HealthListener } from "../health/health.ts";
export type { HealthState } from "../health/state.ts";
export type { LogFields, Logger, LogLevel } from "../log/logger.ts";
export type { Member, MemberGrants, MembershipView, ServiceSpec } from "../members/member.ts";
export type {
  CheckTarget,
  HttpBackendSpec,
  ServiceCheckSpec,
} from "../members/service_backends.ts";
export type { HeapFigures, ProcessFigures } from "../metrics/process.ts";
export type {
  Collector,
  HistogramFigures,
  LabelValues,
  MetricFamily,
  MetricSink,
  MetricType,
} from "../metrics/registry.ts";
export type { DnsRoute } from "../net/dns_route.ts";
export type { SegmentMember, SegmentSpec, SegmentView } from "../policy/segment_admin.ts";
export type { LabelMatch, LabelOp, Selector, SelectorTerm } from "../policy/selector.ts";
export type { VersionedPolicy } from "../policy/source.ts";
export type { SelectorWire } from "../policy/wire.ts";
export type { SegmentDriverName } from "../segments/segments.ts";
export { SEGMENT_DRIVERS } from "../segments/segments.ts";
export type { CallerLimitOptions } from "../services/caller_limits.ts";
export type { RequestOptions } from "../services/client.ts";
export type { HttpBackendOptions } from "../services/http_backend.ts";
export type { OutOfRotation, ServiceInstance } from "../services/instances.ts";
export type { LeaseTiming } from "../services/lease/protocol.ts";
export type {
  LeaseOptions,
  ServiceLeader,
  ServiceLeaderChange,
  ServiceLease,
} from "../services/lease/runtime.ts";
export type {
  ActionHandler,
  ActionSpec,
  CallContext,
  ProvidedService,
  ServiceActions,
} from "../services/local.ts";
export type {
  MeshServices,
  ServiceLayerOptions,
  ServicesOptions,
  ServiceSummary,
} from "../services/mesh_services.ts";
export type { PublishMode, PublishOptions, PublishResult } from "../services/pubsub.ts";
export type {
  AnnounceResult,
  ServiceEvent,
  SubscribeOptions,
  Subscription,
} from "../services/subscription.ts";
export type { TopicPattern } from "../services/topics.ts";
export type {
  MeshLinkStatus,
  MeshLinkView,
  MeshMemberStatus,
  MeshStatus,
} from "../status/mesh_status.ts";
export type {
  ExitNodeState,
  ExitNodeStatus,
  KnownLeaderStatus,
  LeaderInUseStatus,
  NodeStatus,
  PathCandidateStatus,
  PeerStatus,
  PqPeerStatus,
  RouteStatus,
  SegmentStatus,
  ServiceCallsStatus,
  ServiceInstanceStatus,
  ServiceLeaderStatus,
  ServiceStatus,
  StoreStatus,
} from "../status/status.ts";
export type { JoinClientOptions } from "./join/client.ts";
export type { GrantChange } from "./leader/grants.ts";
export type { LeaderOptions, PolicyApplied } from "./leader/service.ts";
export type { CreatedToken, TokenOptions } from "./leader/token_text.ts";
export type { LanDiscoveryOptions } from "./nat/lan.ts";
export type { NatOptions } from "./nat/mesh_paths.ts";
export type { PqOptions } from "./pq/mesh_pq.ts";
export type { MeshIdentityOptions, MeshUnderlayOptions } from "./options/options.ts";
export type { PeersOptions } from "./peers/peers.ts";
export type { Prefs, PrefsChange, PrefSettings } from "./prefs.ts";
export type { SegmentsOptions } from "./segments/segments.ts";
export type { SubnetOptions } from "./subnets/accepted.ts";
export type { NodeSyncOptions } from "./sync/node_sync.ts";
export type { OutliersOptions } from "../services/outliers.ts";
export type { RetryBudgetOptions } from "../services/retry_budget.ts";
export type { InflightOptions } from "../services/inflight.ts";
