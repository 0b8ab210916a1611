/**
 * What a running agent says about itself: the status document (`GET /status`, `weft status`),
 * the peers' health, and the table `weft status` prints (the `/metrics` registry is `@weft/weft/metrics`).
 *
 * @example A running agent's status as `weft status` prints it
 * ```ts run
 * import { Agent, generateKeyPair, serveControl } from "@weft/weft";
 * import { ControlClient } from "@weft/weft/control";
 * import { formatStatusTable } from "@weft/weft/status";
 *
 * const agent = await Agent.start({
 *   privateKey: generateKeyPair().privateKey,
 *   addresses: ["10.9.0.1/24"],
 *   listenPort: 52001,
 *   mode: "userspace",
 * });
 * const server = serveControl(agent, { listen: "127.0.0.1:0" }); // what `weft status` asks
 * const table = formatStatusTable(await new ControlClient(server.address).status());
 * console.log(table.split("\n").filter((l) => /^(addresses|listening) /.test(l)).join("\n"));
 * // prints: addresses  10.9.0.1/24
 * // prints: listening  udp/52001  mode=userspace  interface=userspace  mtu=1420
 * await server.close();
 * await agent.close();
 * ```
 * @module
 */

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
} from "./status.ts";
export type { MeshLinkStatus, MeshLinkView, MeshMemberStatus, MeshStatus } from "./mesh_status.ts";
export { formatStatusTable, formatTable } from "./table.ts";
export type { HealthEvent, HealthListener } from "../health/health.ts";
export type { HealthState } from "../health/state.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export type { DropReason } from "../device/drops.ts";
export { DROP_REASONS } from "../device/drops.ts";
export type { HeapFigures, ProcessFigures } from "../metrics/process.ts";
