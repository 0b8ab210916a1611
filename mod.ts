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
export { type PacketFilter, type PeerConfig } from "./lib/device/types.ts";
export { type BackendName, type Dh } from "./lib/crypto/types.ts";
export { type ProtocolTimers } from "./lib/protocol/constants.ts";
export { type Endpoint, type PacketDevice, type Transport } from "./lib/io/driver.ts";
export { type HealthOptions, type HealthTracker, type PeerHealth } from "./lib/health/health.ts";
export {
  type AgentParts,
  type ControlledAgent,
  type NodeIdentity,
  type PeerIdentity,
  type ProbeFn,
} from "./lib/agent/agent.ts";
export { type Collector, type MetricsRegistry } from "./lib/metrics/registry.ts";
export { type NodeStatus, type PeerStatus } from "./lib/status/status.ts";
export { type Device } from "./lib/device/device.ts";
export { type UserspaceStack } from "./drivers/userspace.ts";
export { type ListenerStats } from "./lib/net/conn_guard.ts";
export { type TcpStats } from "./lib/io/stats.ts";
export { type MeshRole } from "./lib/mesh/mesh_agent.ts";
export { type PolicyEngine } from "./lib/policy/engine.ts";
export { type PolicyFilter } from "./lib/policy/filter.ts";
export { type MeshStatus } from "./lib/status/mesh_status.ts";
export { type DnsServer } from "./lib/dns/server.ts";
export { type VersionedPolicy } from "./lib/policy/source.ts";
export { type Member, type MembershipView, type ServiceSpec } from "./lib/members/member.ts";
export {
  type CreatedToken,
  type LeaderOptions,
  type PolicyApplied,
  type TokenOptions,
} from "./lib/mesh/leader/service.ts";
export { type GrantChange } from "./lib/mesh/leader/grants.ts";
export { type SegmentSpec, type SegmentView } from "./lib/policy/segment_admin.ts";
export { type Prefs, type PrefsChange, type PrefSettings } from "./lib/mesh/prefs.ts";
export { type MeshServices, type ServicesOptions } from "./lib/services/mesh_services.ts";
export { type MeshIdentityOptions, type MeshUnderlayOptions } from "./lib/mesh/options/options.ts";
export { type JoinClientOptions } from "./lib/mesh/join/client.ts";
export { type NodeSyncOptions } from "./lib/mesh/sync/node_sync.ts";
export { type PeersOptions } from "./lib/mesh/peers/peers.ts";
export { type MeshDnsOptions } from "./lib/dns/mesh_dns.ts";
export { type NatOptions } from "./lib/mesh/nat/mesh_paths.ts";
export { type LeaseOptions } from "./lib/services/lease/runtime.ts";
export { type SubnetOptions } from "./lib/mesh/subnets/accepted.ts";
export { type SegmentsOptions } from "./lib/mesh/segments/segments.ts";
export { type MeshConfigDeps } from "./lib/mesh/mesh_config.ts";
export {
  type ConfiguredService,
  type OptionOrigins,
  type ServiceCheckEntry,
} from "./lib/config/agent_types.ts";
export { type CallerLimitSpec, type HttpBackendSpec } from "./lib/members/service_backends.ts";
export { type DnsRoute } from "./lib/net/dns_route.ts";
export { type PolicySource } from "./lib/config/yaml_source.ts";
export { type LabelPair } from "./lib/members/labels.ts";
export { type SystemInfo } from "./lib/config/system.ts";
export { type DeviceEvent, type DeviceStats, type HeldPacketSink } from "./lib/device/types.ts";
export {
  type DatagramSink,
  type PacketDriverStats,
  type PacketSink,
  type TransportDriverStats,
} from "./lib/io/driver.ts";
export { type HealthState } from "./lib/health/state.ts";
export { type HistogramSnapshot } from "./lib/health/histogram.ts";
export { type HealthEvent, type HealthListener } from "./lib/health/health.ts";
export { type MetricSink } from "./lib/metrics/registry.ts";
export { type ProcessFigures } from "./lib/metrics/process.ts";
export { type DropCounters, type DropReason } from "./lib/device/drops.ts";
export {
  type ExitNodeStatus,
  type KnownLeaderStatus,
  type LeaderInUseStatus,
  type PathCandidateStatus,
  type RouteStatus,
  type SegmentStatus,
  type ServiceStatus,
  type StoreStatus,
} from "./lib/status/status.ts";
export { type Aead } from "./lib/crypto/types.ts";
export {
  type DatagramIterator,
  type PingOptions,
  type UdpAddress,
  type UdpSocket,
  type UserspaceStats,
} from "./drivers/userspace.ts";
export { type TcpSendDrop, type TransportStats } from "./lib/io/stats.ts";
export { type PolicyDocument, type SelectorWire } from "./lib/policy/schema.ts";
export { type RateCounts } from "./lib/policy/qos.ts";
export { type ExplainQuery, type Explanation } from "./lib/policy/explain.ts";
export { type FilterExplanation, type PolicyStats } from "./lib/policy/filter.ts";
export { type MeshLinkStatus, type MeshMemberStatus } from "./lib/status/mesh_status.ts";
export { type DnsZone } from "./lib/dns/zone.ts";
export { type DnsStats } from "./lib/dns/stats.ts";
export { type MemberGrants } from "./lib/members/member.ts";
export { type PolicyOrigin } from "./lib/policy/source.ts";
export { type LeaderStore } from "./lib/mesh/store/store.ts";
export { type Selector } from "./lib/policy/selector.ts";
export { type SegmentDriver, type SegmentDriverName } from "./lib/segments/segments.ts";
export { type SegmentMember } from "./lib/policy/segment_admin.ts";
export { type ServiceCheckSpec } from "./lib/members/service_backends.ts";
export { type CallerLimitOptions } from "./lib/services/caller_limits.ts";
export {
  type ServiceLayerOptions,
  type ServicesStatus,
  type ServiceSummary,
} from "./lib/services/mesh_services.ts";
export { type ProvidedService, type ServiceActions } from "./lib/services/local.ts";
export { type HttpBackendOptions } from "./lib/services/http_backend.ts";
export { type RequestOptions } from "./lib/services/client.ts";
export { type PublishOptions, type PublishResult } from "./lib/services/pubsub.ts";
export { type SubscribeOptions, type Subscription } from "./lib/services/subscription.ts";
export {
  type LeaseStats,
  type ServiceLeader,
  type ServiceLeaderChange,
  type ServiceLease,
} from "./lib/services/lease/runtime.ts";
export { type ServiceInstance } from "./lib/services/instances.ts";
export { type ServiceMetrics } from "./lib/services/metrics.ts";
export { type DirLock } from "./lib/config/dir_lock.ts";
export { type NameLookup } from "./lib/net/resolve.ts";
export { type ActivityTiming } from "./lib/mesh/peers/activity.ts";
export { type SystemDns } from "./lib/net/system_dns.ts";
export { type LanDiscoveryOptions } from "./lib/mesh/nat/lan.ts";
export { type InterfaceAddress } from "./lib/nat/candidates.ts";
export { type PathTiming } from "./lib/nat/paths.ts";
export { type LeaseTiming } from "./lib/services/lease/protocol.ts";
export {
  type DefaultRouting,
  type HostForwarding,
  type KernelRoutes,
} from "./lib/routes/forwarding.ts";
export { type OptionKey, type OptionOrigin } from "./lib/config/agent_types.ts";
export { type DualDriverStats, type TcpDriverStats, type UdpDriverStats } from "./lib/io/driver.ts";
export {
  type HistogramFigures,
  type LabelValues,
  type MetricFamily,
} from "./lib/metrics/registry.ts";
export { type HeapFigures } from "./lib/metrics/process.ts";
export { DROP_REASONS } from "./lib/device/drops.ts";
export {
  type ExitNodeState,
  type ServiceInstanceStatus,
  type ServiceLeaderStatus,
} from "./lib/status/status.ts";
export { type AeadKey } from "./lib/crypto/types.ts";
export { type Datagram, type UserspaceDropReason } from "./drivers/userspace.ts";
export {
  type PolicyAction,
  type PolicyDefaults,
  type PolicyProto,
  type PolicyRule,
  type PolicyTest,
  type Segment,
} from "./lib/policy/schema.ts";
export { type ExplainEndpoint, type ExplainQos } from "./lib/policy/explain.ts";
export { type DirectionCounts } from "./lib/policy/filter.ts";
export { type ConntrackStats } from "./lib/policy/conntrack.ts";
export { type MeshLinkView } from "./lib/status/mesh_status.ts";
export { type DnsQuestion } from "./lib/dns/message.ts";
export { type QueryContext, type ZoneAnswer } from "./lib/dns/zone.ts";
export { type KvStore } from "./lib/store/kv.ts";
export { type StoreHealth, type StoreSnapshot } from "./lib/mesh/store/store.ts";
export { type LeaderFile } from "./lib/mesh/state/state.ts";
export { type SelectorTerm } from "./lib/policy/selector.ts";
export { SEGMENT_DRIVERS, type SegmentPlan } from "./lib/segments/segments.ts";
export { type CheckTarget } from "./lib/members/service_backends.ts";
export { type SubscriptionEntry } from "./lib/services/wire.ts";
export { type RemoteSubscriptions } from "./lib/services/subscription_table.ts";
export { type ActionSpec } from "./lib/services/local.ts";
export { type PublishMode } from "./lib/services/pubsub.ts";
export { type AnnounceResult, type ServiceEvent } from "./lib/services/subscription.ts";
export { type TopicPattern } from "./lib/services/topics.ts";
export { type LeaseClientStats } from "./lib/services/lease/client.ts";
export { type ArbiterStats } from "./lib/services/lease/arbiter.ts";
export { type OutOfRotation } from "./lib/services/instances.ts";
export { type ServiceCallSeries } from "./lib/services/metrics.ts";
export {
  type HostResolvers,
  type SystemDnsMode,
  type SystemDnsRestored,
  type SystemDnsSettings,
} from "./lib/net/system_dns.ts";
export { type LanAnnouncerOptions } from "./lib/nat/announce.ts";
export {
  type DefaultRouteConfig,
  type ForwardingConfig,
  type RouteCounters,
} from "./lib/routes/forwarding.ts";
export { type UdpOffloadStats } from "./lib/io/stats.ts";
export { type MetricType } from "./lib/metrics/registry.ts";
export { type PortRange } from "./lib/policy/schema.ts";
export { type QosClass, type RuleQos } from "./lib/policy/qos.ts";
export { type ResourceRecord } from "./lib/dns/message.ts";
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
} from "./lib/store/kv.ts";
export { type StoredToken } from "./lib/mesh/join/token.ts";
export { type JoinRecord, type LeftRecord } from "./lib/mesh/state/state.ts";
export { type LeaseRecord } from "./lib/services/lease/book.ts";
export { type LabelMatch } from "./lib/policy/selector.ts";
export { type ActionHandler } from "./lib/services/local.ts";
export { type LeaseRefusal } from "./lib/services/lease/arbiter.ts";
export { type AnnounceSocket, type LanPeer } from "./lib/nat/announce.ts";
export { type RecordData } from "./lib/dns/message.ts";
export { type Compare, type TxnOp, type TxnResult } from "./lib/store/kv.ts";
export { type LabelOp } from "./lib/policy/selector.ts";
export { type CallContext } from "./lib/services/local.ts";
export { type SoaData } from "./lib/dns/message.ts";
