/**
 * weft: an encrypted, WireGuard-compatible overlay mesh in TypeScript.
 *
 * This entry holds what embedding an agent takes: {@link Agent} (one interface),
 * {@link MeshAgent} (a node of a mesh: start and close, status, ping, the members and their
 * changes, the leader's tokens and policy, runtime settings, and `services` to provide and call
 * services, publish and subscribe), {@link serveControl} (the HTTP API the `weft` commands
 * drive), keys, the configuration loader and logging. The parts have entries of their own:
 * `@weft/weft/agent`, `/mesh`, `/services`, `/control` (the client that drives a running agent),
 * `/device`, `/drivers`, `/crypto`, `/config`, `/dns`, `/policy`, `/status`, `/uapi` and `/demo`.
 *
 * @example A mesh leader in a program: a service, the status, and the `weft` commands' API
 * ```ts run
 * import { MeshAgent, serveControl } from "@weft/weft";
 * import { ControlClient } from "@weft/weft/control";
 *
 * const mesh = await MeshAgent.start({
 *   role: "leader",
 *   hostname: "hq",
 *   stateDir: await Deno.makeTempDir(), // its key and members, kept across restarts
 *   userspace: true, // no TUN, no root
 *   listenPort: 52820,
 *   dnsPort: 0, // no DNS server
 *   lanDiscovery: false, // no announcements on the LAN
 * });
 * mesh.services.provide("greeter", { hello: (who) => `hello ${who}` });
 * console.log(await mesh.services.request("greeter/hello", "bo")); // prints: hello bo
 * const { node } = mesh.status();
 * console.log(node.name, node.addresses); // prints: hq [ "10.200.0.1/16" ]
 * // What `weft --leader` serves for the other `weft` commands (here on a free port); the
 * // token is what the agent writes to control.token in its state directory.
 * const token = crypto.randomUUID();
 * const server = serveControl(mesh, { listen: "127.0.0.1:0", token });
 * const client = new ControlClient(server.address, token);
 * console.log(await client.call("greeter/hello", "ann", { timeoutMs: 2000 })); // prints: hello ann
 * await server.close();
 * await mesh.close();
 * ```
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
  type EnvReader,
  JoinError,
  LeaderError,
  MeshAgent,
  type MeshOptions,
  type NoProxyRule,
  proxyFromEnv,
  type ProxySetting,
  type ProxyUrl,
} from "./lib/mesh/mod.ts";
export { meshOptionsFromConfig, meshRoleFromConfig } from "./lib/mesh/mesh_config.ts";
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
export {
  type ControlServer,
  type ControlServerOptions,
  serveControl,
} from "./lib/control/server.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export type {
  ConfiguredService,
  OptionKey,
  OptionOrigin,
  OptionOrigins,
  ServiceCheckEntry,
} from "./lib/config/agent_types.ts";
export type { PolicySource } from "./lib/config/yaml_source.ts";
export type { BackendName, Dh } from "./lib/crypto/types.ts";
export type { DropReason } from "./lib/device/drops.ts";
export { DROP_REASONS } from "./lib/device/drops.ts";
export type { DeviceEvent, PeerConfig } from "./lib/device/types.ts";
export type { MeshDnsOptions } from "./lib/dns/mesh_dns.ts";
export type { HealthEvent, HealthListener } from "./lib/health/health.ts";
export type { HealthState } from "./lib/health/state.ts";
export type { LabelPair } from "./lib/members/labels.ts";
export type { Member, MemberGrants, MembershipView, ServiceSpec } from "./lib/members/member.ts";
export type {
  CallerLimitSpec,
  CheckTarget,
  HttpBackendSpec,
  ServiceCheckSpec,
} from "./lib/members/service_backends.ts";
export type { JoinClientOptions } from "./lib/mesh/join/client.ts";
export type { GrantChange } from "./lib/mesh/leader/grants.ts";
export type { LeaderOptions, PolicyApplied } from "./lib/mesh/leader/service.ts";
export type { CreatedToken, TokenOptions } from "./lib/mesh/leader/token_text.ts";
export type { MeshRole } from "./lib/mesh/mesh_agent.ts";
export type { MeshConfigDeps } from "./lib/mesh/mesh_config.ts";
export type { LanDiscoveryOptions } from "./lib/mesh/nat/lan.ts";
export type { NatOptions } from "./lib/mesh/nat/mesh_paths.ts";
export type { PqOptions } from "./lib/mesh/pq/mesh_pq.ts";
export type { MeshIdentityOptions, MeshUnderlayOptions } from "./lib/mesh/options/options.ts";
export type { PeersOptions } from "./lib/mesh/peers/peers.ts";
export type { Prefs, PrefsChange, PrefSettings } from "./lib/mesh/prefs.ts";
export type { SegmentsOptions } from "./lib/mesh/segments/segments.ts";
export type { SubnetOptions } from "./lib/mesh/subnets/accepted.ts";
export type { NodeSyncOptions } from "./lib/mesh/sync/node_sync.ts";
export type { HeapFigures, ProcessFigures } from "./lib/metrics/process.ts";
export type {
  Collector,
  HistogramFigures,
  LabelValues,
  MetricFamily,
  MetricSink,
  MetricType,
} from "./lib/metrics/registry.ts";
export type { DnsRoute } from "./lib/net/dns_route.ts";
export type { SegmentMember, SegmentSpec, SegmentView } from "./lib/policy/segment_admin.ts";
export type { LabelMatch, LabelOp, Selector, SelectorTerm } from "./lib/policy/selector.ts";
export type { VersionedPolicy } from "./lib/policy/source.ts";
export type { SelectorWire } from "./lib/policy/wire.ts";
export type { SegmentDriverName } from "./lib/segments/segments.ts";
export { SEGMENT_DRIVERS } from "./lib/segments/segments.ts";
export type { CallerLimitOptions } from "./lib/services/caller_limits.ts";
export type { RequestOptions } from "./lib/services/client.ts";
export type { HttpBackendOptions } from "./lib/services/http_backend.ts";
export type { OutOfRotation, ServiceInstance } from "./lib/services/instances.ts";
export type { LeaseTiming } from "./lib/services/lease/protocol.ts";
export type {
  LeaseOptions,
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
  ServiceSummary,
} from "./lib/services/mesh_services.ts";
export type { PublishMode, PublishOptions, PublishResult } from "./lib/services/pubsub.ts";
export type {
  AnnounceResult,
  ServiceEvent,
  SubscribeOptions,
  Subscription,
} from "./lib/services/subscription.ts";
export type { TopicPattern } from "./lib/services/topics.ts";
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
  PqPeerStatus,
  RouteStatus,
  SegmentStatus,
  ServiceCallsStatus,
  ServiceInstanceStatus,
  ServiceLeaderStatus,
  ServiceStatus,
  StoreStatus,
} from "./lib/status/status.ts";
export type { OutliersOptions } from "./lib/services/outliers.ts";
export type { RetryBudgetOptions } from "./lib/services/retry_budget.ts";
export type { InflightOptions } from "./lib/services/inflight.ts";
export type { PluginsOptions } from "./lib/mesh/plugins/plugins.ts";
export type { PluginPermission, PluginPermissions, PluginSpec } from "./lib/config/plugins.ts";
export type { PluginTiming } from "./lib/mesh/plugins/host.ts";
