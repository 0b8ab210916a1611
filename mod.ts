/**
 * weft: an encrypted, WireGuard-compatible overlay mesh in TypeScript.
 *
 * This entry holds what embedding an agent takes: {@link Agent} (one interface),
 * {@link MeshAgent} (a node of a mesh), keys, the configuration loader and logging. The parts
 * have entries of their own: `@weft/weft/agent`, `/mesh`, `/services`, `/control` (drive a
 * running agent), `/device`, `/drivers`, `/crypto`, `/config`, `/dns`, `/policy`, `/status`,
 * `/uapi` and `/demo`.
 *
 * @example Two agents in one program, talking over loopback in userspace mode
 * ```ts run
 * import { Agent, generateKeyPair } from "@weft/weft";
 *
 * const a = generateKeyPair(), b = generateKeyPair();
 * const agentA = await Agent.start({
 *   privateKey: a.privateKey, addresses: ["10.9.0.1/24"], listenPort: 52001, mode: "userspace",
 *   peers: [{ publicKey: b.publicKey, endpoint: "127.0.0.1:52002", allowedIps: ["10.9.0.2/32"] }],
 * });
 * const agentB = await Agent.start({
 *   privateKey: b.privateKey, addresses: ["10.9.0.2/24"], listenPort: 52002, mode: "userspace",
 *   peers: [{ publicKey: a.publicKey, endpoint: "127.0.0.1:52001", allowedIps: ["10.9.0.1/32"] }],
 * });
 * const received = new Promise<string>((resolve) => {
 *   const port = agentB.listen(7000, (d) => {
 *     port.close();
 *     resolve(`${d.address} ${new TextDecoder().decode(d.data)}`);
 *   });
 * });
 * const { rtts } = await agentA.ping("10.9.0.2", { timeoutMs: 5000 }); // the first one handshakes
 * console.log(rtts[0] !== null); // prints: true
 * agentA.send("10.9.0.2", 7000, new TextEncoder().encode("hello"));
 * console.log(await received); // prints: 10.9.0.1 hello
 * await agentA.close();
 * await agentB.close();
 * ```
 * @module
 */

export {
  Agent,
  type AgentMode,
  type AgentOptions,
  type MeshDatagram,
  type PeerPath,
  type PingResult,
  type UnderlayKind,
} from "./lib/agent/mod.ts";
export {
  JoinError,
  LeaderError,
  MeshAgent,
  type MeshOptions,
  meshOptionsFromConfig,
  meshRoleFromConfig,
} from "./lib/mesh/mod.ts";
export {
  encodeKey,
  generateKeyPair,
  generatePresharedKey,
  generatePrivateKey,
  parseKey,
  publicKeyOf,
} from "./lib/crypto/mod.ts";
export {
  type AgentConfig,
  type AgentFlags,
  ConfigError,
  loadAgentConfig,
  type LoadAgentConfigOptions,
} from "./lib/config/mod.ts";
export {
  createLogger,
  type LogFields,
  type LogFormat,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  type LogSink,
  nullLogger,
} from "./lib/log/logger.ts";
export { VERSION } from "./lib/version.ts";

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
} from "./drivers/userspace.ts";
export type {
  AgentParts,
  ControlledAgent,
  NodeIdentity,
  PeerIdentity,
  ProbeFn,
} from "./lib/agent/agent.ts";
export type {
  ConfiguredService,
  OptionKey,
  OptionOrigin,
  OptionOrigins,
  ServiceCheckEntry,
} from "./lib/config/agent_types.ts";
export type { DirLock } from "./lib/config/dir_lock.ts";
export type { SystemInfo } from "./lib/config/system.ts";
export type { PolicySource } from "./lib/config/yaml_source.ts";
export type { BackendName, Dh } from "./lib/crypto/types.ts";
export type { Device } from "./lib/device/device.ts";
export type { DropCounters, DropReason } from "./lib/device/drops.ts";
export type { ReasonCounter } from "./lib/metrics/reasons.ts";
export { DROP_REASONS } from "./lib/device/drops.ts";
export type {
  DeviceEvent,
  DeviceStats,
  HeldPacketSink,
  PacketFilter,
  PeerConfig,
} from "./lib/device/types.ts";
export type { MeshDnsOptions } from "./lib/dns/mesh_dns.ts";
export type { DnsQuestion, RecordData, ResourceRecord, SoaData } from "./lib/dns/message.ts";
export type { DnsServer } from "./lib/dns/server.ts";
export type { DnsStats } from "./lib/dns/stats.ts";
export type { DnsZone, QueryContext, ZoneAnswer } from "./lib/dns/zone.ts";
export type {
  HealthEvent,
  HealthListener,
  HealthOptions,
  HealthTracker,
  PeerHealth,
} from "./lib/health/health.ts";
export type { HistogramSnapshot } from "./lib/health/histogram.ts";
export type { HealthState } from "./lib/health/state.ts";
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
} from "./lib/io/driver.ts";
export type { TcpSendDrop, TcpStats, TransportStats, UdpOffloadStats } from "./lib/io/stats.ts";
export type { LabelPair } from "./lib/members/labels.ts";
export type { Member, MemberGrants, MembershipView, ServiceSpec } from "./lib/members/member.ts";
export type {
  CallerLimitSpec,
  CheckTarget,
  HttpBackendSpec,
  ServiceCheckSpec,
} from "./lib/members/service_backends.ts";
export type { JoinClientOptions } from "./lib/mesh/join/client.ts";
export type { StoredToken } from "./lib/mesh/join/token.ts";
export type { GrantChange } from "./lib/mesh/leader/grants.ts";
export type {
  CreatedToken,
  LeaderOptions,
  PolicyApplied,
  TokenOptions,
} from "./lib/mesh/leader/service.ts";
export type { MeshRole } from "./lib/mesh/mesh_agent.ts";
export type { MeshConfigDeps } from "./lib/mesh/mesh_config.ts";
export type { LanDiscoveryOptions } from "./lib/mesh/nat/lan.ts";
export type { NatOptions } from "./lib/mesh/nat/mesh_paths.ts";
export type { MeshIdentityOptions, MeshUnderlayOptions } from "./lib/mesh/options/options.ts";
export type { ActivityTiming } from "./lib/mesh/peers/activity.ts";
export type { PeersOptions } from "./lib/mesh/peers/peers.ts";
export type { Prefs, PrefsChange, PrefSettings } from "./lib/mesh/prefs.ts";
export type { SegmentsOptions } from "./lib/mesh/segments/segments.ts";
export type { PluginsOptions } from "./lib/mesh/plugins/plugins.ts";
export type { PluginTiming } from "./lib/mesh/plugins/host.ts";
export type { PluginPermission, PluginPermissions, PluginSpec } from "./lib/config/plugins.ts";
export type { JoinRecord, LeaderFile, LeftRecord } from "./lib/mesh/state/state.ts";
export type { LeaderStore, StoreHealth, StoreSnapshot } from "./lib/mesh/store/store.ts";
export type { SubnetOptions } from "./lib/mesh/subnets/accepted.ts";
export type { NodeSyncOptions } from "./lib/mesh/sync/node_sync.ts";
export type { HeapFigures, ProcessFigures } from "./lib/metrics/process.ts";
export type {
  Collector,
  HistogramFigures,
  LabelValues,
  MetricFamily,
  MetricSink,
  MetricsRegistry,
  MetricType,
} from "./lib/metrics/registry.ts";
export type { AnnounceSocket, LanAnnouncerOptions, LanPeer } from "./lib/nat/announce.ts";
export type { InterfaceAddress } from "./lib/nat/candidates.ts";
export type { PathTiming } from "./lib/nat/paths.ts";
export type { ListenerStats } from "./lib/net/conn_guard.ts";
export type { DnsRoute } from "./lib/net/dns_route.ts";
export type { NameLookup } from "./lib/net/resolve.ts";
export type {
  HostResolvers,
  SystemDns,
  SystemDnsMode,
  SystemDnsRestored,
  SystemDnsSettings,
} from "./lib/net/system_dns.ts";
export type { ConntrackStats } from "./lib/policy/conntrack.ts";
export type { PolicyEngine } from "./lib/policy/engine.ts";
export type {
  ExplainEndpoint,
  ExplainQos,
  ExplainQuery,
  Explanation,
} from "./lib/policy/explain.ts";
export type {
  DirectionCounts,
  FilterExplanation,
  PolicyFilter,
  PolicyStats,
} from "./lib/policy/filter.ts";
export type { QosClass, RateCounts, RuleQos } from "./lib/policy/qos.ts";
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
} from "./lib/policy/schema.ts";
export type { SegmentMember, SegmentSpec, SegmentView } from "./lib/policy/segment_admin.ts";
export type { LabelMatch, LabelOp, Selector, SelectorTerm } from "./lib/policy/selector.ts";
export type { PolicyOrigin, VersionedPolicy } from "./lib/policy/source.ts";
export type { ProtocolTimers } from "./lib/protocol/constants.ts";
export type {
  DefaultRouteConfig,
  DefaultRouting,
  ForwardingConfig,
  HostForwarding,
  KernelRoutes,
  RouteCounters,
} from "./lib/routes/forwarding.ts";
export type { SegmentDriver, SegmentDriverName, SegmentPlan } from "./lib/segments/segments.ts";
export { SEGMENT_DRIVERS } from "./lib/segments/segments.ts";
export type { CallerLimitOptions } from "./lib/services/caller_limits.ts";
export type { RequestOptions } from "./lib/services/client.ts";
export type { HttpBackendOptions } from "./lib/services/http_backend.ts";
export type { OutOfRotation, ServiceInstance } from "./lib/services/instances.ts";
export type { ArbiterStats, LeaseRefusal } from "./lib/services/lease/arbiter.ts";
export type { LeaseRecord } from "./lib/services/lease/book.ts";
export type { LeaseClientStats } from "./lib/services/lease/client.ts";
export type { LeaseTiming } from "./lib/services/lease/protocol.ts";
export type {
  LeaseOptions,
  LeaseStats,
  ServiceLeader,
  ServiceLeaderChange,
  ServiceLease,
} from "./lib/services/lease/runtime.ts";
export type {
  ActionHandler,
  ActionSpec,
  CallContext,
  ProvidedService,
  ServiceActions,
} from "./lib/services/local.ts";
export type {
  MeshServices,
  ServiceLayerOptions,
  ServicesOptions,
  ServicesStatus,
  ServiceSummary,
} from "./lib/services/mesh_services.ts";
export type { ServiceCallSeries, ServiceMetrics } from "./lib/services/metrics.ts";
export type { PublishMode, PublishOptions, PublishResult } from "./lib/services/pubsub.ts";
export type {
  AnnounceResult,
  ServiceEvent,
  SubscribeOptions,
  Subscription,
} from "./lib/services/subscription.ts";
export type { RemoteSubscriptions } from "./lib/services/subscription_table.ts";
export type { TopicPattern } from "./lib/services/topics.ts";
export type { SubscriptionEntry } from "./lib/services/wire.ts";
export type {
  MeshLinkStatus,
  MeshLinkView,
  MeshMemberStatus,
  MeshStatus,
} from "./lib/status/mesh_status.ts";
export type {
  ExitNodeState,
  ExitNodeStatus,
  KnownLeaderStatus,
  LeaderInUseStatus,
  NodeStatus,
  PathCandidateStatus,
  PeerStatus,
  PluginStatus,
  RouteStatus,
  SegmentStatus,
  ServiceInstanceStatus,
  ServiceLeaderStatus,
  ServiceStatus,
  StoreStatus,
} from "./lib/status/status.ts";
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
} from "./lib/store/kv.ts";
