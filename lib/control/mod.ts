/**
 * The control API of a running agent: the client that drives it over HTTP (what every `weft`
 * command but `up`, `demo` and the key commands uses) and the server that answers, with the
 * JSON forms of service answers and events.
 *
 * @example Serve an agent's control API and drive it: its status, a ping, a service call
 * ```ts run
 * import { MeshAgent } from "@weft/weft";
 * import { ControlClient, serveControl } from "@weft/weft/control";
 *
 * const mesh = await MeshAgent.start({
 *   role: "leader",
 *   hostname: "hq",
 *   stateDir: await Deno.makeTempDir(),
 *   userspace: true, // no TUN
 *   listenPort: 52820,
 *   dnsPort: 0, // no DNS server
 *   lanDiscovery: false, // no announcements on the LAN
 * });
 * mesh.services.provide("greeter", { hello: (who) => `hello ${who}` });
 * // What `weft --leader` serves on 127.0.0.1:51880 (here a free port) for the other `weft`
 * // commands; the token is what the agent writes to control.token in its state directory.
 * const token = crypto.randomUUID();
 * const server = serveControl(mesh.agent, { listen: "127.0.0.1:0", token, mesh });
 * const client = new ControlClient(server.address, token);
 * const { node } = await client.status();
 * console.log(node.name, node.addresses); // prints: hq [ "10.200.0.1/16" ]
 * const { rtts } = await client.ping("10.200.0.1", { count: 1 });
 * console.log(rtts.length); // prints: 1
 * console.log(await client.call("greeter/hello", "ann", { timeoutMs: 2000 })); // prints: hello ann
 * await server.close();
 * await mesh.close();
 * ```
 * @module
 */

export { AgentAnswerError, ControlClient, type ReceivedDatagram } from "./client.ts";
export { type ControlServer, type ControlServerOptions, serveControl } from "./server.ts";
export { type ServiceLeaderView, type ServiceView } from "./routes/services.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export { type Member } from "../members/member.ts";
export { type Prefs, type PrefSettings } from "../mesh/prefs.ts";
export { type NodeRoutes } from "../mesh/leader/routes.ts";
export { type TokenView } from "../mesh/join/token.ts";
export { type SegmentSpec, type SegmentView } from "../policy/segment_admin.ts";
export { type RequestOptions } from "../services/client.ts";
export { type PublishMode, type PublishResult } from "../services/pubsub.ts";
export { type ServiceEvent } from "../services/subscription.ts";
export { type NodeStatus, type PeerStatus } from "../status/status.ts";
export { type Agent, type PingResult } from "../agent/agent.ts";
export { type MeshAgent } from "../mesh/mesh_agent.ts";
export { type Logger } from "../log/logger.ts";
export { type BoundControl } from "./server.ts";
export { type ListenerStats } from "../net/conn_guard.ts";
export { type MemberGrants, type MembershipView, type ServiceSpec } from "../members/member.ts";
export { type StoredToken } from "../mesh/join/token.ts";
export { type SelectorWire } from "../policy/schema.ts";
export { type Selector } from "../policy/selector.ts";
export { type SegmentDriverName } from "../segments/segments.ts";
export { type SegmentMember } from "../policy/segment_admin.ts";
export { type ProcessFigures } from "../metrics/process.ts";
export { type DropReason } from "../device/drops.ts";
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
export { type HealthState } from "../health/state.ts";
export { type ControlledAgent, type MeshDatagram, type PeerPath } from "../agent/agent.ts";
export { type Device } from "../device/device.ts";
export { type UserspaceStack } from "../../drivers/userspace.ts";
export { type HealthTracker, type PeerHealth } from "../health/health.ts";
export { type MetricsRegistry } from "../metrics/registry.ts";
export { type TcpStats } from "../io/stats.ts";
export { type MeshRole } from "../mesh/mesh_agent.ts";
export { type PolicyEngine } from "../policy/engine.ts";
export { type PolicyFilter } from "../policy/filter.ts";
export { type MeshStatus } from "../status/mesh_status.ts";
export { type DnsServer } from "../dns/server.ts";
export { type VersionedPolicy } from "../policy/source.ts";
export {
  type CreatedToken,
  type PolicyApplied,
  type TokenOptions,
} from "../mesh/leader/service.ts";
export { type GrantChange } from "../mesh/leader/grants.ts";
export { type PrefsChange } from "../mesh/prefs.ts";
export { type MeshServices } from "../services/mesh_services.ts";
export { type LogFields, type LogLevel } from "../log/logger.ts";
export { type SelectorTerm } from "../policy/selector.ts";
export { SEGMENT_DRIVERS } from "../segments/segments.ts";
export { type HeapFigures } from "../metrics/process.ts";
export { DROP_REASONS, type DropCounters } from "../device/drops.ts";
export {
  type ExitNodeState,
  type ServiceInstanceStatus,
  type ServiceLeaderStatus,
} from "../status/status.ts";
export {
  type DeviceEvent,
  type DeviceStats,
  type HeldPacketSink,
  type PacketFilter,
  type PeerConfig,
} from "../device/types.ts";
export { type Endpoint, type PacketDevice, type PacketSink } from "../io/driver.ts";
export { type Aead, type Dh } from "../crypto/types.ts";
export { type ProtocolTimers } from "../protocol/constants.ts";
export {
  type DatagramIterator,
  type PingOptions,
  type UdpAddress,
  type UdpSocket,
  type UserspaceStats,
} from "../../drivers/userspace.ts";
export { type HistogramSnapshot } from "../health/histogram.ts";
export { type HealthEvent, type HealthListener, type HealthOptions } from "../health/health.ts";
export { type Collector } from "../metrics/registry.ts";
export { type TcpSendDrop, type TransportStats } from "../io/stats.ts";
export { type PolicyDocument } from "../policy/schema.ts";
export { type RateCounts } from "../policy/qos.ts";
export { type ExplainQuery, type Explanation } from "../policy/explain.ts";
export { type FilterExplanation, type PolicyStats } from "../policy/filter.ts";
export { type MeshLinkStatus, type MeshMemberStatus } from "../status/mesh_status.ts";
export { type DnsZone } from "../dns/zone.ts";
export { type DnsStats } from "../dns/stats.ts";
export { type ProvidedService, type ServiceActions } from "../services/local.ts";
export { type HttpBackendSpec, type ServiceCheckSpec } from "../members/service_backends.ts";
export { type HttpBackendOptions } from "../services/http_backend.ts";
export { type PublishOptions } from "../services/pubsub.ts";
export { type SubscribeOptions, type Subscription } from "../services/subscription.ts";
export {
  type LeaseStats,
  type ServiceLeader,
  type ServiceLeaderChange,
  type ServiceLease,
} from "../services/lease/runtime.ts";
export { type ServiceInstance } from "../services/instances.ts";
export { type ServicesStatus, type ServiceSummary } from "../services/mesh_services.ts";
export { type ServiceMetrics } from "../services/metrics.ts";
export { type LabelMatch } from "../policy/selector.ts";
export { type PacketDriverStats } from "../io/driver.ts";
export { type AeadKey, type BackendName } from "../crypto/types.ts";
export { type Datagram, type UserspaceDropReason } from "../../drivers/userspace.ts";
export { type MetricSink } from "../metrics/registry.ts";
export {
  type PolicyAction,
  type PolicyDefaults,
  type PolicyProto,
  type PolicyRule,
  type PolicyTest,
  type Segment,
} from "../policy/schema.ts";
export { type ExplainEndpoint, type ExplainQos } from "../policy/explain.ts";
export { type DirectionCounts } from "../policy/filter.ts";
export { type ConntrackStats } from "../policy/conntrack.ts";
export { type MeshLinkView } from "../status/mesh_status.ts";
export { type DnsQuestion } from "../dns/message.ts";
export { type QueryContext, type ZoneAnswer } from "../dns/zone.ts";
export { type ActionSpec } from "../services/local.ts";
export { type CheckTarget } from "../members/service_backends.ts";
export { type TopicPattern } from "../services/topics.ts";
export { type AnnounceResult } from "../services/subscription.ts";
export { type LeaseClientStats } from "../services/lease/client.ts";
export { type ArbiterStats } from "../services/lease/arbiter.ts";
export { type OutOfRotation } from "../services/instances.ts";
export { type SubscriptionEntry } from "../services/wire.ts";
export { type RemoteSubscriptions } from "../services/subscription_table.ts";
export { type ServiceCallSeries } from "../services/metrics.ts";
export { type LabelOp } from "../policy/selector.ts";
export { type HistogramFigures, type LabelValues, type MetricFamily } from "../metrics/registry.ts";
export { type PortRange } from "../policy/schema.ts";
export { type QosClass, type RuleQos } from "../policy/qos.ts";
export { type ResourceRecord } from "../dns/message.ts";
export { type ActionHandler } from "../services/local.ts";
export { type LeaseRefusal } from "../services/lease/arbiter.ts";
export { type MetricType } from "../metrics/registry.ts";
export { type RecordData } from "../dns/message.ts";
export { type CallContext } from "../services/local.ts";
export { type SoaData } from "../dns/message.ts";
