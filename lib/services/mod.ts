/**
 * Services in the mesh: actions a node provides and any node calls (with health checks, leases
 * electing a leader per service and per-caller limits), and publish/subscribe on topics.
 *
 * @example Provide an action, call it, and follow a topic, on a running mesh agent
 * ```ts
 * import type { MeshAgent } from "@weft/weft/mesh";
 * import { ServiceError } from "@weft/weft/services";
 *
 * declare const mesh: MeshAgent;
 * mesh.services.provide("greeter", { hello: (params) => `hello ${String(params)}` });
 * try {
 *   console.log(await mesh.services.request("greeter/hello", "ann", { timeoutMs: 2000 }));
 * } catch (e) {
 *   if (e instanceof ServiceError) console.error(e.code, e.message);
 * }
 * for await (const ev of mesh.services.subscribe("status/>")) console.log(ev.topic, ev.data);
 * ```
 * @module
 */

export {
  MeshServices,
  type ServiceLayerOptions,
  type ServicesOptions,
  type ServicesStatus,
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
export type { RemoteSubscriptions } from "./subscription_table.ts";
export type { SubscriptionEntry } from "./wire.ts";
export { patternProblem, TopicPattern, topicProblem } from "./topics.ts";
export type {
  ActionHandler,
  ActionSpec,
  CallContext,
  ProvidedService,
  ServiceActions,
} from "./local.ts";
export type { OutOfRotation, ServiceInstance } from "./instances.ts";
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
  LeaseStats,
  ServiceLeader,
  ServiceLeaderChange,
  ServiceLease,
} from "./lease/runtime.ts";
export { DEFAULT_LEASE_TIMING, type LeaseTiming } from "./lease/protocol.ts";
export type { ArbiterStats, LeaseRecord, LeaseRefusal } from "./lease/arbiter.ts";
export type { LeaseClientStats } from "./lease/client.ts";
export { SERVICES_PORT } from "../members/ports.ts";
