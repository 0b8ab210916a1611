/**
 * The TCP transport's writes (`tcp.ts`): frames queued per connection (a length prefix, or a
 * WebSocket header, then the payload, back to back), one write per connection per flush, and
 * double buffering (new frames go to the spare buffer while one is being written; both kept while
 * the connection sends in bulk, let go once it has gone quiet). A queue past
 * its connection's or the transport's byte cap drops and counts; nothing waits.
 * @module
 */

import { WS_CLIENT } from "./tcp_ws.ts";
import { writeWsFrame, WS_OP, wsHeaderSize } from "./ws_frame.ts";
import {
  EMPTY,
  INITIAL_OUT,
  isHangup,
  SHRINK_ABOVE,
  SHRINK_AFTER_WRITES,
  SMALL_WRITE,
  type Stream,
  TCP_FRAME_HEADER,
} from "./tcp_stream.ts";
import type { TcpConns } from "./tcp_conns.ts";

/** Writes `len` as a frame's 2-byte big-endian length prefix at `at` in `out`. */
export function writeFrameHeader(out: Uint8Array, at: number, len: number): void {
  out[at] = len >>> 8;
  out[at + 1] = len & 0xff;
}

/** The write queues of a transport's connections; see the module docs. */
export class TcpWriter {
  readonly #conns: TcpConns;
  #flushScheduled = false;

  /** Writes on the connections of `conns`. */
  constructor(conns: TcpConns) {
    this.#conns = conns;
  }

  /**
   * Queues `data` as one frame on `s` (a WebSocket message of `opcode` on a WebSocket); drops
   * it, counted, when the queue is full. Copies `data`.
   */
  enqueue(s: Stream, data: Uint8Array, opcode: number = WS_OP.binary): void {
    const conns = this.#conns;
    const { maxQueued, maxTotalQueued } = conns.settings;
    const need = data.length +
      (s.ws === 0 ? TCP_FRAME_HEADER : wsHeaderSize(data.length, s.ws === WS_CLIENT));
    const stats = conns.stats;
    if (s.outLen + s.inflight + need > maxQueued || stats.queuedBytes + need > maxTotalQueued) {
      // The peer (or the path) is not taking what we write: drop here so memory stays bounded.
      return conns.drop("queue-full");
    }
    let out = s.out;
    const at = s.outLen;
    if (out.length < at + need) {
      const size = Math.min(maxQueued, Math.max(INITIAL_OUT, out.length * 2, at + need));
      const grown = new Uint8Array(size);
      grown.set(out.subarray(0, at));
      s.out = out = grown;
    }
    if (s.ws === 0) {
      writeFrameHeader(out, at, data.length);
      out.set(data, at + TCP_FRAME_HEADER);
    } else {
      const masks = s.ws === WS_CLIENT ? conns.masks : null;
      writeWsFrame(out, at, opcode, data, masks?.pool ?? null, masks?.take() ?? 0);
    }
    s.outLen = at + need;
    // A control frame (a pong) is written with the frames but is none of them.
    if (opcode === WS_OP.binary) {
      s.outFrames++;
      s.outBytes += data.length;
    }
    stats.queuedBytes += need;
    s.lastActive = conns.settings.now();
    if (!s.dirty) {
      s.dirty = true;
      conns.dirty.push(s);
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
    const dirty = this.#conns.dirty;
    if (dirty.length === 0) return;
    for (let i = 0; i < dirty.length; i++) {
      const s = dirty[i];
      s.dirty = false;
      // A connection with a write in progress picks up its queue when that write finishes.
      if (!s.closed && s.conn !== null && !s.writing && s.outLen > 0) this.startWrite(s);
    }
    dirty.length = 0;
  }

  /** Hands what `s` queued to one write (a connection just dialled calls it for its queue). */
  startWrite(s: Stream): void {
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
    this.#conns.track(this.#write(s, s.conn!, buf, frames, bytes));
  }

  async #write(
    s: Stream,
    conn: Deno.Conn,
    buf: Uint8Array,
    frames: number,
    bytes: number,
  ): Promise<void> {
    const conns = this.#conns;
    const stats = conns.stats;
    try {
      let off = 0;
      while (off < buf.length) off += await conn.write(off === 0 ? buf : buf.subarray(off));
    } catch (err) {
      s.writing = false;
      s.inflight = 0;
      stats.queuedBytes -= buf.length;
      // Closed under the write (released, evicted, the transport closing): counted as what
      // closed it; else the write itself failed.
      conns.drop(s.closed ? s.closedAs : conns.closed ? "closed" : "conn-lost", frames);
      if (!s.closed) {
        if (!isHangup(err)) {
          stats.sendErrors++;
          conns.settings.onError(err);
        }
        conns.close(s);
      }
      return;
    }
    s.writing = false;
    s.inflight = 0;
    stats.queuedBytes -= buf.length;
    stats.datagramsOut += frames;
    stats.bytesOut += bytes;
    if (s.closed) return;
    s.wrote = true;
    // A bulk sender's batches come back to back, each written before the next is queued: the
    // buffers stay while it sends (made afresh, a 64 KiB batch cost a buffer grown from 4 KiB
    // to 128 KiB, zeroed and copied at each step, per write). They go after a run of small
    // writes, and from a connection that wrote nothing between two sweeps (TcpConns.sweep).
    if (buf.length >= SMALL_WRITE) s.smallWrites = 0;
    if (
      buf.buffer.byteLength > SHRINK_ABOVE && ++s.smallWrites >= SHRINK_AFTER_WRITES &&
      s.outLen === 0
    ) {
      // The burst is over: do not hold its buffers on a connection that may idle for minutes.
      s.smallWrites = 0;
      if (s.out.length > SHRINK_ABOVE) s.out = EMPTY;
    } else {
      s.spare = new Uint8Array(buf.buffer as ArrayBuffer);
    }
    if (s.outLen > 0) this.startWrite(s);
  }
}
