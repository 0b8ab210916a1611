/**
 * What a running agent says about itself: the status document (`GET /status`, `weft status`),
 * the peers' health, and the table `weft status` prints (the `/metrics` registry is `@weft/weft/metrics`).
 *
 * @example A running agent's status as `weft status` prints it
 * ```ts
 * import { formatStatusTable } from "@weft/weft/status";
 * import type { Agent } from "@weft/weft";
 *
 * declare const agent: Agent;
 * console.log(formatStatusTable(agent.status()));
 * ```
 * @module
 */

export type {
  NodeStatus,
  PathCandidateStatus,
  PeerStatus,
  ServiceInstanceStatus,
  ServiceLeaderStatus,
  ServiceStatus,
} from "./status.ts";
export type { MeshLinkStatus, MeshLinkView, MeshMemberStatus, MeshStatus } from "./mesh_status.ts";
export type { ListenerStats } from "../net/conn_guard.ts";
export type { HistogramSnapshot } from "../health/histogram.ts";
export type { ServiceCallSeries, ServiceMetrics } from "../services/metrics.ts";
export { formatStatusTable, formatTable } from "./table.ts";
export {
  type HealthEvent,
  type HealthListener,
  type HealthOptions,
  type HealthState,
  HealthTracker,
  type PeerHealth,
} from "../health/health.ts";
