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
  type AgentParts,
  type ControlledAgent,
  type MeshDatagram,
  type NodeIdentity,
  type PeerIdentity,
  type PeerPath,
  type PingResult,
  type ProbeFn,
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
export { runningWgQuickConfig, WgQuickUp, type WgQuickUpOptions } from "./wgquick_up.ts";
export { HookError, type HookStage } from "./hooks.ts";
export type { DefaultRouteConfig, DefaultRouting } from "../routes/forwarding.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export { type PacketFilter, type PeerConfig } from "../device/types.ts";
export { type BackendName } from "../crypto/types.ts";
export { type ProtocolTimers } from "../protocol/constants.ts";
export { type Logger } from "../log/logger.ts";
export { type Endpoint, type PacketDevice, type Transport } from "../io/driver.ts";
export { type HealthOptions, type HealthTracker, type PeerHealth } from "../health/health.ts";
export { type Collector, type MetricsRegistry } from "../metrics/registry.ts";
export { type NodeStatus, type PeerStatus } from "../status/status.ts";
export { type UserspaceStack } from "../../drivers/userspace.ts";
export { type Device } from "../device/device.ts";
export { type ListenerStats } from "../net/conn_guard.ts";
export { type TcpStats } from "../io/stats.ts";
export { type WgQuickConfig } from "../config/wgquick.ts";
export { type DeviceEvent, type DeviceStats, type HeldPacketSink } from "../device/types.ts";
export { type LogFields, type LogLevel } from "../log/logger.ts";
export {
  type DatagramSink,
  type PacketDriverStats,
  type PacketSink,
  type TransportDriverStats,
} from "../io/driver.ts";
export { type HealthState } from "../health/state.ts";
export { type HistogramSnapshot } from "../health/histogram.ts";
export { type HealthEvent, type HealthListener } from "../health/health.ts";
export { type MetricSink } from "../metrics/registry.ts";
export { type ProcessFigures } from "../metrics/process.ts";
export { type DropCounters, type DropReason } from "../device/drops.ts";
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
export {
  type DatagramIterator,
  type PingOptions,
  type UdpAddress,
  type UdpSocket,
  type UserspaceStats,
} from "../../drivers/userspace.ts";
export { type Aead, type Dh } from "../crypto/types.ts";
export { type TcpSendDrop, type TransportStats } from "../io/stats.ts";
export { type WgQuickInterface, type WgQuickPeer } from "../config/wgquick.ts";
export { type DualDriverStats, type TcpDriverStats, type UdpDriverStats } from "../io/driver.ts";
export { type HistogramFigures, type LabelValues, type MetricFamily } from "../metrics/registry.ts";
export { type HeapFigures } from "../metrics/process.ts";
export { DROP_REASONS } from "../device/drops.ts";
export {
  type ExitNodeState,
  type ServiceInstanceStatus,
  type ServiceLeaderStatus,
} from "../status/status.ts";
export { type Datagram, type UserspaceDropReason } from "../../drivers/userspace.ts";
export { type AeadKey } from "../crypto/types.ts";
export { type WgQuickEndpoint } from "../config/wgquick.ts";
export { type UdpOffloadStats } from "../io/stats.ts";
export { type MetricType } from "../metrics/registry.ts";
