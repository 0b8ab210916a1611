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
export { type ControlledAgent } from "../agent/agent.ts";
export { type PolicyEngine } from "../policy/engine.ts";
export { type PolicyFilter } from "../policy/filter.ts";
export { type MeshStatus } from "../status/mesh_status.ts";
export { type DnsServer } from "../dns/server.ts";
export { type SegmentSpec, type SegmentView } from "../policy/segment_admin.ts";
export { type MeshServices, type ServicesOptions } from "../services/mesh_services.ts";
export { type LeaseOptions } from "../services/lease/runtime.ts";
export { type DirLock } from "../config/dir_lock.ts";
export { type Logger } from "../log/logger.ts";
export { type BackendName } from "../crypto/types.ts";
export { type ProtocolTimers } from "../protocol/constants.ts";
export { type UnderlayKind } from "../agent/underlay.ts";
export { type Transport } from "../io/driver.ts";
export { type HealthOptions } from "../health/health.ts";
export { type LeaderFile } from "./state/state.ts";
export { type KvStore } from "../store/kv.ts";
export { type SegmentDriverName } from "../segments/segments.ts";
export { type DnsRoute } from "../net/dns_route.ts";
export { type AgentConfig } from "../config/agent_types.ts";
export { type PolicyCheckOptions } from "../policy/parse.ts";
export { type PolicyDocument } from "../policy/schema.ts";
export { type PolicySource } from "../config/yaml_source.ts";
export { type Agent } from "../agent/agent.ts";
export { type UserspaceStack } from "../../drivers/userspace.ts";
export { type RateCounts } from "../policy/qos.ts";
export { type ExplainQuery, type Explanation } from "../policy/explain.ts";
export { type HeldPacketSink, type PacketFilter } from "../device/types.ts";
export { type FilterExplanation, type PolicyStats } from "../policy/filter.ts";
export { type MeshLinkStatus, type MeshMemberStatus } from "../status/mesh_status.ts";
export { type DnsZone } from "../dns/zone.ts";
export { type DnsStats } from "../dns/stats.ts";
export { type ListenerStats } from "../net/conn_guard.ts";
export {
  type PolicyDefaults,
  type PolicyRule,
  type PolicyTest,
  type Segment,
  type SelectorWire,
} from "../policy/schema.ts";
export { type Selector } from "../policy/selector.ts";
export { type SegmentMember } from "../policy/segment_admin.ts";
export {
  type CallerLimitSpec,
  type HttpBackendSpec,
  type ServiceCheckSpec,
} from "../members/service_backends.ts";
export { type CallerLimitOptions } from "../services/caller_limits.ts";
export {
  type ServiceLayerOptions,
  type ServicesStatus,
  type ServiceSummary,
} from "../services/mesh_services.ts";
export { type ProvidedService, type ServiceActions } from "../services/local.ts";
export { type HttpBackendOptions } from "../services/http_backend.ts";
export { type RequestOptions } from "../services/client.ts";
export { type PublishOptions, type PublishResult } from "../services/pubsub.ts";
export { type SubscribeOptions, type Subscription } from "../services/subscription.ts";
export {
  type LeaseStats,
  type ServiceLeader,
  type ServiceLeaderChange,
  type ServiceLease,
} from "../services/lease/runtime.ts";
export { type ServiceInstance } from "../services/instances.ts";
export { type ServiceMetrics } from "../services/metrics.ts";
export { type LeaseTiming } from "../services/lease/protocol.ts";
export { type LogFields, type LogFormat, type LogLevel } from "../log/logger.ts";
export { type DatagramSink, type Endpoint, type TransportDriverStats } from "../io/driver.ts";
export { type JoinRecord, type LeftRecord } from "./state/state.ts";
export { type LeaseRecord } from "../services/lease/book.ts";
export {
  type Answer,
  type KeySpec,
  type KeyValue,
  type Lease,
  type RangeAnswer,
  type Txn,
  type TxnAnswer,
  type Watch,
  type WatchEvent,
} from "../store/kv.ts";
export {
  type ConfiguredService,
  type OptionOrigins,
  type ServiceCheckEntry,
} from "../config/agent_types.ts";
export { type Device } from "../device/device.ts";
export { type HealthTracker, type PeerHealth } from "../health/health.ts";
export { type MetricsRegistry } from "../metrics/registry.ts";
export { type TcpStats } from "../io/stats.ts";
export { type NodeStatus, type PeerStatus } from "../status/status.ts";
export { type MeshDatagram, type PeerPath, type PingResult } from "../agent/agent.ts";
export {
  type DualDriverStats,
  type PacketDevice,
  type PacketSink,
  type TcpDriverStats,
  type UdpDriverStats,
} from "../io/driver.ts";
export {
  type DatagramIterator,
  type PingOptions,
  type UdpAddress,
  type UdpSocket,
  type UserspaceStats,
} from "../../drivers/userspace.ts";
export { type PolicyAction, type PolicyProto, type PortRange } from "../policy/schema.ts";
export { type ExplainEndpoint, type ExplainQos } from "../policy/explain.ts";
export { type DirectionCounts } from "../policy/filter.ts";
export { type ConntrackStats } from "../policy/conntrack.ts";
export { type HealthState } from "../health/state.ts";
export { type MeshLinkView } from "../status/mesh_status.ts";
export { type DnsQuestion } from "../dns/message.ts";
export { type QueryContext, type ZoneAnswer } from "../dns/zone.ts";
export { type RuleQos } from "../policy/qos.ts";
export { type SelectorTerm } from "../policy/selector.ts";
export { type CheckTarget } from "../members/service_backends.ts";
export { type SubscriptionEntry } from "../services/wire.ts";
export { type RemoteSubscriptions } from "../services/subscription_table.ts";
export { type ActionSpec } from "../services/local.ts";
export { type PublishMode } from "../services/pubsub.ts";
export { type AnnounceResult, type ServiceEvent } from "../services/subscription.ts";
export { type TopicPattern } from "../services/topics.ts";
export { type LeaseClientStats } from "../services/lease/client.ts";
export { type ArbiterStats } from "../services/lease/arbiter.ts";
export { type OutOfRotation } from "../services/instances.ts";
export { type ServiceCallSeries } from "../services/metrics.ts";
export { type Compare, type TxnOp, type TxnResult } from "../store/kv.ts";
export { type OptionKey, type OptionOrigin } from "../config/agent_types.ts";
export { type DropCounters, type DropReason } from "../device/drops.ts";
export { type Aead, type Dh } from "../crypto/types.ts";
export { type DeviceEvent, type DeviceStats, type PeerConfig } from "../device/types.ts";
export { type HistogramSnapshot } from "../health/histogram.ts";
export { type HealthEvent, type HealthListener } from "../health/health.ts";
export { type Collector } from "../metrics/registry.ts";
export { type TcpSendDrop, type TransportStats, type UdpOffloadStats } from "../io/stats.ts";
export { type ProcessFigures } from "../metrics/process.ts";
export {
  type ExitNodeStatus,
  type KnownLeaderStatus,
  type LeaderInUseStatus,
  type PathCandidateStatus,
  type RouteStatus,
  type SegmentStatus,
  type ServiceStatus,
  type StoreStatus,
} from "../status/status.ts";
export { type PacketDriverStats } from "../io/driver.ts";
export { type Datagram, type UserspaceDropReason } from "../../drivers/userspace.ts";
export { type QosClass } from "../policy/qos.ts";
export { type ResourceRecord } from "../dns/message.ts";
export { type LabelMatch } from "../policy/selector.ts";
export { type ActionHandler } from "../services/local.ts";
export { type LeaseRefusal } from "../services/lease/arbiter.ts";
export { DROP_REASONS } from "../device/drops.ts";
export { type AeadKey } from "../crypto/types.ts";
export { type MetricSink } from "../metrics/registry.ts";
export { type HeapFigures } from "../metrics/process.ts";
export {
  type ExitNodeState,
  type ServiceInstanceStatus,
  type ServiceLeaderStatus,
} from "../status/status.ts";
export { type RecordData } from "../dns/message.ts";
export { type LabelOp } from "../policy/selector.ts";
export { type CallContext } from "../services/local.ts";
export { type HistogramFigures, type LabelValues, type MetricFamily } from "../metrics/registry.ts";
export { type SoaData } from "../dns/message.ts";
export { type MetricType } from "../metrics/registry.ts";
