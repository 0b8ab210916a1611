/**
 * The control API of a running agent: the client that drives it over HTTP (what every `weft`
 * command but `up`, `demo` and the key commands uses) and the server that answers, with the
 * service views its answers carry.
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
export type { Endpoint, PacketDevice, PacketDriverStats, PacketSink } from "../io/driver.ts";
export type { TcpSendDrop, TcpStats, TransportStats } from "../io/stats.ts";
export type { LogFields, Logger, LogLevel } from "../log/logger.ts";
export type { Member, MemberGrants, MembershipView, ServiceSpec } from "../members/member.ts";
export type {
  CheckTarget,
  HttpBackendSpec,
  ServiceCheckSpec,
} from "../members/service_backends.ts";
export type { StoredToken, TokenView } from "../mesh/join/token.ts";
export type { GrantChange } from "../mesh/leader/grants.ts";
export type { NodeRoutes } from "../mesh/leader/routes.ts";
export type { CreatedToken, PolicyApplied, TokenOptions } from "../mesh/leader/service.ts";
export type { MeshAgent, MeshRole } from "../mesh/mesh_agent.ts";
export type { Prefs, PrefsChange, PrefSettings } from "../mesh/prefs.ts";
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
export type { ConntrackStats } from "../policy/conntrack.ts";
export type { PolicyEngine } from "../policy/engine.ts";
export type { ExplainEndpoint, ExplainQos, ExplainQuery, Explanation } from "../policy/explain.ts";
export type {
  DirectionCounts,
  FilterExplanation,
  PolicyFilter,
  PolicyStats,
} from "../policy/filter.ts";
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
export type { VersionedPolicy } from "../policy/source.ts";
export type { ProtocolTimers } from "../protocol/constants.ts";
export type { SegmentDriverName } from "../segments/segments.ts";
export { SEGMENT_DRIVERS } from "../segments/segments.ts";
export type { RequestOptions } from "../services/client.ts";
export type { HttpBackendOptions } from "../services/http_backend.ts";
export type { OutOfRotation, ServiceInstance } from "../services/instances.ts";
export type { ArbiterStats, LeaseRefusal } from "../services/lease/arbiter.ts";
export type { LeaseClientStats } from "../services/lease/client.ts";
export type {
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
export type { MeshServices, ServicesStatus, ServiceSummary } from "../services/mesh_services.ts";
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
  PluginStatus,
  RouteStatus,
  SegmentStatus,
  ServiceInstanceStatus,
  ServiceLeaderStatus,
  ServiceStatus,
  StoreStatus,
} from "../status/status.ts";
export type { BoundControl } from "./server.ts";
