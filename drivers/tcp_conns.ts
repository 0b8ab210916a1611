/**
 * The TCP transport's connections (`tcp.ts`): the table of open and dialling connections by
 * endpoint, the count of accepted ones per address the device has not authenticated, the cap
 * (evicting the idlest, unauthenticated first), the timeouts' sweep, closing one connection and
 * the drop counters. The state the transport's parts (tcp_write.ts, tcp_dial.ts, tcp_read.ts,
 * tcp_listen.ts) share, as the device's concerns share its state.
 * @module
 */

import type { DatagramSink } from "../lib/io/driver.ts";
import { EndpointTable } from "./shared/endpoint.ts";
import {
  newTcpStats,
  newWsStats,
  type TcpSendDrop,
  type TcpStats,
  type WsStats,
} from "./shared/stats.ts";
import { MaskSource } from "./ws_frame.ts";
import type { TcpSettings } from "./tcp_options.ts";
import { EMPTY, SHRINK_ABOVE, type Stream } from "./tcp_stream.ts";

/** The connections of one transport and what they share; see the module docs. */
export class TcpConns {
  /** The options, checked. */
  readonly settings: TcpSettings;
  /** Traffic, drop and connection counters. */
  readonly stats: TcpStats & { websocket: WsStats } = { ...newTcpStats(), websocket: newWsStats() };
  /** TCP endpoints (any endpoint not `ws` or `wss` is one). */
  readonly table: EndpointTable;
  /** `ws` endpoints. */
  readonly wsTable: EndpointTable;
  /** `wss` endpoints. */
  readonly wssTable: EndpointTable;
  /** Masks for what we send on WebSockets we dialled. */
  readonly masks: MaskSource = new MaskSource();
  /** The connections by endpoint text. */
  readonly streams: Map<string, Stream> = new Map();
  /** Connections with frames queued since the last flush. */
  readonly dirty: Stream[] = [];
  /** Loops, writes and dials in progress (close waits for them). */
  readonly tasks: Set<Promise<void>> = new Set();
  /** Unauthenticated accepted connections by remote address. */
  readonly #pending = new Map<string, number>();
  /** Where frames read go (null until started). */
  sink: DatagramSink | null = null;
  /** Whether the transport is closed. */
  closed = false;

  /** The connections of a transport with `settings`. */
  constructor(settings: TcpSettings) {
    this.settings = settings;
    const limit = settings.endpointLimit;
    this.table = new EndpointTable(limit, "tcp");
    this.wsTable = new EndpointTable(limit, "ws");
    this.wssTable = new EndpointTable(limit, "wss");
  }

  /** The table of a protocol's endpoints: `ws`, `wss`, else TCP (any endpoint is a TCP one). */
  tableOf(proto: string | undefined): EndpointTable {
    return proto === "ws" ? this.wsTable : proto === "wss" ? this.wssTable : this.table;
  }

  /** Adds a connection to the table. */
  add(s: Stream): void {
    this.streams.set(s.key, s);
    this.stats.connections = this.streams.size;
    if (s.ws !== 0) this.stats.websocket.connections++;
  }

  /** Gives `s` its connection (accepted, or its dial done). */
  attach(s: Stream, conn: Deno.Conn): void {
    s.conn = conn;
    s.lastActive = this.settings.now();
    try {
      // We batch frames ourselves; Nagle would only add delay to handshakes and keepalives.
      // (A TLS connection has no such switch of its own.)
      if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    } catch {
      // A connection that died already fails on its first read or write.
    }
  }

  /** Unauthenticated accepted connections from `address` now. */
  pendingAt(address: string): number {
    return this.#pending.get(address) ?? 0;
  }

  /** Changes the count of unauthenticated accepted connections from `address`; the new count. */
  pendingFrom(address: string, by: number): number {
    const n = (this.#pending.get(address) ?? 0) + by;
    if (n <= 0) this.#pending.delete(address);
    else this.#pending.set(address, n);
    return n;
  }

  /** The device authenticated a message from the connection keyed `key`: a peer's from now on. */
  authenticated(key: string): void {
    const s = this.streams.get(key);
    if (s !== undefined && !s.authenticated && !s.closed) {
      s.authenticated = true;
      this.pendingFrom(s.ep.address, -1);
    }
  }

  /**
   * At the connection cap, closes one: the unauthenticated one idle longest (its frames, junk
   * or not, count for nothing), else the connection idle longest.
   */
  makeRoom(): void {
    if (this.streams.size < this.settings.maxConnections) return;
    let oldest: Stream | null = null;
    for (const s of this.streams.values()) {
      if (oldest === null) oldest = s;
      else if (s.authenticated !== oldest.authenticated) {
        if (!s.authenticated) oldest = s;
      } else if (s.lastActive < oldest.lastActive) oldest = s;
    }
    if (oldest !== null) {
      this.stats.evicted++;
      this.close(oldest, "evicted");
    }
  }

  /** Takes a stream out of the table without closing its connection (it lives on as another). */
  forget(s: Stream): void {
    s.closed = true;
    if (!s.authenticated) this.pendingFrom(s.ep.address, -1);
    if (this.streams.get(s.key) === s) this.streams.delete(s.key);
    this.stats.connections = this.streams.size;
  }

  /**
   * Closes one connection; frames still queued on it, and those of a write in flight when it
   * fails (tcp_write.ts), are dropped with `reason`: `conn-lost` for a connection that failed,
   * else what closed it on purpose.
   */
  close(s: Stream, reason: TcpSendDrop = "conn-lost"): void {
    if (s.closed) return;
    s.closed = true;
    s.closedAs = reason;
    if (s.ws !== 0) this.stats.websocket.connections--;
    if (!s.authenticated) this.pendingFrom(s.ep.address, -1);
    if (this.streams.get(s.key) === s) this.streams.delete(s.key);
    this.stats.connections = this.streams.size;
    if (s.outFrames > 0) {
      this.drop(reason, s.outFrames);
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

  /** Counts `n` frames not sent, for `reason`. */
  drop(reason: TcpSendDrop, n = 1): void {
    this.stats.drops[reason] += n;
    this.stats.sendDrops += n;
  }

  /** Keeps `task` until it settles (close waits for it); its failure goes to `onError`. */
  track(task: Promise<void>): void {
    this.tasks.add(task);
    const done = () => this.tasks.delete(task);
    task.then(done, (err) => {
      done();
      this.settings.onError(err);
    });
  }

  /**
   * Closes connections idle past the idle timeout, and accepted ones that have sent no frame in
   * the silent timeout; lets go of the large write buffers of those that wrote nothing since the
   * last sweep.
   */
  sweep(now: number): void {
    const { idleTimeout, silentTimeout } = this.settings;
    for (const s of [...this.streams.values()]) {
      if (s.conn === null) continue; // a dial has its own timeout
      const idle = now - s.lastActive >= idleTimeout;
      // Accepted and never vouched for by the device (silent, or junk only).
      const silent = !s.authenticated && now - s.opened >= silentTimeout;
      if (idle || silent) {
        this.stats.idleClosed++;
        this.close(s);
        continue;
      }
      // Nothing written since the last sweep: the write buffers a burst grew are let go.
      if (!s.wrote && !s.writing) {
        if (s.spare !== null && s.spare.length > SHRINK_ABOVE) s.spare = null;
        if (s.outLen === 0 && s.out.length > SHRINK_ABOVE) s.out = EMPTY;
      }
      s.wrote = false;
    }
  }

  /** Closes every connection (the transport closes), dropping what they queued as `closed`. */
  closeAll(): void {
    this.closed = true;
    for (const s of [...this.streams.values()]) this.close(s, "closed");
    this.dirty.length = 0;
  }

  /** Waits for every loop, write and dial to end (each ends once its connection is closed). */
  async settle(): Promise<void> {
    while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
  }
}
