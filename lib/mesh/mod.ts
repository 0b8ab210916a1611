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
 * const { rtts } = await node.agent.ping("10.200.0.1", { timeoutMs: 5000 }); // through the tunnel
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
export type { MeshIdentityOptions, MeshUnderlayOptions } from "./options/options.ts";
export type { JoinClientOptions } from "./join/client.ts";
export type { CreatedToken, LeaderOptions, PolicyApplied, TokenOptions } from "./leader/service.ts";
export type { NodeSyncOptions } from "./sync/node_sync.ts";
export type { LeaderStore, StoreHealth, StoreSnapshot } from "./store/store.ts";
export { MemoryStore } from "./store/memory_store.ts";
export { KvLeaderStore, type KvLeaderStoreOptions } from "./store/kv_leader_store.ts";
export type { PeersOptions } from "./peers/peers.ts";
export type { SubnetOptions } from "./subnets/accepted.ts";
export type { SegmentsOptions } from "./segments/segments.ts";
export type { PluginsOptions } from "./plugins/plugins.ts";
export type { Plugin, PluginMesh, PluginServices, PluginSubscription } from "./plugins/api.ts";
export { DEFAULT_PLUGIN_TIMING, type PluginTiming } from "./plugins/host.ts";
export {
  PLUGIN_PERMISSIONS,
  type PluginPermission,
  type PluginPermissions,
  type PluginSpec,
} from "../config/plugins.ts";
export type { PluginStatus } from "../status/status.ts";
export type { SegmentDriver, SegmentPlan } from "../segments/segments.ts";
export { SEGMENT_DRIVERS } from "../segments/segments.ts";
export type {
  DefaultRouteConfig,
  DefaultRouting,
  ForwardingConfig,
  HostForwarding,
  KernelRoutes,
  RouteCounters,
} from "../routes/forwarding.ts";
export type { ActivityTiming } from "./peers/activity.ts";
export type { MeshDnsOptions, SystemDnsStatus } from "../dns/mesh_dns.ts";
export type {
  HostResolvers,
  SystemDns,
  SystemDnsMode,
  SystemDnsRestored,
  SystemDnsSettings,
} from "../net/system_dns.ts";
export { type MeshConfigDeps, meshOptionsFromConfig, meshRoleFromConfig } from "./mesh_config.ts";
export { type GrantChange, LeaderError, TOKEN_TTL_RANGE_MS } from "./leader/core.ts";
export { type NodeRoutes, routeList } from "./leader/routes.ts";
export { EXIT, MAX_ROUTES, parseRoute, parseRoutes } from "../routes/prefixes.ts";
export type { NatOptions } from "./nat/mesh_paths.ts";
export type { LanDiscoveryOptions } from "./nat/lan.ts";
export type { PathTiming } from "../nat/paths.ts";
export type { InterfaceAddress } from "../nat/candidates.ts";
export type { AnnounceSocket, LanAnnouncerOptions, LanPeer } from "../nat/announce.ts";
export {
  compilePolicyText,
  policyFromConfig,
  type PolicyOrigin,
  type VersionedPolicy,
} from "../policy/source.ts";
export {
  type DecodedToken,
  decodeToken,
  encodeToken,
  type StoredToken,
  type TokenLeader,
  type TokenPayload,
  type TokenView,
} from "./join/token.ts";
export type { Member, MemberGrants, MembershipView, ServiceSpec } from "../members/member.ts";
export type { NameLookup } from "../net/resolve.ts";
export { type Prefs, type PrefsChange, type PrefSettings } from "./prefs.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export type {
  Datagram,
  DatagramIterator,
  PingOptions,
  UdpAddress,
  UdpSocket,
  UserspaceDropReason,
  UserspaceStack,
  UserspaceStats,
} from "../../drivers/userspace.ts";
export type { Agent, ControlledAgent, MeshDatagram, PeerPath, PingResult } from "../agent/agent.ts";
export type { UnderlayKind } from "../agent/underlay.ts";
export type {
  AgentConfig,
  ConfiguredService,
  OptionKey,
  OptionOrigin,
  OptionOrigins,
  ServiceCheckEntry,
} from "../config/agent_types.ts";
export type { DirLock } from "../config/dir_lock.ts";
export type { PolicySource } from "../config/yaml_source.ts";
export type { BackendName } from "../crypto/types.ts";
export type { Device } from "../device/device.ts";
export type { DropCounters, DropReason } from "../device/drops.ts";
export type { ReasonCounter } from "../metrics/reasons.ts";
export { DROP_REASONS } from "../device/drops.ts";
export type {
  DeviceEvent,
  DeviceStats,
  HeldPacketSink,
  PacketFilter,
  PeerConfig,
} from "../device/types.ts";
export type { DnsQuestion, RecordData, ResourceRecord, SoaData } from "../dns/message.ts";
export type { DnsServer } from "../dns/server.ts";
export type { DnsStats } from "../dns/stats.ts";
export type { DnsZone, QueryContext, ZoneAnswer } from "../dns/zone.ts";
export type {
  HealthEvent,
  HealthListener,
  HealthOptions,
  HealthTracker,
  PeerHealth,
} from "../health/health.ts";
export type { HistogramSnapshot } from "../health/histogram.ts";
export type { HealthState } from "../health/state.ts";
export type {
  DatagramSink,
  DualDriverStats,
  Endpoint,
  PacketDevice,
  PacketDriverStats,
  PacketSink,
  TcpDriverStats,
  Transport,
  TransportDriverStats,
  UdpDriverStats,
} from "../io/driver.ts";
export type { TcpSendDrop, TcpStats, TransportStats, UdpOffloadStats } from "../io/stats.ts";
export type { LogFields, LogFormat, Logger, LogLevel } from "../log/logger.ts";
export type {
  CallerLimitSpec,
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
  MetricsRegistry,
  MetricType,
} from "../metrics/registry.ts";
export type { ListenerStats } from "../net/conn_guard.ts";
export type { DnsRoute } from "../net/dns_route.ts";
export type { ConntrackStats } from "../policy/conntrack.ts";
export type { PolicyEngine } from "../policy/engine.ts";
export type { ExplainEndpoint, ExplainQos, ExplainQuery, Explanation } from "../policy/explain.ts";
export type {
  DirectionCounts,
  FilterExplanation,
  PolicyFilter,
  PolicyStats,
} from "../policy/filter.ts";
export type { PolicyCheckOptions } from "../policy/parse.ts";
export type { QosClass, RateCounts, RuleQos } from "../policy/qos.ts";
export type {
  PolicyAction,
  PolicyDefaults,
  PolicyDocument,
  PolicyProto,
  PolicyRule,
  PolicyTest,
  PortRange,
  Segment,
  SelectorWire,
} from "../policy/schema.ts";
export type { SegmentMember, SegmentSpec, SegmentView } from "../policy/segment_admin.ts";
export type { LabelMatch, LabelOp, Selector, SelectorTerm } from "../policy/selector.ts";
export type { ProtocolTimers } from "../protocol/constants.ts";
export type { SegmentDriverName } from "../segments/segments.ts";
export type { CallerLimitOptions } from "../services/caller_limits.ts";
export type { RequestOptions } from "../services/client.ts";
export type { HttpBackendOptions } from "../services/http_backend.ts";
export type { OutOfRotation, ServiceInstance } from "../services/instances.ts";
export type { ArbiterStats, LeaseRefusal } from "../services/lease/arbiter.ts";
export type { LeaseRecord } from "../services/lease/book.ts";
export type { LeaseClientStats } from "../services/lease/client.ts";
export type { LeaseTiming } from "../services/lease/protocol.ts";
export type {
  LeaseOptions,
  LeaseStats,
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
  ServicesStatus,
  ServiceSummary,
} from "../services/mesh_services.ts";
export type { ServiceCallSeries, ServiceMetrics } from "../services/metrics.ts";
export type { PublishMode, PublishOptions, PublishResult } from "../services/pubsub.ts";
export type {
  AnnounceResult,
  ServiceEvent,
  SubscribeOptions,
  Subscription,
} from "../services/subscription.ts";
export type { RemoteSubscriptions } from "../services/subscription_table.ts";
export type { TopicPattern } from "../services/topics.ts";
export type { SubscriptionEntry } from "../services/wire.ts";
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
  RouteStatus,
  SegmentStatus,
  ServiceInstanceStatus,
  ServiceLeaderStatus,
  ServiceStatus,
  StoreStatus,
} from "../status/status.ts";
export type {
  Answer,
  Compare,
  KeySpec,
  KeyValue,
  KvStore,
  Lease,
  RangeAnswer,
  Txn,
  TxnAnswer,
  TxnOp,
  TxnResult,
  Watch,
  WatchEvent,
} from "../store/kv.ts";
export type { JoinRecord, LeaderFile, LeftRecord } from "./state/state.ts";
