/**
 * A transport over one WebSocket (the standard `WebSocket` API: a browser's, or Deno's) to a
 * leader or relay, for a member that has nothing else: a web page has no UDP and no raw TCP.
 *
 * The wire is the TCP transport's (drivers/tcp.ts) without its length prefix: one binary
 * WebSocket message is exactly one frame payload (a WireGuard message, a relay message, a join
 * message), at most 65,535 bytes. The leader serves it on its TCP transport's port, path
 * {@link WEBSOCKET_PATH}, subprotocol {@link WEBSOCKET_PROTOCOL}.
 *
 * Endpoints: the socket has one far end, so every endpoint text the layers above name (the
 * leader's `host:port`, `tcp://host:port`, `ws://host:port`) is that one endpoint, shown as
 * `ws://host:port` (`wss://`) and counted a stream (`proto` `tcp`: what the routes and the status
 * call a connection to a relay). Members other than the leader are reached through it as a relay
 * (`relay://` endpoints, lib/relay/transport.ts, above this transport).
 *
 * A socket that closes is opened again at the next send, no sooner than `redialDelayMs` after the
 * last try; what is sent while it opens waits (at most `maxDialQueue` messages), and what would
 * push the socket's buffered bytes past `maxBufferedBytes` is dropped and counted, as is what
 * still waits when the transport is closed: `send` never waits and memory stays bounded.
 * WireGuard's own retries cover what is lost.
 * @module
 */

import type { DatagramSink, Endpoint, Transport } from "../lib/io/driver.ts";

/** The path the WebSocket is served on. */
export const WEBSOCKET_PATH = "/weft/ws";
/** The WebSocket subprotocol. */
export const WEBSOCKET_PROTOCOL = "weft.v1";
/** The largest message either way: the TCP transport's largest frame. */
export const WEBSOCKET_MAX_MESSAGE = 65535;

/** Why the transport dropped something. */
export const WEBSOCKET_DROPS = [
  /** Sent while the socket was not open and the messages waiting for it were at the limit. */
  "queue-full",
  /** The socket's buffered bytes were at the limit. */
  "buffer-full",
  /** Larger than {@link WEBSOCKET_MAX_MESSAGE}, or empty. */
  "bad-size",
  /** Waiting for a socket that failed to open, or sent in the pause after a socket that failed. */
  "not-connected",
  /** A text message, or an empty one, from the far end. */
  "bad-message",
  /** The transport is closed: waiting for the socket when it closed, or sent after. */
  "closed",
] as const;

/** One of {@link WEBSOCKET_DROPS}. */
export type WebSocketDrop = typeof WEBSOCKET_DROPS[number];

/** The counters of a {@link WebSocketTransport}. */
export interface WebSocketStats {
  /** Messages sent. */
  sent: number;
  /** Messages received and handed to the sink. */
  received: number;
  /** Sockets opened. */
  opened: number;
  /** Sockets that closed or failed. */
  closed: number;
  /** Drops by reason. */
  drops: Record<WebSocketDrop, number>;
}

/** What the transport needs of a WebSocket constructor (the standard one by default). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocket;

/** Options of {@link WebSocketTransport.open}. */
export interface WebSocketTransportOptions {
  /**
   * The leader's or relay's WebSocket: `ws://host:port` or `wss://host:port` ({@link
   * WEBSOCKET_PATH} is the path when none is given), or a full URL with its path.
   */
  url: string;
  /** A failed socket is not opened again sooner than this (default 1,000 ms). */
  redialDelayMs?: number;
  /** Messages that may wait for the socket to open (default 64). */
  maxDialQueue?: number;
  /** Bytes the socket may hold buffered before sends are dropped (default 1 MiB). */
  maxBufferedBytes?: number;
  /** The WebSocket implementation (default `globalThis.WebSocket`). */
  webSocket?: WebSocketConstructor;
  /** Hears of each socket that closed or failed, with why. */
  onClose?: (why: string) => void;
}

/** The URL the socket opens, from `ws://host:port` or a full URL; throws on anything else. */
export function webSocketUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`"${text}" is not a WebSocket URL (ws://host:port or wss://host:port)`);
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new Error(`"${text}" is not a WebSocket URL (ws://host:port or wss://host:port)`);
  }
  if (url.pathname === "/" || url.pathname === "") url.pathname = WEBSOCKET_PATH;
  return url;
}

/** The one far end of the socket. */
class SocketEndpoint implements Endpoint {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
  readonly proto = "tcp" as const;
  readonly #text: string;

  constructor(url: URL) {
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    this.address = host;
    this.port = url.port !== "" ? Number(url.port) : url.protocol === "wss:" ? 443 : 80;
    this.family = host.includes(":") ? 6 : 4;
    this.#text = `${url.protocol}//${url.host}`;
  }

  toString(): string {
    return this.#text;
  }
}

/** A transport over one WebSocket to a leader or relay. See the module docs. */
export class WebSocketTransport implements Transport {
  /** Always `websocket`. */
  readonly name = "websocket";
  /** The counters. */
  readonly stats: WebSocketStats = {
    sent: 0,
    received: 0,
    opened: 0,
    closed: 0,
    drops: Object.fromEntries(WEBSOCKET_DROPS.map((r) => [r, 0])) as Record<WebSocketDrop, number>,
  };
  /** The socket's far end: every endpoint this transport hands out. */
  readonly remote: Endpoint;
  readonly #url: URL;
  readonly #ctor: WebSocketConstructor;
  readonly #redialDelayMs: number;
  readonly #maxQueue: number;
  readonly #maxBuffered: number;
  readonly #onClose: (why: string) => void;
  #ws: WebSocket | null = null;
  #queue: Uint8Array[] = [];
  #sink: DatagramSink | null = null;
  #triedAt = -Infinity;
  #closed = false;

  private constructor(opts: WebSocketTransportOptions) {
    this.#url = webSocketUrl(opts.url);
    this.remote = new SocketEndpoint(this.#url);
    const ctor = opts.webSocket ?? globalThis.WebSocket;
    if (typeof ctor !== "function") throw new Error("this platform has no WebSocket");
    this.#ctor = ctor;
    this.#redialDelayMs = opts.redialDelayMs ?? 1000;
    this.#maxQueue = opts.maxDialQueue ?? 64;
    this.#maxBuffered = opts.maxBufferedBytes ?? 1 << 20;
    this.#onClose = opts.onClose ?? (() => {});
  }

  /**
   * Opens the socket and resolves once it is open; rejects, saying where and why, when it
   * cannot be opened (nothing listens, the server refuses the upgrade or the subprotocol).
   */
  static async open(opts: WebSocketTransportOptions): Promise<WebSocketTransport> {
    const t = new WebSocketTransport(opts);
    const ws = t.#dial();
    await new Promise<void>((resolve, reject) => {
      const opened = () => {
        ws.removeEventListener("close", failed);
        resolve();
      };
      const failed = (e: CloseEvent) => {
        ws.removeEventListener("open", opened);
        reject(
          new Error(
            `could not open the WebSocket ${t.#url.href}` +
              (e.code && e.code !== 1006
                ? ` (closed ${e.code}${e.reason ? `: ${e.reason}` : ""})`
                : "") +
              " (is a weft leader or relay listening there?)",
          ),
        );
      };
      ws.addEventListener("open", opened, { once: true });
      ws.addEventListener("close", failed, { once: true });
    });
    return t;
  }

  /** No local port: 0. */
  get port(): number {
    return 0;
  }

  /** Whether the socket is open now. */
  get connected(): boolean {
    return this.#ws?.readyState === 1;
  }

  /** Keeps `sink` for every message received. */
  start(sink: DatagramSink): void {
    this.#sink = sink;
  }

  /** Sends `data` as one binary message (waiting for the socket while it opens). */
  send(data: Uint8Array, _to: Endpoint): void {
    if (data.length === 0 || data.length > WEBSOCKET_MAX_MESSAGE) return this.#drop("bad-size");
    if (this.#closed) return this.#drop("closed");
    let ws = this.#ws;
    if (ws === null || ws.readyState > 1) {
      if (performance.now() - this.#triedAt < this.#redialDelayMs) {
        return this.#drop("not-connected");
      }
      ws = this.#dial();
    }
    if (ws.readyState === 0) {
      if (this.#queue.length >= this.#maxQueue) return this.#drop("queue-full");
      this.#queue.push(data.slice());
      return;
    }
    this.#write(ws, data);
  }

  /** Nothing is queued beyond the socket's own buffer. */
  flush(): void {}

  /** Every endpoint text is the socket's one far end ({@link remote}). */
  endpoint(_text: string): Endpoint {
    return this.remote;
  }

  /** Closes the socket (what waits for it to open is dropped, counted as `closed`); idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    // What waited for the socket to open goes with it, counted as every transport counts it.
    this.stats.drops.closed += this.#queue.length;
    this.#queue = [];
    const ws = this.#ws;
    this.#ws = null;
    if (ws === null || ws.readyState > 1) return Promise.resolve();
    return new Promise<void>((resolve) => {
      ws.addEventListener("close", () => resolve(), { once: true });
      ws.close(1000);
    });
  }

  #write(ws: WebSocket, data: Uint8Array): void {
    if (ws.bufferedAmount + data.length > this.#maxBuffered) return this.#drop("buffer-full");
    // A copy: the caller may reuse `data` once send returns, and the socket keeps it until sent.
    ws.send(data.slice());
    this.stats.sent++;
  }

  #dial(): WebSocket {
    this.#triedAt = performance.now();
    const ws = new this.#ctor(this.#url.href, WEBSOCKET_PROTOCOL);
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    ws.addEventListener("open", () => {
      if (this.#ws !== ws) return;
      this.stats.opened++;
      const queued = this.#queue;
      this.#queue = [];
      for (const q of queued) this.#write(ws, q);
    });
    ws.addEventListener("message", (e: MessageEvent) => this.#receive(e.data));
    ws.addEventListener("close", (e: CloseEvent) => {
      this.stats.closed++;
      if (this.#ws === ws) {
        this.#ws = null;
        this.stats.drops["not-connected"] += this.#queue.length;
        this.#queue = [];
      }
      if (!this.#closed) this.#onClose(`closed ${e.code}${e.reason ? `: ${e.reason}` : ""}`);
    });
    return ws;
  }

  #receive(data: unknown): void {
    if (!(data instanceof ArrayBuffer) || data.byteLength === 0) return this.#drop("bad-message");
    const sink = this.#sink;
    if (sink === null || this.#closed) return;
    this.stats.received++;
    sink.datagram(new Uint8Array(data), this.remote);
    sink.flush();
  }

  #drop(reason: WebSocketDrop): void {
    this.stats.drops[reason]++;
  }
}
