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
 *
 * The parts, each a module of its own: the options (tcp_options.ts), the connection table
 * (tcp_conns.ts), one connection (tcp_stream.ts), writes (tcp_write.ts), reads (tcp_read.ts, into
 * a frame_buffer.ts), dials (tcp_dial.ts), the listener (tcp_listen.ts) and WebSockets (tcp_ws.ts,
 * ws_frame.ts).
 * @module
 */

import type { DatagramSink, Endpoint, TcpDriverStats, Transport } from "../lib/io/driver.ts";
import { type EndpointProto, splitScheme } from "./shared/endpoint.ts";
import type { TcpStats, WsStats } from "./shared/stats.ts";
import { listenWss, wsLoopHost } from "./tcp_ws.ts";
import { isHangup } from "./tcp_stream.ts";
import { type TcpOptions, type TcpSettings, tcpSettings } from "./tcp_options.ts";
import { TcpConns } from "./tcp_conns.ts";
import { TcpWriter } from "./tcp_write.ts";
import { TcpReader } from "./tcp_read.ts";
import { TcpDials } from "./tcp_dial.ts";
import { listenTcp, TcpAcceptor } from "./tcp_listen.ts";

export { TCP_FRAME_HEADER, TCP_MAX_FRAME, type TcpDialOutcome } from "./tcp_stream.ts";
export type { TcpDialer, TcpOptions } from "./tcp_options.ts";

/** A {@link Transport} that frames datagrams on TCP connections; see the module doc. */
export class TcpTransport implements Transport {
  /** Always `tcp`. */
  readonly name = "tcp";
  /** The listening port (0 for a transport that only dials). */
  readonly port: number;
  /** The listening address (`::` for dual-stack; empty for a transport that only dials). */
  readonly hostname: string;
  /** Traffic, drop and connection counters. */
  readonly stats: TcpStats & { websocket: WsStats };
  /** The `wss` port (0 when there is no TLS listener). */
  readonly tlsPort: number;

  readonly #listener: Deno.TcpListener | null;
  readonly #tlsListener: Deno.TlsListener | null;
  readonly #conns: TcpConns;
  readonly #writer: TcpWriter;
  readonly #reader: TcpReader;
  readonly #dials: TcpDials;
  readonly #acceptor: TcpAcceptor;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  #closing: Promise<void> | null = null;

  private constructor(
    listener: Deno.TcpListener | null,
    tlsListener: Deno.TlsListener | null,
    settings: TcpSettings,
  ) {
    this.#listener = listener;
    this.#tlsListener = tlsListener;
    const addr = listener?.addr;
    this.port = addr?.port ?? 0;
    this.hostname = addr?.hostname ?? "";
    this.tlsPort = tlsListener?.addr.port ?? 0;
    const conns = new TcpConns(settings);
    this.#conns = conns;
    this.stats = conns.stats;
    const writer = new TcpWriter(conns);
    this.#writer = writer;
    this.#reader = new TcpReader(
      conns,
      wsLoopHost({
        stats: conns.stats,
        maxFrame: settings.maxFrame,
        now: settings.now,
        onError: (err) => settings.onError(err),
        isHangup,
        masks: conns.masks,
        control: (s, opcode, payload) => {
          if (!s.closed) writer.enqueue(s, payload, opcode);
        },
      }),
    );
    this.#dials = new TcpDials(conns, writer, this.#reader);
    this.#acceptor = new TcpAcceptor(conns, this.#reader);
    if (settings.sweepInterval > 0) {
      const timer = setInterval(() => this.sweep(), settings.sweepInterval);
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
    if (options.listen === false) return new TcpTransport(null, null, tcpSettings(options));
    const listener = listenTcp(port, hostname);
    let tlsListener: Deno.TlsListener | null = null;
    try {
      if (options.tls !== undefined) tlsListener = listenWss(options.tls, listener.addr.hostname);
      return new TcpTransport(listener, tlsListener, tcpSettings(options));
    } catch (err) {
      // Bad options: the ports must not stay taken.
      listener.close();
      tlsListener?.close();
      throw err;
    }
  }

  /** Connections open now (accepted, dialled or being dialled). */
  get connections(): number {
    return this.#conns.streams.size;
  }

  /** Starts accepting; frames from every connection go to `sink`, a `flush()` after each read. */
  start(sink: DatagramSink): void {
    const conns = this.#conns;
    if (conns.sink !== null) throw new Error("tcp transport already started");
    if (conns.closed) throw new Error("tcp transport is closed");
    conns.sink = sink;
    if (this.#listener !== null) conns.track(this.#acceptor.loop(this.#listener, false));
    if (this.#tlsListener !== null) conns.track(this.#acceptor.loop(this.#tlsListener, true));
    // Connections dialled before start have waited for a sink to read into.
    for (const s of conns.streams.values()) if (s.conn !== null) this.#reader.start(s);
  }

  /**
   * Queues one frame to `to` (any endpoint: it is taken as a TCP address): on the connection to
   * it if there is one, else on a new dial. Copies `data`; never waits; drops and counts what
   * does not fit.
   */
  send(data: Uint8Array, to: Endpoint): void {
    const conns = this.#conns;
    if (conns.closed) return conns.drop("closed");
    const settings = conns.settings;
    if (data.length === 0 || data.length > settings.maxFrame) {
      conns.stats.sendErrors++;
      return conns.drop("bad-size");
    }
    const ep = conns.tableOf(to.proto).adopt(to);
    let s = conns.streams.get(ep.toString());
    if (s === undefined) {
      const dialled = this.#dials.start(ep);
      if (dialled === null) return;
      s = dialled;
    } else if (s.conn === null && s.outFrames >= settings.maxDialQueue) {
      return conns.drop("dial-queue");
    }
    this.#writer.enqueue(s, data);
  }

  /** Starts one write per connection with frames queued since the last flush. */
  flush(): void {
    this.#writer.flush();
  }

  /**
   * The device authenticated a message from `from` (see {@link Transport.authenticated}): its
   * connection counts as a peer's from now on.
   */
  authenticated(from: Endpoint): void {
    this.#conns.authenticated(from.toString());
  }

  /**
   * The device left `ep` for another place of the same peer (see {@link Transport.release}): a
   * connection we dialled is closed, what was queued or being written on it dropped as
   * `released`. One the peer dialled is left open: only our sending moved, the peer may still
   * send on it (its own route chose it), and closed it would be dialled anew from another port,
   * whose first frames a relay takes for a stranger's; the peer closes it when it leaves it, or
   * the idle sweep does.
   */
  release(ep: Endpoint): void {
    const conns = this.#conns;
    const s = conns.streams.get(conns.tableOf(ep.proto).adopt(ep).toString());
    if (s === undefined || s.closed || s.accepted) return;
    conns.close(s, "released");
  }

  /**
   * Closes connections idle past the idle timeout, and accepted ones that have sent no frame in
   * the silent timeout. Runs every `sweepIntervalMs`; tests with a manual clock call it.
   */
  sweep(): void {
    const now = this.#conns.settings.now();
    this.#conns.sweep(now);
    this.#dials.sweep(now);
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
    return this.#conns.tableOf(proto).parse(text);
  }

  /** Closes the listener and every connection, and waits for their loops; idempotent. */
  close(): Promise<void> {
    if (this.#closing === null) {
      const conns = this.#conns;
      conns.closed = true;
      if (this.#sweepTimer !== undefined) clearInterval(this.#sweepTimer);
      for (const l of [this.#listener, this.#tlsListener]) {
        try {
          l?.close();
        } catch (err) {
          if (!(err instanceof Deno.errors.BadResource)) conns.settings.onError(err);
        }
      }
      conns.closeAll();
      this.#closing = conns.settle();
    }
    return this.#closing;
  }
}
