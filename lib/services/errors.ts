/**
 * The errors a service call ends with, one code per cause, so a caller can tell "nobody offers
 * this" from "it took too long" from "the handler said no" without reading messages.
 * @module
 */

/** Why a call failed. */
export type ServiceErrorCode =
  /** No healthy instance of the service (or none left to try). */
  | "no-instance"
  /** No answer within the time allowed. */
  | "timeout"
  /** The handler (or the HTTP backend) failed; the message is its own. */
  | "remote-error"
  /** The request or the answer is over the maximum message size. */
  | "too-large"
  /** The instance refused the call: this caller sends too many, or too many at once. */
  | "rate-limited"
  /** The call itself is wrong: a bad path or action, or params that cannot be sent. */
  | "bad-request"
  /** The policy's call rules do not let this caller call this service and action. */
  | "forbidden";

/** Every code, for checks of values from the wire. */
export const SERVICE_ERROR_CODES: readonly ServiceErrorCode[] = [
  "no-instance",
  "timeout",
  "remote-error",
  "too-large",
  "rate-limited",
  "bad-request",
  "forbidden",
];

/** True when `v` is one of {@link SERVICE_ERROR_CODES}. */
export function isServiceErrorCode(v: unknown): v is ServiceErrorCode {
  return (SERVICE_ERROR_CODES as readonly unknown[]).includes(v);
}

/** Where a failed call went and what came back, beyond its code. */
export interface ServiceErrorDetails {
  /** The service called. */
  service?: string;
  /** The action called. */
  action?: string;
  /** The node whose answer this is (its name), when one answered. */
  instance?: string;
  /** The HTTP status of an HTTP backend's answer, for `remote-error`. */
  status?: number;
}

/**
 * A failed service call: a {@link ServiceErrorCode} and a message that says what happened.
 * Handlers may throw one too: its code (and status) reach the caller as they are.
 *
 * @example A call that fails, and one whose handler throws
 * ```ts run
 * import { MeshAgent } from "@weft/weft";
 * import { ServiceError } from "@weft/weft/services";
 * const mesh = await MeshAgent.start({
 *   role: "leader",
 *   hostname: "hq",
 *   stateDir: await Deno.makeTempDir(),
 *   userspace: true,
 *   listenPort: 52820,
 *   dnsPort: 0,
 *   lanDiscovery: false,
 * });
 * mesh.services.provide("billing", {
 *   charge: () => {
 *     throw new ServiceError("bad-request", "cents must be positive"); // reaches the caller
 *   },
 * });
 * for (const path of ["shipping/track", "billing/charge"]) {
 *   try {
 *     await mesh.services.request(path, { cents: -1 }, { timeoutMs: 2000 });
 *   } catch (e) {
 *     if (!(e instanceof ServiceError)) throw e;
 *     console.log(e.code, e.service);
 *   }
 * }
 * // prints: no-instance shipping
 * // prints: bad-request billing
 * await mesh.close();
 * ```
 */
export class ServiceError extends Error {
  /** Why the call failed. */
  readonly code: ServiceErrorCode;
  /** The service called, when known. */
  readonly service?: string;
  /** The action called, when known. */
  readonly action?: string;
  /** The node that answered with this error, when one did. */
  readonly instance?: string;
  /** The HTTP backend's status, when it answered outside 2xx. */
  readonly status?: number;

  /** An error with its code, message and what is known of where it happened. */
  constructor(code: ServiceErrorCode, message: string, details: ServiceErrorDetails = {}) {
    super(message);
    this.name = "ServiceError";
    this.code = code;
    if (details.service !== undefined) this.service = details.service;
    if (details.action !== undefined) this.action = details.action;
    if (details.instance !== undefined) this.instance = details.instance;
    if (details.status !== undefined) this.status = details.status;
  }
}
