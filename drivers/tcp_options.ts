/**
 * The TCP transport's options (`tcp.ts`) and their parsing: each checked once, with its default,
 * into the {@link TcpSettings} the transport's parts read.
 * @module
 */

import type { Endpoint } from "../lib/io/driver.ts";
import { DEFAULT_ENDPOINT_LIMIT } from "./shared/endpoint.ts";
import { defaultTlsDialer, type TlsDialer, type WsTlsOptions } from "./tcp_ws.ts";
import { WS_MAX_HEADER } from "./ws_frame.ts";
import { TCP_MAX_FRAME, type TcpDialOutcome } from "./tcp_stream.ts";

/**
 * Opens a TCP connection: `Deno.connect` by default; a proxy's CONNECT (drivers/proxy_connect.ts),
 * tests a stand-in.
 */
export type TcpDialer = (
  options: { hostname: string; port: number; signal: AbortSignal },
) => Promise<Deno.TcpConn>;

/** Options of the TCP transport (`TcpTransport.open`, tcp.ts). */
export interface TcpOptions {
  /** The local port to listen on; 0 picks an ephemeral one. */
  port: number;
  /** The local address; by default `::` (dual-stack), or `0.0.0.0` where IPv6 is unavailable. */
  hostname?: string;
  /** Whether to accept connections (default true); false makes a transport that only dials. */
  listen?: boolean;
  /** The largest frame sent or accepted (default and most 65,535). */
  maxFrame?: number;
  /** Connections open at once, accepted and dialled (default 1,024). */
  maxConnections?: number;
  /**
   * Accepted connections from one IP address not yet authenticated by the device, at once
   * (default 32); more are closed at once and counted.
   */
  maxPendingPerAddress?: number;
  /** A connection with no frame either way for this long is closed (default 180,000 ms). */
  idleTimeoutMs?: number;
  /** An accepted connection that has sent no frame for this long is closed (default 10,000 ms). */
  silentTimeoutMs?: number;
  /** A dial that has not connected in this long fails (default 5,000 ms). */
  dialTimeoutMs?: number;
  /** After a failed dial, sends to that endpoint are dropped for this long (default 1,000 ms). */
  redialDelayMs?: number;
  /** Frames that may wait for a connection being dialled (default 64). */
  maxDialQueue?: number;
  /**
   * Bytes (frames with their prefixes) queued per connection, written or not (default 4 MiB).
   * Sized for the path, not for one batch: a full queue drops, and the tunnelled TCP reads each
   * drop as congestion and resends. About what the kernel's own send buffer grows to (64 ms at
   * 500 Mbit/s); less made a bulk flow lose a tenth of its packets here.
   */
  maxQueuedBytes?: number;
  /** Bytes queued over all connections (default 32 MiB). */
  maxTotalQueuedBytes?: number;
  /** How often timeouts are checked (default 5,000 ms); 0: never, the caller calls `sweep()`. */
  sweepIntervalMs?: number;
  /** The clock in ms (tests inject one); default `Date.now`. */
  now?: () => number;
  /** Opens outgoing connections; default `Deno.connect`. */
  dial?: TcpDialer;
  /** Serves `wss` too, on its own port, with this certificate (see {@link WsTlsOptions}). */
  tls?: WsTlsOptions;
  /** Opens `wss` connections; default `Deno.connectTls` with {@link caCerts}. */
  dialTls?: TlsDialer;
  /** CA certificates (PEM) `wss` servers are checked against instead of the system's roots. */
  caCerts?: string[];
  /** How many endpoints to intern before starting over. */
  endpointLimit?: number;
  /** Called with errors thrown by the sink or by sockets; defaults to `console.error`. */
  onError?: (err: unknown) => void;
  /**
   * Called with how each dial ended (a joiner says from it what it saw: a refused port, a
   * connection that never answered, nothing at all), with the dial's error when it failed (a
   * proxy's refusal: drivers/proxy_connect.ts).
   */
  onDial?: (to: Endpoint, outcome: TcpDialOutcome, error?: unknown) => void;
}

/** {@link TcpOptions} checked, with their defaults (ms for times, bytes for sizes). */
export interface TcpSettings {
  /** The largest frame sent or accepted. */
  readonly maxFrame: number;
  /** Connections open at once. */
  readonly maxConnections: number;
  /** Unauthenticated accepted connections per address. */
  readonly maxPendingPerAddress: number;
  /** Closes a connection with no frame either way. */
  readonly idleTimeout: number;
  /** Closes an accepted connection never authenticated. */
  readonly silentTimeout: number;
  /** Fails a dial. */
  readonly dialTimeout: number;
  /** Drops sends to an endpoint whose dial just failed. */
  readonly redialDelay: number;
  /** Frames waiting for a dial. */
  readonly maxDialQueue: number;
  /** Bytes queued per connection. */
  readonly maxQueued: number;
  /** Bytes queued over all connections. */
  readonly maxTotalQueued: number;
  /** How often timeouts are checked (0: by `sweep()` calls only). */
  readonly sweepInterval: number;
  /** How many endpoints to intern before starting over. */
  readonly endpointLimit: number;
  /** The clock in ms. */
  readonly now: () => number;
  /** Opens outgoing connections. */
  readonly dial: TcpDialer;
  /** Opens `wss` connections. */
  readonly dialTls: TlsDialer;
  /** Hears errors thrown by the sink or by sockets. */
  readonly onError: (err: unknown) => void;
  /** Hears how each dial ended. */
  readonly onDial: ((to: Endpoint, outcome: TcpDialOutcome, error?: unknown) => void) | undefined;
}

/** A positive integer option, or its default. */
function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`tcp: ${name} must be a positive integer`);
  return v;
}

/** A non-negative number option, or its default. */
function notNegative(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < 0) throw new Error(`tcp: ${name} must be 0 or more`);
  return v;
}

/** Checks `options` and fills in the defaults; throws on a bad value, naming the option. */
export function tcpSettings(options: TcpOptions): TcpSettings {
  const maxFrame = positive("maxFrame", options.maxFrame, TCP_MAX_FRAME);
  if (maxFrame > TCP_MAX_FRAME) throw new Error(`tcp: maxFrame is at most ${TCP_MAX_FRAME}`);
  const maxConnections = positive("maxConnections", options.maxConnections, 1024);
  const maxPendingPerAddress = positive("maxPendingPerAddress", options.maxPendingPerAddress, 32);
  const idleTimeout = positive("idleTimeoutMs", options.idleTimeoutMs, 180_000);
  const silentTimeout = positive("silentTimeoutMs", options.silentTimeoutMs, 10_000);
  const dialTimeout = positive("dialTimeoutMs", options.dialTimeoutMs, 5_000);
  const redialDelay = notNegative("redialDelayMs", options.redialDelayMs, 1_000);
  const maxDialQueue = positive("maxDialQueue", options.maxDialQueue, 64);
  const maxQueued = positive("maxQueuedBytes", options.maxQueuedBytes, 4 * 1024 * 1024);
  // A cap below one frame would drop every large frame without a word.
  if (maxQueued < maxFrame + WS_MAX_HEADER) {
    throw new Error("tcp: maxQueuedBytes must hold at least one frame of maxFrame bytes");
  }
  const maxTotalQueued = positive(
    "maxTotalQueuedBytes",
    options.maxTotalQueuedBytes,
    32 * 1024 * 1024,
  );
  const dial: TcpDialer = options.dial ??
    ((o) =>
      Deno.connect({ transport: "tcp", hostname: o.hostname, port: o.port, signal: o.signal }));
  const onError = options.onError ?? ((err: unknown) => console.error("tcp:", err));
  return {
    maxFrame,
    maxConnections,
    maxPendingPerAddress,
    idleTimeout,
    silentTimeout,
    dialTimeout,
    redialDelay,
    maxDialQueue,
    maxQueued,
    maxTotalQueued,
    sweepInterval: notNegative("sweepIntervalMs", options.sweepIntervalMs, 5_000),
    endpointLimit: options.endpointLimit ?? DEFAULT_ENDPOINT_LIMIT,
    now: options.now ?? Date.now,
    dial,
    dialTls: options.dialTls ?? defaultTlsDialer(dial, options.caCerts),
    onError,
    onDial: options.onDial,
  };
}
