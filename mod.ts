/**
 * weft: an encrypted, WireGuard-compatible overlay mesh in TypeScript.
 *
 * Embed an agent, drive a running one, or use the parts (device, transports, userspace stack,
 * crypto backends, config parsers) on their own.
 *
 * @example Two agents in one program, talking over loopback in userspace mode
 * ```ts
 * import { Agent, generateKeyPair } from "@weft/weft";
 *
 * const a = generateKeyPair(), b = generateKeyPair();
 * const agentA = await Agent.start({
 *   privateKey: a.privateKey, addresses: ["10.9.0.1/24"], listenPort: 52001,
 *   peers: [{ publicKey: b.publicKey, endpoint: "127.0.0.1:52002", allowedIps: ["10.9.0.2/32"] }],
 * });
 * const agentB = await Agent.start({
 *   privateKey: b.privateKey, addresses: ["10.9.0.2/24"], listenPort: 52002,
 *   peers: [{ publicKey: a.publicKey, endpoint: "127.0.0.1:52001", allowedIps: ["10.9.0.1/32"] }],
 * });
 * agentB.listen(7000, (d) => console.log("got", new TextDecoder().decode(d.data)));
 * console.log(await agentA.ping("10.9.0.2"));
 * agentA.send("10.9.0.2", 7000, new TextEncoder().encode("hello"));
 * ```
 * @module
 */

export { Agent, type AgentMode, type AgentOptions, type UnderlayKind } from "./lib/agent/agent.ts";
export { JIT_V8_FLAGS, JIT_V8_FLAGS_ARG } from "./lib/agent/jit.ts";
export type {
  AgentParts,
  ControlledAgent,
  MeshDatagram,
  NodeIdentity,
  PeerIdentity,
  PingResult,
  ProbeFn,
} from "./lib/agent/agent.ts";
export {
  Device,
  type DeviceEvent,
  type DeviceOptions,
  type DeviceStats,
  type PacketFilter,
  type PeerConfig,
} from "./lib/device/device.ts";
export type {
  DatagramSink,
  Endpoint,
  PacketDevice,
  PacketSink,
  Transport,
} from "./lib/io/driver.ts";
export { type Clock, ManualClock, systemClock } from "./lib/device/clock.ts";
export { DROP_REASONS, type DropReason } from "./lib/device/drops.ts";
export { DEFAULT_TIMERS, type ProtocolTimers } from "./lib/protocol/constants.ts";
export type { Aead, AeadKey, BackendName, CryptoSuite, Dh } from "./lib/crypto/types.ts";
export { availableBackends, BACKEND_NAMES, selectSuite, suiteByName } from "./lib/crypto/select.ts";
export {
  encodeKey,
  generateKeyPair,
  generatePresharedKey,
  generatePrivateKey,
  parseKey,
  publicKeyOf,
} from "./lib/crypto/keys.ts";
export { ConfigError } from "./lib/config/config_error.ts";
export {
  interfaceNameFromPath,
  loadWgQuickFile,
  parseWgQuick,
  serializeWgQuick,
  type WgQuickConfig,
  type WgQuickInterface,
  type WgQuickPeer,
} from "./lib/config/wgquick.ts";
export {
  agentOptionsFromWgQuick,
  checkWgQuickSupport,
  type WgQuickAgentOptions,
  type WgQuickRunContext,
} from "./lib/agent/wgquick_agent.ts";
export { runningWgQuickConfig, WgQuickUp, type WgQuickUpOptions } from "./lib/agent/wgquick_up.ts";
export { HookError, type HookStage } from "./lib/agent/hooks.ts";
export {
  createLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type Logger,
  type LogLevel,
  nullLogger,
  parseLogFormat,
  parseLogLevel,
} from "./lib/log/logger.ts";
export {
  controlApp,
  type ControlServer,
  type ControlServerOptions,
  MAX_BODY_BYTES,
  serveControl,
} from "./lib/control/server.ts";
export { AgentAnswerError, ControlClient, type ReceivedDatagram } from "./lib/control/client.ts";
export {
  SERVICE_ERROR_STATUS,
  type ServiceLeaderView,
  type ServiceView,
} from "./lib/control/routes/services.ts";
export {
  ArgumentError,
  formatAnswer,
  formatLeader,
  formatPublishResult,
  formatServiceTable,
  parseJsonArgument,
  printEvents,
  type PrintEventsOptions,
  publishData,
  serviceErrorText,
} from "./lib/control/service_cli.ts";
export {
  DEFAULT_UAPI_DIR,
  serveUapi,
  type UapiServer,
  type UapiServerOptions,
} from "./lib/uapi/server.ts";
export type { NodeStatus, PeerStatus } from "./lib/status/status.ts";
export { UserspaceStack, type UserspaceStackOptions } from "./drivers/userspace.ts";
export { DenoUdpTransport } from "./drivers/udp_deno.ts";
export { type TcpOptions, TcpTransport } from "./drivers/tcp.ts";
export { type DualOptions, DualTransport } from "./drivers/dual.ts";
export { type LinuxUdpOptions, LinuxUdpTransport } from "./drivers/linux/udp.ts";
export { LinuxTun, type LinuxTunOptions, type TunConfig } from "./drivers/linux/tun.ts";
export { Poller, type PollerOptions } from "./drivers/linux/poller.ts";
export { MemoryNetwork, MemoryTransport } from "./drivers/memory.ts";
export { type Demo, type DemoOptions, runDemo } from "./lib/demo/demo.ts";
export { VERSION } from "./lib/version.ts";
export { JoinError, MeshAgent, type MeshOptions, type MeshRole } from "./lib/mesh/mesh_agent.ts";
export type { MeshIdentityOptions, MeshUnderlayOptions } from "./lib/mesh/options/options.ts";
export type { JoinClientOptions } from "./lib/mesh/join/client.ts";
export type { CreatedToken, LeaderOptions, TokenOptions } from "./lib/mesh/leader/service.ts";
export type { NodeSyncOptions } from "./lib/mesh/sync/node_sync.ts";
export type { PeersOptions } from "./lib/mesh/peers/peers.ts";
export type { MeshDnsOptions } from "./lib/dns/mesh_dns.ts";
export type {
  LeaseOptions,
  LeaseStats,
  ServiceLeader,
  ServiceLeaderChange,
  ServiceLease,
} from "./lib/services/lease/runtime.ts";
export { DEFAULT_LEASE_TIMING, type LeaseTiming } from "./lib/services/lease/protocol.ts";
export type { ArbiterStats, LeaseRecord, LeaseRefusal } from "./lib/services/lease/arbiter.ts";
export type { LeaseClientStats } from "./lib/services/lease/client.ts";
export {
  type MeshConfigDeps,
  meshControlFromConfig,
  type MeshControlOptions,
  meshOptionsFromConfig,
  meshRoleFromConfig,
} from "./lib/mesh/mesh_config.ts";
export { LeaderError, TOKEN_TTL_RANGE_MS } from "./lib/mesh/leader/core.ts";
export { NODE_LABEL_PREFIX } from "./lib/members/labels.ts";
export { grantedServicesProblem, MAX_GRANTED_SERVICES } from "./lib/members/services.ts";
export { type LeaderFile, type NodeFile, StateDir } from "./lib/mesh/state/state.ts";
export { compilePolicyText, policyFromConfig, type VersionedPolicy } from "./lib/policy/source.ts";
export type { NameLookup } from "./lib/net/resolve.ts";
export type { HealthState } from "./lib/health/state.ts";
export type { Member, MemberGrants, MembershipView, ServiceSpec } from "./lib/members/member.ts";
export { SERVICES_PORT } from "./lib/members/ports.ts";
export {
  MeshServices,
  type ServiceLayerOptions,
  type ServicesOptions,
  type ServicesStatus,
  type ServiceSummary,
} from "./lib/services/mesh_services.ts";
export {
  SERVICE_ERROR_CODES,
  ServiceError,
  type ServiceErrorCode,
  type ServiceErrorDetails,
} from "./lib/services/errors.ts";
export { parseServicePath, type RequestOptions } from "./lib/services/client.ts";
export type { PublishMode, PublishOptions, PublishResult } from "./lib/services/pubsub.ts";
export {
  type ServiceEvent,
  type SubscribeOptions,
  Subscription,
} from "./lib/services/subscription.ts";
export { patternProblem, TopicPattern, topicProblem } from "./lib/services/topics.ts";
export type {
  ActionHandler,
  ActionSpec,
  CallContext,
  ProvidedService,
  ServiceActions,
} from "./lib/services/local.ts";
export type { OutOfRotation, ServiceInstance } from "./lib/services/instances.ts";
export {
  type HttpBackendOptions,
  type HttpBackendSpec,
  parseServiceHttp,
} from "./lib/services/http_backend.ts";
export {
  type CheckTarget,
  parseServiceCheck,
  type ServiceCheckSpec,
} from "./lib/services/health_check.ts";
export {
  type CallerLimitOptions,
  type CallerLimitSpec,
  DEFAULT_CALLER_LIMIT,
  parseCallerLimit,
} from "./lib/services/caller_limits.ts";
export {
  decodeToken,
  encodeToken,
  type StoredToken,
  type TokenPayload,
} from "./lib/mesh/join/token.ts";
export {
  type HealthEvent,
  type HealthOptions,
  HealthTracker,
  type PeerHealth,
} from "./lib/health/health.ts";
export {
  type Collector,
  counter,
  gauge,
  histogram,
  type HistogramFigures,
  type LabelValues,
  MetricFamily,
  METRICS_CONTENT_TYPE,
  type MetricSink,
  MetricsRegistry,
  type MetricType,
  sampleCounts,
} from "./lib/metrics/registry.ts";
export type { ServiceCallSeries, ServiceMetrics } from "./lib/services/metrics.ts";
export { type DnsServer, type DnsServerOptions, serveDns } from "./lib/dns/server.ts";
export { DnsZone, type ZoneSource } from "./lib/dns/zone.ts";
export { MAX_POLICY_BYTES, parsePolicy, serializePolicy } from "./lib/policy/parse.ts";
export {
  InputTooLargeError,
  readFileBounded,
  readTextFileBounded,
  readUpTo,
} from "./lib/config/bounded_read.ts";
export { DirLock, DirLockedError, type DirLockOptions } from "./lib/config/dir_lock.ts";
export { type PolicyDocument, PolicyError, type PolicyRule } from "./lib/policy/schema.ts";
export { PolicyEngine } from "./lib/policy/engine.ts";
export { PolicyFilter, type PolicyStats } from "./lib/policy/filter.ts";
export { formatStatusTable, formatTable } from "./lib/status/table.ts";
export {
  type AgentConfig,
  type AgentFlags,
  defaultStateDir,
  type LabelPair,
  loadAgentConfig,
  type OptionHelp,
  optionHelp,
  type OptionKey,
  parseLabel,
  type PolicySource,
  type SystemInfo,
  userSetFlags,
  validateRunMode,
} from "./lib/config/agent_config.ts";
