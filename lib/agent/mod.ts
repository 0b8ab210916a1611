/**
 * The agent: one WireGuard-compatible interface (a device, its transports, the userspace stack or
 * a TUN) run from options or from a wg-quick file, with wg-quick's hooks and weft's V8 flags; and
 * weft as wg-quick's userspace implementation (`weft wireguard`: {@linkcode WireguardInterface},
 * {@linkcode startInBackground}).
 *
 * @example An agent in userspace mode, and what it says about itself
 * ```ts run
 * import { Agent } from "@weft/weft/agent";
 * import { generateKeyPair } from "@weft/weft/crypto";
 *
 * const { privateKey } = generateKeyPair();
 * // Userspace mode (the default): no TUN and no root; the overlay lives in this process.
 * const agent = await Agent.start({ privateKey, addresses: ["10.9.0.1/24"], listenPort: 52001 });
 * const { node, peers } = agent.status(); // the document `weft status` shows
 * console.log(node.mode, node.addresses, node.listenPort, peers.length);
 * // prints: userspace [ "10.9.0.1/24" ] 52001 0
 * await agent.close();
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
} from "./agent.ts";
export { JIT_V8_FLAGS, JIT_V8_FLAGS_ARG } from "./jit.ts";
export { selfCommand } from "./self.ts";
export {
  type BackgroundOptions,
  startInBackground,
  type WireguardEnd,
  WireguardInterface,
  type WireguardOptions,
  wireguardWrapper,
} from "./wireguard.ts";
export {
  agentOptionsFromWgQuick,
  checkWgQuickSupport,
  type WgQuickAgentOptions,
  type WgQuickRunContext,
} from "./wgquick_agent.ts";
export { WgQuickUp, type WgQuickUpOptions } from "./wgquick_up.ts";
export { HookError, type HookStage } from "./hooks.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export type {
  WgQuickConfig,
  WgQuickEndpoint,
  WgQuickInterface,
  WgQuickPeer,
} from "../config/wgquick.ts";
export type { BackendName } from "../crypto/types.ts";
export type { NoProxyRule, ProxySetting, ProxyUrl } from "../net/proxy.ts";
export type { DropReason } from "../device/drops.ts";
export { DROP_REASONS } from "../device/drops.ts";
export type { DeviceEvent, PeerConfig } from "../device/types.ts";
export type { HealthEvent, HealthListener } from "../health/health.ts";
export type { HealthState } from "../health/state.ts";
export type { LogFields, Logger, LogLevel } from "../log/logger.ts";
export type { HeapFigures, ProcessFigures } from "../metrics/process.ts";
export type {
  Collector,
  HistogramFigures,
  LabelValues,
  MetricFamily,
  MetricSink,
  MetricType,
} from "../metrics/registry.ts";
export type { DefaultRouteConfig, DefaultRouting } from "../routes/forwarding.ts";
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
} from "../status/status.ts";
