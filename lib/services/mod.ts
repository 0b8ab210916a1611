/**
 * Services in the mesh: actions a node provides and any node calls (with health checks, leases
 * electing a leader per service and per-caller limits), and publish/subscribe on topics.
 *
 * @example Provide a service on one member, call it from another, and follow a topic
 * ```ts run
 * import { MeshAgent } from "@weft/weft/mesh";
 * import { ServiceError } from "@weft/weft/services";
 *
 * // Both in one program: no TUN, no DNS server, nothing announced on the LAN, only loopback.
 * const local = { userspace: true, dnsPort: 0, lanDiscovery: false, natTraversal: false } as const;
 * const hq = await MeshAgent.start({
 *   ...local,
 *   role: "leader",
 *   hostname: "hq",
 *   stateDir: await Deno.makeTempDir(),
 *   listenPort: 52820,
 *   advertise: ["127.0.0.1:52820"],
 * });
 * // A service is a set of actions; the mesh names each caller by its WireGuard identity.
 * const auth = hq.services.provide("auth", {
 *   login: (params, ctx) => ({ user: (params as { user: string }).user, by: ctx.callerName }),
 *   whoami: { handler: (_p, ctx) => ctx.callerName, idempotent: true }, // safe to run twice
 * });
 * const { token } = await hq.createToken({ ttlMs: 60_000 });
 * const app = await MeshAgent.start({
 *   ...local,
 *   role: "node",
 *   token,
 *   hostname: "app",
 *   stateDir: await Deno.makeTempDir(),
 *   listenPort: 52830,
 *   advertise: ["127.0.0.1:52830"],
 * });
 *
 * // A call, by service name: whichever member offers it answers, through the tunnel.
 * const r = await app.services.request("auth/login", { user: "ann" }, { timeoutMs: 5000 });
 * console.log(r); // prints: { user: "ann", by: "app" }
 * try {
 *   await app.services.request("billing/charge", { cents: 100 }, { retries: 0 });
 * } catch (e) {
 *   if (e instanceof ServiceError) console.log(e.code); // prints: no-instance
 * }
 *
 * // Events: a subscription (`*` one segment, a last `>` the rest), and a publish to every member.
 * const sub = app.services.subscribe("status/*");
 * await sub.announced; // the other members hold it now: what they publish reaches it
 * const { unacked } = await hq.services.publish("status/updated", { load: 0.4 });
 * console.log(unacked); // prints: []
 * for await (const ev of sub) {
 *   console.log(ev.topic, ev.publisher, ev.data); // prints: status/updated hq { load: 0.4 }
 *   break; // leaving the loop ends the subscription
 * }
 * auth.close(); // hq stops providing it
 * await app.close();
 * await hq.close();
 * ```
 * @module
 */

export {
  MeshServices,
  type ServiceLayerOptions,
  type ServicesOptions,
  type ServiceSummary,
} from "./mesh_services.ts";
export {
  SERVICE_ERROR_CODES,
  ServiceError,
  type ServiceErrorCode,
  type ServiceErrorDetails,
} from "./errors.ts";
export { parseServicePath, type RequestOptions } from "./client.ts";
export type { PublishMode, PublishOptions, PublishResult } from "./pubsub.ts";
export {
  type AnnounceResult,
  type ServiceEvent,
  type SubscribeOptions,
  Subscription,
} from "./subscription.ts";
export { patternProblem, TopicPattern, topicProblem } from "./topics.ts";
export type {
  ActionHandler,
  ActionSpec,
  CallContext,
  ProvidedService,
  ServiceActions,
} from "./local.ts";
export type { OutOfRotation, ServiceInstance } from "./instances.ts";
export type { Ejection, OutliersOptions } from "./outliers.ts";
export type { RetryBudgetOptions } from "./retry_budget.ts";
export type { ResilienceMetrics } from "./resilience_stats.ts";
export { type HttpBackendOptions, type HttpBackendSpec, parseServiceHttp } from "./http_backend.ts";
export { type CheckTarget, parseServiceCheck, type ServiceCheckSpec } from "./health_check.ts";
export {
  type CallerLimitOptions,
  type CallerLimitSpec,
  DEFAULT_CALLER_LIMIT,
  parseCallerLimit,
} from "./caller_limits.ts";
export type {
  LeaseOptions,
  ServiceLeader,
  ServiceLeaderChange,
  ServiceLease,
} from "./lease/runtime.ts";
export { DEFAULT_LEASE_TIMING, type LeaseTiming } from "./lease/protocol.ts";
export { SERVICES_PORT } from "../members/ports.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export type { ServiceSpec } from "../members/member.ts";
export type { InflightOptions } from "./inflight.ts";
export type { ServiceCallsStatus } from "../status/status.ts";
