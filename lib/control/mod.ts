/**
 * The client of a running agent's control API: what every `weft` command but `up`, `demo` and
 * the key commands uses to drive an agent over HTTP (its unix socket or TCP), with the service
 * views its answers carry. The agent serves it with `serveControl` of `@weft/weft`.
 *
 * @example Drive a running mesh agent: its status, a ping, a service call
 * ```ts run
 * import { MeshAgent, serveControl } from "@weft/weft";
 * import { ControlClient } from "@weft/weft/control";
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
 * const server = serveControl(mesh, { listen: "127.0.0.1:0", token });
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

export { AgentAnswerError, ControlClient, type NodeList, type ReceivedDatagram } from "./client.ts";
export type { ServiceLeaderView, ServiceView } from "./routes/services.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export type { PeerPath, PingResult } from "../agent/agent_options.ts";
export type { DropReason } from "../device/drops.ts";
export { DROP_REASONS } from "../device/drops.ts";
export type { HealthState } from "../health/state.ts";
export type { Member, MemberGrants, ServiceSpec } from "../members/member.ts";
export type { StoredToken, TokenView } from "../mesh/join/token.ts";
export type { NodeRoutes } from "../mesh/leader/routes.ts";
export type { Prefs, PrefSettings } from "../mesh/prefs.ts";
export type { HeapFigures, ProcessFigures } from "../metrics/process.ts";
export type { PolicyAction } from "../policy/model.ts";
export type { CallExplanation, CallQuery } from "../policy/calls.ts";
export type { SegmentMember, SegmentSpec, SegmentView } from "../policy/segment_admin.ts";
export type { LabelMatch, LabelOp, Selector, SelectorTerm } from "../policy/selector.ts";
export type { SelectorWire } from "../policy/wire.ts";
export type { SegmentDriverName } from "../segments/segments.ts";
export { SEGMENT_DRIVERS } from "../segments/segments.ts";
export type { RequestOptions } from "../services/client.ts";
export type { PublishMode, PublishResult } from "../services/pubsub.ts";
export type { ServiceEvent } from "../services/subscription.ts";
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
