/**
 * The messages between the control server's main thread and its API worker (api_front.ts,
 * api_worker.ts): plain data only, bodies as transferred ArrayBuffers; the clock both read.
 * @module
 */

import type { ListenerStats } from "../net/conn_guard.ts";
import type { LogFields, LogLevel } from "../log/logger.ts";

/** A clock both threads read alike (a worker's `performance.now()` starts at its own origin), ms. */
export const sharedNow = (): number => performance.timeOrigin + performance.now();

/** The read-only routes the worker answers from bodies the main thread prepared. */
export type HotRoute = "nodes" | "status";

/** What the worker listens on and how it guards the hot routes (plain data). */
export interface WorkerListen {
  /** The TCP address to bind (the one the main thread bound first, then let go). */
  readonly hostname: string;
  /** Its port. */
  readonly port: number;
  /** `host:port` the requests' URLs are made from. */
  readonly origin: string;
  /** The unix control socket's path, when there is one. */
  readonly socket?: string;
  /** The TCP listener is not loopback: every route needs the token, any Host. */
  readonly remote: boolean;
  /** The listen host, lower case, without brackets (the Host a loopback listener answers to). */
  readonly listenHost: string;
  /** The control token in force. */
  readonly token?: string;
  /** The monitoring token. */
  readonly monitorToken?: string;
  /** Most connections open at once, a listener. */
  readonly maxConnections: number;
  /** Ms allowed for a request head and an idle connection. */
  readonly headerTimeoutMs?: number;
  /** The largest request body taken. */
  readonly maxBodyBytes: number;
}

/** From the main thread to the worker. */
export type ToWorker =
  | { readonly t: "listen"; readonly listen: WorkerListen }
  | { readonly t: "token"; readonly token: string | undefined }
  /**
   * A hot route's body, gzipped; null: none (forward the requests). `at`: when its content was
   * what the leader holds (sharedNow); `maxAgeMs`: served while that was at most this long ago
   * (else until taken back).
   */
  | {
    readonly t: "body";
    readonly route: HotRoute;
    readonly gzip: ArrayBuffer | null;
    readonly at?: number;
    readonly maxAgeMs?: number;
  }
  /** The route's body is still what the leader holds, at `at` (sharedNow). */
  | { readonly t: "current"; readonly route: HotRoute; readonly at: number }
  /** A forwarded request's answer head; its body follows in chunks. */
  | {
    readonly t: "head";
    readonly id: number;
    readonly status: number;
    readonly headers: [string, string][];
    readonly hasBody: boolean;
  }
  | { readonly t: "chunk"; readonly id: number; readonly data: ArrayBuffer }
  | { readonly t: "end"; readonly id: number; readonly error?: string }
  /** Answered with `synced` once every message before it has been taken. */
  | { readonly t: "sync"; readonly n: number }
  | { readonly t: "close" };

/** From the worker to the main thread. */
export type FromWorker =
  | { readonly t: "ready"; readonly error?: string }
  | {
    readonly t: "request";
    readonly id: number;
    readonly method: string;
    readonly url: string;
    readonly headers: [string, string][];
    readonly body: ArrayBuffer | null;
    /** Reading the body failed: over the limit (`tooLarge`) or cut short. */
    readonly bodyError?: { readonly tooLarge: boolean; readonly message: string };
    readonly local: boolean;
  }
  | { readonly t: "cancel"; readonly id: number }
  /** A hot route was asked for: keep its body posted. */
  | { readonly t: "want"; readonly route: HotRoute }
  | { readonly t: "stats"; readonly stats: ListenerStats }
  | {
    readonly t: "log";
    readonly level: LogLevel;
    readonly event: string;
    readonly fields?: LogFields;
  }
  | { readonly t: "synced"; readonly n: number }
  | { readonly t: "closed" };
