/**
 * The TCP transport's dials (`tcp.ts`): a send to an endpoint with no connection dials it (a
 * WebSocket for `ws`/`wss` endpoints), frames wait in its queue (up to `maxDialQueue`), and a
 * dial that fails holds off sends to that endpoint for `redialDelay`, so a peer that is down is
 * not dialled at the packet rate. Each dial's outcome goes to `onDial`.
 * @module
 */

import type { Endpoint } from "../lib/io/driver.ts";
import type { InternedEndpoint } from "./shared/endpoint.ts";
import { dialWs } from "./tcp_ws.ts";
import { ProxyError } from "./proxy_connect.ts";
import { dialOutcome, isHangup, Stream, type TcpDialOutcome } from "./tcp_stream.ts";
import type { TcpConns } from "./tcp_conns.ts";
import type { TcpWriter } from "./tcp_write.ts";
import type { TcpReader } from "./tcp_read.ts";

/** The dials of a transport; see the module docs. */
export class TcpDials {
  readonly #conns: TcpConns;
  readonly #writer: TcpWriter;
  readonly #reader: TcpReader;
  /** When the last dial to an endpoint (by text) failed. */
  readonly #failedAt = new Map<string, number>();

  /** Dials for `conns`; a connection made is written by `writer` and read by `reader`. */
  constructor(conns: TcpConns, writer: TcpWriter, reader: TcpReader) {
    this.#conns = conns;
    this.#writer = writer;
    this.#reader = reader;
  }

  /** Starts a dial to `ep`: its stream (in the table), or null (counted) while it backs off. */
  start(ep: InternedEndpoint): Stream | null {
    const conns = this.#conns;
    const key = ep.toString();
    const now = conns.settings.now();
    const failed = this.#failedAt.get(key);
    if (failed !== undefined) {
      // One dial per failure window: a peer that is down is not hammered at the packet rate.
      if (now - failed < conns.settings.redialDelay) {
        conns.drop("dial-backoff");
        return null;
      }
      this.#failedAt.delete(key);
    }
    conns.makeRoom();
    const s = new Stream(ep, false, now);
    conns.add(s);
    conns.stats.dials++;
    const abort = new AbortController();
    s.dialAbort = abort;
    conns.track(this.#dial(s, abort));
    return s;
  }

  /** Forgets failures older than the redial delay. */
  sweep(now: number): void {
    const delay = this.#conns.settings.redialDelay;
    for (const [key, at] of this.#failedAt) {
      if (now - at >= delay) this.#failedAt.delete(key);
    }
  }

  async #dial(s: Stream, abort: AbortController): Promise<void> {
    const conns = this.#conns;
    const settings = conns.settings;
    const timer = setTimeout(() => abort.abort(), settings.dialTimeout);
    let conn: Deno.Conn;
    try {
      conn = s.ws === 0
        ? await settings.dial({ hostname: s.ep.address, port: s.ep.port, signal: abort.signal })
        : await dialWs(
          s,
          abort.signal,
          s.ep.proto === "wss" ? settings.dialTls : settings.dial,
          conns.stats.websocket,
        );
    } catch (err) {
      clearTimeout(timer);
      s.dialAbort = null;
      // Closed meanwhile (evicted, or the transport closed): nothing failed that matters.
      if (s.closed) return;
      conns.stats.dialFailures++;
      if (this.#failedAt.size >= settings.maxConnections) this.#failedAt.clear();
      this.#failedAt.set(s.key, settings.now());
      // A proxy's refusal is counted by the proxy's dialer and said through onDial.
      const expected = isHangup(err) || err instanceof Deno.errors.ConnectionRefused ||
        err instanceof Deno.errors.TimedOut || abort.signal.aborted ||
        err instanceof Deno.errors.NetworkUnreachable || err instanceof ProxyError;
      if (!expected) settings.onError(err);
      conns.close(s, "dial-failed");
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
    conns.attach(s, conn);
    if (conns.sink !== null) this.#reader.start(s);
    if (s.outLen > 0) this.#writer.startWrite(s);
  }

  #dialed(ep: Endpoint, outcome: TcpDialOutcome, err?: unknown): void {
    const settings = this.#conns.settings;
    try {
      settings.onDial?.(ep, outcome, err);
    } catch (err) {
      settings.onError(err);
    }
  }
}
