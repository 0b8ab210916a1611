/**
 * A TCP transport: WireGuard messages carried on TCP connections, for networks that let no UDP
 * through. It listens on a TCP port (by convention the UDP listen port's number), dials peers it
 * has no connection to, and hands the device each message as a datagram, so the device does not
 * know which transport it runs on. Stable Deno APIs only (`Deno.listen`, `Deno.connect`).
 *
 * Framing: every message is a 2-byte big-endian length, then that many bytes (1 to `maxFrame`,
 * at most 65,535; WireGuard messages are smaller). A zero length or one past `maxFrame` is not a
 * message this transport sent: the connection is closed and counted, never the transport.
 *
 * Head-of-line blocking: TCP delivers in order, so one lost segment stalls every frame behind it
 * until it is retransmitted, and WireGuard traffic tunnelled inside (often TCP itself) sees delay
 * spikes instead of the losses its own congestion control expects (TCP over TCP). WireGuard
 * tolerates loss, not delay: this is why TCP is the fallback for when UDP does not get through,
 * never the first choice.
 *
 * Limits, all options: connections (1,024; at the cap the one idle longest is closed, taken first
 * among accepted connections the device has not authenticated a message from: their frames, junk
 * or not, count for nothing), such unauthenticated connections per remote address (32; more are
 * closed at once), the idle timeout (180 s without a frame either way; the keepalives of the layer
 * above keep live connections open), accepted connections the device has not authenticated a
 * message from (closed after 10 s), the bytes queued
 * per connection (4 MiB) and over all connections (32 MiB), the frames waiting for a dial (64),
 * the dial timeout (5 s) and the pause before redialling an endpoint that just failed (1 s).
 * Whatever does not fit is dropped and counted in {@link TcpStats}; `send` never waits.
 *
 * Endpoints: frames read from a connection come from its remote address and port. For a
 * connection we dialled that is the peer's listening port; for one we accepted it is the peer's
 * source port, so a reply reuses that connection, but once it is closed a send there dials a port
 * nobody listens on (refused, counted as `dial-failed`): it is the dialling side that reconnects.
 *
 * WebSocket: the listener also serves WebSockets on its port, told apart by the first bytes of a
 * connection (`GET ` starts an HTTP request, which no length-prefixed stream does; see
 * `tcp_ws.ts`), and over TLS on a port of its own when given a certificate (`tls`). Their
 * endpoints are `ws://host:port` and `wss://host:port`; a send to one dials a WebSocket. One
 * binary message carries one frame, without the length prefix. They share the connections, caps,
 * timeouts and counters above, and have their own in `stats.websocket`.
 * @module
 */

import type { DatagramSink, Endpoint, TcpDriverStats, Transport } from "../lib/io/driver.ts";
import {
  DEFAULT_ENDPOINT_LIMIT,
  type EndpointProto,
  EndpointTable,
  type InternedEndpoint,
  splitScheme,
} from "./shared/endpoint.ts";
import {
  newTcpStats,
  newWsStats,
  type TcpSendDrop,
  type TcpStats,
  type WsStats,
} from "./shared/stats.ts";
import {
  defaultTlsDialer,
  dialWs,
  listenWss,
  serveUpgrade,
  type TlsDialer,
  WS_CLIENT,
  type WsLoopHost,
  wsLoopHost,
  wsReadLoop,
  type WsTlsOptions,
} from "./tcp_ws.ts";
import {
  MaskSource,
  startsWithGet,
  writeWsFrame,
  WS_MAX_HEADER,
  WS_OP,
  wsHeaderSize,
} from "./ws_frame.ts";
import { ProxyError } from "./proxy_connect.ts";

import {
  dialOutcome,
  EMPTY,
  INITIAL_OUT,
  isHangup,
  READ_BULK,
  READ_SIZE,
  SHRINK_ABOVE,
  SHRINK_AFTER_READS,
  Stream,
  TCP_FRAME_HEADER,
  TCP_MAX_FRAME,
  type TcpDialOutcome,
} from "./tcp_stream.ts";

export { TCP_FRAME_HEADER, TCP_MAX_FRAME, type TcpDialOutcome } from "./tcp_stream.ts";

/**
 * Opens a TCP connection: `Deno.connect` by default; a proxy's CONNECT (drivers/proxy_connect.ts),
 * tests a stand-in.
 */
export type TcpDialer = (
  options: { hostname: string; port: number; signal: AbortSignal },
) => Promise<Deno.TcpConn>;

/** Options of {@link TcpTransport.open}. */
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

// Back off after this many accept errors in a row (e.g. out of file descriptors).
const ERROR_BURST = 100;

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

/** A {@link Transport} that frames datagrams on TCP connections; see the module doc. */
export class TcpTransport implements Transport {
  /** Always `tcp`. */
  readonly name = "tcp";
  /** The listening port (0 for a transport that only dials). */
  readonly port: number;
  /** The listening address (`::` for dual-stack; empty for a transport that only dials). */
  readonly hostname: string;
  /** Traffic, drop and connection counters. */
  readonly stats: TcpStats & { websocket: WsStats } = { ...newTcpStats(), websocket: newWsStats() };
  /** The `wss` port (0 when there is no TLS listener). */
  readonly tlsPort: number;

  readonly #listener: Deno.TcpListener | null;
  readonly #tlsListener: Deno.TlsListener | null;
  readonly #table: EndpointTable;
  readonly #wsTable: EndpointTable;
  readonly #wssTable: EndpointTable;
  readonly #dialTls: TlsDialer;
  readonly #masks = new MaskSource();
  readonly #wsHost: WsLoopHost;
  readonly #streams = new Map<string, Stream>();
  readonly #failedAt = new Map<string, number>();
  readonly #dirty: Stream[] = [];
  readonly #tasks = new Set<Promise<void>>();
  readonly #maxFrame: number;
  readonly #maxConnections: number;
  readonly #maxPendingPerAddress: number;
  // Unauthenticated accepted connections by remote address.
  readonly #pending = new Map<string, number>();
  readonly #idleTimeout: number;
  readonly #silentTimeout: number;
  readonly #dialTimeout: number;
  readonly #redialDelay: number;
  readonly #maxDialQueue: number;
  readonly #maxQueued: number;
  readonly #maxTotalQueued: number;
  readonly #now: () => number;
  readonly #dial: TcpDialer;
  readonly #onError: (err: unknown) => void;
  readonly #onDial: ((to: Endpoint, outcome: TcpDialOutcome, error?: unknown) => void) | undefined;
  #sink: DatagramSink | null = null;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  #flushScheduled = false;
  #closing: Promise<void> | null = null;
  #closed = false;

  private constructor(
    listener: Deno.TcpListener | null,
    tlsListener: Deno.TlsListener | null,
    options: TcpOptions,
  ) {
    this.#listener = listener;
    this.#tlsListener = tlsListener;
    const addr = listener?.addr;
    this.port = addr?.port ?? 0;
    this.hostname = addr?.hostname ?? "";
    this.tlsPort = tlsListener?.addr.port ?? 0;
    const limit = options.endpointLimit ?? DEFAULT_ENDPOINT_LIMIT;
    this.#table = new EndpointTable(limit, "tcp");
    this.#wsTable = new EndpointTable(limit, "ws");
    this.#wssTable = new EndpointTable(limit, "wss");
    this.#maxFrame = positive("maxFrame", options.maxFrame, TCP_MAX_FRAME);
    if (this.#maxFrame > TCP_MAX_FRAME) {
      throw new Error(`tcp: maxFrame is at most ${TCP_MAX_FRAME}`);
    }
    this.#maxConnections = positive("maxConnections", options.maxConnections, 1024);
    this.#maxPendingPerAddress = positive(
      "maxPendingPerAddress",
      options.maxPendingPerAddress,
      32,
    );
    this.#idleTimeout = positive("idleTimeoutMs", options.idleTimeoutMs, 180_000);
    this.#silentTimeout = positive("silentTimeoutMs", options.silentTimeoutMs, 10_000);
    this.#dialTimeout = positive("dialTimeoutMs", options.dialTimeoutMs, 5_000);
    this.#redialDelay = notNegative("redialDelayMs", options.redialDelayMs, 1_000);
    this.#maxDialQueue = positive("maxDialQueue", options.maxDialQueue, 64);
    this.#maxQueued = positive("maxQueuedBytes", options.maxQueuedBytes, 4 * 1024 * 1024);
    // A cap below one frame would drop every large frame without a word.
    if (this.#maxQueued < this.#maxFrame + WS_MAX_HEADER) {
      throw new Error("tcp: maxQueuedBytes must hold at least one frame of maxFrame bytes");
    }
    this.#maxTotalQueued = positive(
      "maxTotalQueuedBytes",
      options.maxTotalQueuedBytes,
      32 * 1024 * 1024,
    );
    this.#now = options.now ?? Date.now;
    this.#dial = options.dial ??
      ((o) =>
        Deno.connect({ transport: "tcp", hostname: o.hostname, port: o.port, signal: o.signal }));
    this.#onError = options.onError ?? ((err) => console.error("tcp:", err));
    this.#onDial = options.onDial;
    this.#dialTls = options.dialTls ?? defaultTlsDialer(this.#dial, options.caCerts);
    this.#wsHost = wsLoopHost({
      stats: this.stats,
      maxFrame: this.#maxFrame,
      now: this.#now,
      onError: (err) => this.#onError(err),
      isHangup,
      masks: this.#masks,
      control: (s, opcode, payload) => {
        if (!s.closed) this.#enqueue(s, payload, opcode);
      },
    });
    const sweep = notNegative("sweepIntervalMs", options.sweepIntervalMs, 5_000);
    if (sweep > 0) {
      const timer = setInterval(() => this.sweep(), sweep);
      // Housekeeping alone must not keep a process alive.
      Deno.unrefTimer(timer);
      this.#sweepTimer = timer;
    }
  }

  /** Listens on `port` (without `hostname`: dual-stack `::` first, then `0.0.0.0`). */
  // deno-lint-ignore require-await
  static async open(options: TcpOptions): Promise<TcpTransport> {
    const { port, hostname } = options;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new Error(`invalid TCP port ${port}`);
    }
    if (options.listen === false) return new TcpTransport(null, null, options);
    let listener: Deno.TcpListener;
    if (hostname !== undefined) {
      listener = Deno.listen({ transport: "tcp", hostname, port });
    } else {
      try {
        listener = Deno.listen({ transport: "tcp", hostname: "::", port });
      } catch (err) {
        // A busy port or a missing permission is not a missing IPv6 stack: report it as is.
        if (err instanceof Deno.errors.AddrInUse || err instanceof Deno.errors.NotCapable) {
          throw err;
        }
        listener = Deno.listen({ transport: "tcp", hostname: "0.0.0.0", port });
      }
    }
    let tlsListener: Deno.TlsListener | null = null;
    try {
      if (options.tls !== undefined) tlsListener = listenWss(options.tls, listener.addr.hostname);
      return new TcpTransport(listener, tlsListener, options);
    } catch (err) {
      // Bad options: the ports must not stay taken.
      listener.close();
      tlsListener?.close();
      throw err;
    }
  }

  /** Connections open now (accepted, dialled or being dialled). */
  get connections(): number {
    return this.#streams.size;
  }

  /** Starts accepting; frames from every connection go to `sink`, a `flush()` after each read. */
  start(sink: DatagramSink): void {
    if (this.#sink !== null) throw new Error("tcp transport already started");
    if (this.#closed) throw new Error("tcp transport is closed");
    this.#sink = sink;
    if (this.#listener !== null) this.#track(this.#acceptLoop(this.#listener, false));
    if (this.#tlsListener !== null) this.#track(this.#acceptLoop(this.#tlsListener, true));
    // Connections dialled before start have waited for a sink to read into.
    for (const s of this.#streams.values()) if (s.conn !== null) this.#startReading(s);
  }

  /**
   * Queues one frame to `to` (any endpoint: it is taken as a TCP address): on the connection to
   * it if there is one, else on a new dial. Copies `data`; never waits; drops and counts what
   * does not fit.
   */
  send(data: Uint8Array, to: Endpoint): void {
    if (this.#closed) return this.#drop("closed");
    if (data.length === 0 || data.length > this.#maxFrame) {
      this.stats.sendErrors++;
      return this.#drop("bad-size");
    }
    const ep = this.#tableOf(to.proto).adopt(to);
    let s = this.#streams.get(ep.toString());
    if (s === undefined) {
      const dialled = this.#startDial(ep);
      if (dialled === null) return;
      s = dialled;
    } else if (s.conn === null && s.outFrames >= this.#maxDialQueue) {
      return this.#drop("dial-queue");
    }
    this.#enqueue(s, data);
  }

  /** The table of a protocol's endpoints: `ws`, `wss`, else TCP (any endpoint is a TCP one). */
  #tableOf(proto: string | undefined): EndpointTable {
    return proto === "ws" ? this.#wsTable : proto === "wss" ? this.#wssTable : this.#table;
  }

  #enqueue(s: Stream, data: Uint8Array, opcode: number = WS_OP.binary): void {
    const need = data.length +
      (s.ws === 0 ? TCP_FRAME_HEADER : wsHeaderSize(data.length, s.ws === WS_CLIENT));
    const stats = this.stats;
    if (
      s.outLen + s.inflight + need > this.#maxQueued ||
      stats.queuedBytes + need > this.#maxTotalQueued
    ) {
      // The peer (or the path) is not taking what we write: drop here so memory stays bounded.
      return this.#drop("queue-full");
    }
    let out = s.out;
    const at = s.outLen;
    if (out.length < at + need) {
      const size = Math.min(this.#maxQueued, Math.max(INITIAL_OUT, out.length * 2, at + need));
      const grown = new Uint8Array(size);
      grown.set(out.subarray(0, at));
      s.out = out = grown;
    }
    if (s.ws === 0) {
      out[at] = data.length >>> 8;
      out[at + 1] = data.length & 0xff;
      out.set(data, at + TCP_FRAME_HEADER);
    } else {
      const masks = s.ws === WS_CLIENT ? this.#masks : null;
      writeWsFrame(out, at, opcode, data, masks?.pool ?? null, masks?.take() ?? 0);
    }
    s.outLen = at + need;
    // A control frame (a pong) is written with the frames but is none of them.
    if (opcode === WS_OP.binary) {
      s.outFrames++;
      s.outBytes += data.length;
    }
    stats.queuedBytes += need;
    s.lastActive = this.#now();
    if (!s.dirty) {
      s.dirty = true;
      this.#dirty.push(s);
    }
    // Callers are meant to flush after a batch; one that forgets still gets its frames sent.
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#autoFlush);
    }
  }

  #autoFlush = (): void => {
    this.#flushScheduled = false;
    this.flush();
  };

  /** Starts one write per connection with frames queued since the last flush. */
  flush(): void {
    const dirty = this.#dirty;
    if (dirty.length === 0) return;
    for (let i = 0; i < dirty.length; i++) {
      const s = dirty[i];
      s.dirty = false;
      // A connection with a write in progress picks up its queue when that write finishes.
      if (!s.closed && s.conn !== null && !s.writing && s.outLen > 0) this.#startWrite(s);
    }
    dirty.length = 0;
  }

  #startWrite(s: Stream): void {
    const buf = s.out.subarray(0, s.outLen);
    const frames = s.outFrames;
    const bytes = s.outBytes;
    s.inflight = s.outLen;
    // Double buffering: new frames go to the other buffer while this one is being written.
    s.out = s.spare ?? EMPTY;
    s.spare = null;
    s.outLen = 0;
    s.outFrames = 0;
    s.outBytes = 0;
    s.writing = true;
    this.#track(this.#write(s, s.conn!, buf, frames, bytes));
  }

  async #write(
    s: Stream,
    conn: Deno.Conn,
    buf: Uint8Array,
    frames: number,
    bytes: number,
  ): Promise<void> {
    const stats = this.stats;
    try {
      let off = 0;
      while (off < buf.length) off += await conn.write(off === 0 ? buf : buf.subarray(off));
    } catch (err) {
      s.writing = false;
      s.inflight = 0;
      stats.queuedBytes -= buf.length;
      this.#drop(this.#closed ? "closed" : "conn-lost", frames);
      if (!s.closed) {
        if (!isHangup(err)) {
          stats.sendErrors++;
          this.#onError(err);
        }
        this.#closeStream(s);
      }
      return;
    }
    s.writing = false;
    s.inflight = 0;
    stats.queuedBytes -= buf.length;
    stats.datagramsOut += frames;
    stats.bytesOut += bytes;
    if (s.closed) return;
    if (s.outLen === 0 && buf.buffer.byteLength > SHRINK_ABOVE) {
      // The burst is over: do not hold its buffers on a connection that may idle for minutes.
      if (s.out.length > SHRINK_ABOVE) s.out = EMPTY;
    } else {
      s.spare = new Uint8Array(buf.buffer as ArrayBuffer);
    }
    if (s.outLen > 0) this.#startWrite(s);
  }

  #startDial(ep: InternedEndpoint): Stream | null {
    const key = ep.toString();
    const now = this.#now();
    const failed = this.#failedAt.get(key);
    if (failed !== undefined) {
      // One dial per failure window: a peer that is down is not hammered at the packet rate.
      if (now - failed < this.#redialDelay) {
        this.#drop("dial-backoff");
        return null;
      }
      this.#failedAt.delete(key);
    }
    this.#makeRoom();
    const s = new Stream(ep, false, now);
    this.#add(s);
    this.stats.dials++;
    const abort = new AbortController();
    s.dialAbort = abort;
    this.#track(this.#dialTask(s, abort));
    return s;
  }

  async #dialTask(s: Stream, abort: AbortController): Promise<void> {
    const timer = setTimeout(() => abort.abort(), this.#dialTimeout);
    let conn: Deno.Conn;
    try {
      conn = s.ws === 0
        ? await this.#dial({ hostname: s.ep.address, port: s.ep.port, signal: abort.signal })
        : await dialWs(
          s,
          abort.signal,
          s.ep.proto === "wss" ? this.#dialTls : this.#dial,
          this.stats.websocket,
        );
    } catch (err) {
      clearTimeout(timer);
      s.dialAbort = null;
      // Closed meanwhile (evicted, or the transport closed): nothing failed that matters.
      if (s.closed) return;
      this.stats.dialFailures++;
      if (this.#failedAt.size >= this.#maxConnections) this.#failedAt.clear();
      this.#failedAt.set(s.key, this.#now());
      // A proxy's refusal is counted by the proxy's dialer and said through onDial.
      const expected = isHangup(err) || err instanceof Deno.errors.ConnectionRefused ||
        err instanceof Deno.errors.TimedOut || abort.signal.aborted ||
        err instanceof Deno.errors.NetworkUnreachable || err instanceof ProxyError;
      if (!expected) this.#onError(err);
      this.#closeStream(s, "dial-failed");
      this.#dialed(s.ep, dialOutcome(err, abort.signal.aborted), err);
      return;
    }
    clearTimeout(timer);
    s.dialAbort = null;
    if (s.closed) {
      conn.close();
      return;
    }
    this.#dialed(s.ep, "connected");
    this.#attach(s, conn);
    if (this.#sink !== null) this.#startReading(s);
    if (s.outLen > 0) this.#startWrite(s);
  }

  #dialed(ep: InternedEndpoint, outcome: TcpDialOutcome, err?: unknown): void {
    try {
      this.#onDial?.(ep, outcome, err);
    } catch (err) {
      this.#onError(err);
    }
  }

  #attach(s: Stream, conn: Deno.Conn): void {
    s.conn = conn;
    s.lastActive = this.#now();
    try {
      // We batch frames ourselves; Nagle would only add delay to handshakes and keepalives.
      // (A TLS connection has no such switch of its own.)
      if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    } catch {
      // A connection that died already fails on its first read or write.
    }
  }

  async #acceptLoop(listener: Deno.TcpListener | Deno.TlsListener, tls: boolean): Promise<void> {
    let errorsInRow = 0;
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (this.#closed || err instanceof Deno.errors.BadResource) return;
        this.stats.recvErrors++;
        // Out of descriptors and the like: pause so the loop cannot spin, and say so now and then.
        if (++errorsInRow >= ERROR_BURST) {
          errorsInRow = 0;
          this.#onError(err);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      errorsInRow = 0;
      if (this.#closed) {
        conn.close();
        return;
      }
      this.#accepted(conn, tls);
    }
  }

  #accepted(conn: Deno.Conn, tls: boolean): void {
    const addr = conn.remoteAddr as Deno.NetAddr;
    let ep: InternedEndpoint;
    try {
      // A TLS connection is a WebSocket from the start; a plain one may become one (#sniff).
      ep = (tls ? this.#wssTable : this.#table).fromText(addr.hostname, addr.port);
    } catch (err) {
      this.stats.recvErrors++;
      this.#onError(err);
      conn.close();
      return;
    }
    this.stats.accepts++;
    // A peer reconnecting from the same address and port: its old connection is dead.
    const old = this.#streams.get(ep.toString());
    if (old !== undefined) this.#closeStream(old);
    // One address may hold only so many connections the device has not vouched for.
    if ((this.#pending.get(ep.address) ?? 0) >= this.#maxPendingPerAddress) {
      this.stats.refusedPerAddress++;
      try {
        conn.close();
      } catch { /* already gone */ }
      return;
    }
    this.#makeRoom();
    const s = new Stream(ep, true, this.#now());
    this.#pendingFrom(ep.address, 1);
    this.#add(s);
    this.#attach(s, conn);
    if (this.#sink !== null) this.#startReading(s);
  }

  #add(s: Stream): void {
    this.#streams.set(s.key, s);
    this.stats.connections = this.#streams.size;
    if (s.ws !== 0) this.stats.websocket.connections++;
  }

  /**
   * The device authenticated a message from `from` (see {@link Transport.authenticated}): its
   * connection counts as a peer's from now on.
   */
  authenticated(from: Endpoint): void {
    const s = this.#streams.get(from.toString());
    if (s !== undefined && !s.authenticated && !s.closed) {
      s.authenticated = true;
      this.#pendingFrom(s.ep.address, -1);
    }
  }

  /** Changes the count of unauthenticated accepted connections from `address`; the new count. */
  #pendingFrom(address: string, by: number): number {
    const n = (this.#pending.get(address) ?? 0) + by;
    if (n <= 0) this.#pending.delete(address);
    else this.#pending.set(address, n);
    return n;
  }

  /**
   * At the connection cap, closes one: the unauthenticated one idle longest (its frames, junk
   * or not, count for nothing), else the connection idle longest.
   */
  #makeRoom(): void {
    if (this.#streams.size < this.#maxConnections) return;
    let oldest: Stream | null = null;
    for (const s of this.#streams.values()) {
      if (oldest === null) oldest = s;
      else if (s.authenticated !== oldest.authenticated) {
        if (!s.authenticated) oldest = s;
      } else if (s.lastActive < oldest.lastActive) oldest = s;
    }
    if (oldest !== null) {
      this.stats.evicted++;
      this.#closeStream(oldest);
    }
  }

  #startReading(s: Stream): void {
    const conn = s.conn!;
    if (s.ws === 0) this.#track(this.#readLoop(s, conn, this.#sink!));
    else if (s.accepted) this.#track(this.#serveWs(s, conn, new Uint8Array(READ_SIZE), 0));
    else this.#track(this.#readWs(s, conn, s.wsInitial));
  }

  /** Reads an upgraded WebSocket connection until it ends, then closes it. */
  async #readWs(s: Stream, conn: Deno.Conn, initial: Uint8Array): Promise<void> {
    s.wsInitial = EMPTY;
    await wsReadLoop(s, conn, this.#sink!, initial, this.#wsHost, READ_SIZE);
    this.#closeStream(s);
  }

  /**
   * Serves the Upgrade on an accepted connection whose first bytes are in `buf`, then reads it.
   * The stream is keyed as a WebSocket from here on (`ws://`, or `wss://` from the TLS port).
   */
  async #serveWs(s: Stream, conn: Deno.Conn, buf: Uint8Array, filled: number): Promise<void> {
    let initial: Uint8Array | null = null;
    try {
      initial = await serveUpgrade(conn, buf, filled, this.stats.websocket);
    } catch (err) {
      // A client that hangs up or fails the TLS handshake (its alert reads as InvalidData) is
      // counted: anyone can cause it, so it is not logged.
      if (!s.closed) {
        this.stats.websocket.refused++;
        if (!isHangup(err) && !(err instanceof Deno.errors.InvalidData)) this.#onError(err);
      }
    }
    if (initial === null || s.closed) return this.#closeStream(s);
    let ws = s;
    if (s.ws === 0) {
      // Nothing was read as a frame from the TCP endpoint, so none was answered there: the
      // connection changes its key without closing.
      ws = new Stream(this.#wsTable.adopt(s.ep), true, s.opened);
      ws.conn = conn;
      this.#forget(s);
      const old = this.#streams.get(ws.key);
      if (old !== undefined) this.#closeStream(old);
      this.#pendingFrom(ws.ep.address, 1);
      this.#add(ws);
    }
    await this.#readWs(ws, conn, initial);
  }

  /** Takes a stream out of the map without closing its connection (it lives on as another). */
  #forget(s: Stream): void {
    s.closed = true;
    if (!s.authenticated) this.#pendingFrom(s.ep.address, -1);
    if (this.#streams.get(s.key) === s) this.#streams.delete(s.key);
    this.stats.connections = this.#streams.size;
  }

  async #readLoop(s: Stream, conn: Deno.Conn, sink: DatagramSink): Promise<void> {
    const stats = this.stats;
    const maxFrame = this.#maxFrame;
    let buf = new Uint8Array(READ_SIZE);
    let filled = 0;
    // Reads in a row that a READ_SIZE buffer would have held.
    let smallReads = 0;
    // An accepted connection's first bytes say whether it is a WebSocket (see tcp_ws.ts).
    let sniff = s.accepted;
    try {
      while (!s.closed) {
        const n = await conn.read(filled === 0 ? buf : buf.subarray(filled));
        if (n === null) {
          if (filled > 0) stats.truncated++;
          break;
        }
        if (s.closed) break;
        const full = filled + n === buf.length;
        filled += n;
        if (sniff) {
          const get = startsWithGet(buf, filled);
          if (get === null) continue;
          sniff = false;
          // The read loop ends here without closing: the connection is served as a WebSocket.
          if (get) return await this.#serveWs(s, conn, buf, filled);
        }
        let off = 0;
        let delivered = 0;
        while (filled - off >= TCP_FRAME_HEADER) {
          const len = (buf[off] << 8) | buf[off + 1];
          if (len === 0 || len > maxFrame) {
            // Not a frame we would send: the stream is out of step or not ours. Nothing after
            // this point can be trusted to be a frame boundary, so the connection goes.
            stats.badFrames++;
            stats.recvErrors++;
            filled = 0;
            this.#closeStream(s);
            break;
          }
          const end = off + TCP_FRAME_HEADER + len;
          if (end > filled) break;
          const frame = buf.subarray(off + TCP_FRAME_HEADER, end);
          off = end;
          delivered++;
          stats.datagramsIn++;
          stats.bytesIn += len;
          try {
            sink.datagram(frame, s.ep);
          } catch (err) {
            this.#onError(err);
          }
          // The sink may have closed the transport; what is left is not delivered.
          if (s.closed) break;
        }
        if (delivered > 0) {
          s.framesIn += delivered;
          s.lastActive = this.#now();
          try {
            sink.flush();
          } catch (err) {
            this.#onError(err);
          }
        }
        if (s.closed) break;
        if (off > 0) {
          buf.copyWithin(0, off, filled);
          filled -= off;
        }
        // A frame in progress needs room for all of it.
        const need = filled >= TCP_FRAME_HEADER ? TCP_FRAME_HEADER + ((buf[0] << 8) | buf[1]) : 0;
        let size = buf.length;
        if (full && size < READ_BULK && s.authenticated) {
          // The sender is ahead of us: read more per turn, so the device gets larger batches
          // and a busy stream costs fewer reads. Only a peer's: junk keeps a small buffer.
          size = READ_BULK;
          smallReads = 0;
        } else if (n >= READ_SIZE) {
          smallReads = 0;
        } else if (size > READ_SIZE && ++smallReads >= SHRINK_AFTER_READS) {
          // The stream has gone quiet: an idle connection holds no more than a small buffer.
          size = READ_SIZE;
          smallReads = 0;
        }
        if (need > size) size = need;
        if (size !== buf.length && filled <= size) {
          const next = new Uint8Array(size);
          next.set(buf.subarray(0, filled));
          buf = next;
        }
      }
    } catch (err) {
      if (!s.closed) {
        if (filled > 0) stats.truncated++;
        if (!isHangup(err)) {
          stats.recvErrors++;
          this.#onError(err);
        }
      }
    }
    this.#closeStream(s);
  }

  /** Closes one connection; frames still queued on it are dropped with `reason`. */
  #closeStream(s: Stream, reason: TcpSendDrop = "conn-lost"): void {
    if (s.closed) return;
    s.closed = true;
    if (s.ws !== 0) this.stats.websocket.connections--;
    if (!s.authenticated) this.#pendingFrom(s.ep.address, -1);
    if (this.#streams.get(s.key) === s) this.#streams.delete(s.key);
    this.stats.connections = this.#streams.size;
    if (s.outFrames > 0) {
      this.#drop(reason, s.outFrames);
      this.stats.queuedBytes -= s.outLen;
    }
    s.out = EMPTY;
    s.spare = null;
    s.outLen = s.outFrames = s.outBytes = 0;
    s.dialAbort?.abort();
    if (s.conn !== null) {
      try {
        s.conn.close();
      } catch {
        // Already closed by the runtime after an error.
      }
    }
  }

  #drop(reason: TcpSendDrop, n = 1): void {
    this.stats.drops[reason] += n;
    this.stats.sendDrops += n;
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    const done = () => this.#tasks.delete(task);
    task.then(done, (err) => {
      done();
      this.#onError(err);
    });
  }

  /**
   * Closes connections idle past the idle timeout, and accepted ones that have sent no frame in
   * the silent timeout. Runs every `sweepIntervalMs`; tests with a manual clock call it.
   */
  sweep(): void {
    const now = this.#now();
    for (const s of [...this.#streams.values()]) {
      if (s.conn === null) continue; // a dial has its own timeout
      const idle = now - s.lastActive >= this.#idleTimeout;
      // Accepted and never vouched for by the device (silent, or junk only).
      const silent = !s.authenticated && now - s.opened >= this.#silentTimeout;
      if (idle || silent) {
        this.stats.idleClosed++;
        this.#closeStream(s);
      }
    }
    for (const [key, at] of this.#failedAt) {
      if (now - at >= this.#redialDelay) this.#failedAt.delete(key);
    }
  }

  /** The counters. */
  driverStats(): TcpDriverStats {
    return { kind: "tcp", counters: this.stats };
  }

  /**
   * Parses `tcp://host:port`, `ws://host:port`, `wss://host:port` or `host:port` (a TCP one; IP
   * literals, IPv6 in brackets); throws on bad input.
   */
  endpoint(text: string): Endpoint {
    const proto: EndpointProto | undefined = splitScheme(text).proto;
    return this.#tableOf(proto).parse(text);
  }

  /** Closes the listener and every connection, and waits for their loops; idempotent. */
  close(): Promise<void> {
    if (this.#closing === null) {
      this.#closed = true;
      if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
      for (const l of [this.#listener, this.#tlsListener]) {
        try {
          l?.close();
        } catch (err) {
          if (!(err instanceof Deno.errors.BadResource)) this.#onError(err);
        }
      }
      for (const s of [...this.#streams.values()]) this.#closeStream(s, "closed");
      this.#dirty.length = 0;
      this.#closing = this.#settle();
    }
    return this.#closing;
  }

  async #settle(): Promise<void> {
    // Every loop, write and dial ends once its connection is closed; none starts after close.
    while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
  }
}
