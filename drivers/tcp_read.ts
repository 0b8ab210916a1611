/**
 * The TCP transport's reads (`tcp.ts`): one loop per connection cutting the length-prefixed
 * stream into frames for the sink (one `flush()` per read, each frame handed on from the slot
 * in front of the read buffer: frame_buffer.ts), a buffer that grows for a bulk sender and
 * shrinks when it goes quiet, and the hand-over of an accepted connection whose first bytes are
 * `GET ` to the WebSocket server (tcp_ws.ts). A frame of length 0 or past `maxFrame`
 * closes its connection, counted; the transport lives on.
 * @module
 */

import { serveUpgrade, type WsLoopHost, wsReadLoop } from "./tcp_ws.ts";
import { startsWithGet } from "./ws_frame.ts";
import { FrameBuffer } from "./frame_buffer.ts";
import { EMPTY, isHangup, READ_SIZE, Stream, TCP_FRAME_HEADER } from "./tcp_stream.ts";
import type { TcpConns } from "./tcp_conns.ts";

/** The read loops of a transport's connections; see the module docs. */
export class TcpReader {
  readonly #conns: TcpConns;
  readonly #wsHost: WsLoopHost;

  /** Reads the connections of `conns`, WebSockets through `wsHost`. */
  constructor(conns: TcpConns, wsHost: WsLoopHost) {
    this.#conns = conns;
    this.#wsHost = wsHost;
  }

  /** Starts reading `s` (connected, the transport started) until it ends, then closes it. */
  start(s: Stream): void {
    const conn = s.conn!;
    const conns = this.#conns;
    if (s.ws === 0) conns.track(this.#readLoop(s, conn, conns.sink!));
    else if (s.accepted) conns.track(this.#serveWs(s, conn, new Uint8Array(READ_SIZE), 0));
    else conns.track(this.#readWs(s, conn, s.wsInitial));
  }

  /** Reads an upgraded WebSocket connection until it ends, then closes it. */
  async #readWs(s: Stream, conn: Deno.Conn, initial: Uint8Array): Promise<void> {
    s.wsInitial = EMPTY;
    await wsReadLoop(s, conn, this.#conns.sink!, initial, this.#wsHost, READ_SIZE);
    this.#conns.close(s);
  }

  /**
   * Serves the Upgrade on an accepted connection whose first bytes are in `buf`, then reads it.
   * The stream is keyed as a WebSocket from here on (`ws://`, or `wss://` from the TLS port).
   */
  async #serveWs(s: Stream, conn: Deno.Conn, buf: Uint8Array, filled: number): Promise<void> {
    const conns = this.#conns;
    let initial: Uint8Array | null = null;
    try {
      initial = await serveUpgrade(conn, buf, filled, conns.stats.websocket);
    } catch (err) {
      // A client that hangs up or fails the TLS handshake (its alert reads as InvalidData) is
      // counted: anyone can cause it, so it is not logged.
      if (!s.closed) {
        conns.stats.websocket.refused++;
        if (!isHangup(err) && !(err instanceof Deno.errors.InvalidData)) {
          conns.settings.onError(err);
        }
      }
    }
    if (initial === null || s.closed) return conns.close(s);
    let ws = s;
    if (s.ws === 0) {
      // Nothing was read as a frame from the TCP endpoint, so none was answered there: the
      // connection changes its key without closing.
      ws = new Stream(conns.wsTable.adopt(s.ep), true, s.opened);
      ws.conn = conn;
      conns.forget(s);
      const old = conns.streams.get(ws.key);
      if (old !== undefined) conns.close(old);
      conns.pendingFrom(ws.ep.address, 1);
      conns.add(ws);
    }
    await this.#readWs(ws, conn, initial);
  }

  async #readLoop(s: Stream, conn: Deno.Conn, sink: NonNullable<TcpConns["sink"]>): Promise<void> {
    const conns = this.#conns;
    const stats = conns.stats;
    const { maxFrame, now, onError } = conns.settings;
    // Frames go to the sink from the slot in front of the read area (see frame_buffer.ts).
    const rb = new FrameBuffer(READ_SIZE);
    let buf = rb.area;
    let filled = 0;
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
            conns.close(s);
            break;
          }
          const end = off + TCP_FRAME_HEADER + len;
          if (end > filled) break;
          const frame = rb.frame(off + TCP_FRAME_HEADER, len);
          off = end;
          delivered++;
          stats.datagramsIn++;
          stats.bytesIn += len;
          try {
            sink.datagram(frame, s.ep);
          } catch (err) {
            onError(err);
          }
          // The sink may have closed the transport; what is left is not delivered.
          if (s.closed) break;
        }
        if (delivered > 0) {
          s.framesIn += delivered;
          s.lastActive = now();
          try {
            sink.flush();
          } catch (err) {
            onError(err);
          }
        }
        if (s.closed) break;
        if (off > 0) {
          buf.copyWithin(0, off, filled);
          filled -= off;
        }
        // A frame in progress needs room for all of it.
        const need = filled >= TCP_FRAME_HEADER ? TCP_FRAME_HEADER + ((buf[0] << 8) | buf[1]) : 0;
        rb.fit(n, full, filled, need, s.authenticated);
        buf = rb.area;
      }
    } catch (err) {
      if (!s.closed) {
        if (filled > 0) stats.truncated++;
        if (!isHangup(err)) {
          stats.recvErrors++;
          onError(err);
        }
      }
    }
    conns.close(s);
  }
}
