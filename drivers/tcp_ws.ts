/**
 * The WebSocket side of the TCP transport (`tcp.ts`): its `wss` options (the TLS listener and
 * dialer), the dial of a WebSocket, the Upgrade handshake on an accepted or a dialled connection,
 * and the read loop of an upgraded one, which hands the transport's sink one frame per binary
 * message, answers pings, and closes (counted in {@link WsStats}) on anything else. The transport keeps the connection as it keeps a TCP one: the same map, caps, timeouts
 * and write queue (whose frames `tcp.ts` heads with a WebSocket header instead of a length).
 *
 * Telling the two apart: the listener reads the first bytes of an accepted connection. `GET `
 * (0x47 0x45 0x54 0x20) starts an HTTP request; the length-prefixed stream can never start so,
 * because the first frame would be 0x4745 = 17,733 bytes long with a payload starting `T ` (0x54
 * 0x20), and every frame this transport carries starts with a little-endian message type whose
 * first byte is not 0x54: WireGuard's 1 to 4 (lib/protocol/constants.ts), the join's 0x10 to
 * 0x12 (lib/mesh/join/crypto.ts) and the relay's 0x15 and 0x16 (lib/relay/wire.ts). So all four
 * bytes are compared, not the first alone: a first frame is mostly a handshake initiation (148
 * bytes) or a join or relay message, but a data message sent on a new connection may be 17,733
 * bytes long where the MTU is past 17,000, and it still starts with type 4, not `T`.
 * @module
 */

import type { DatagramSink } from "../lib/io/driver.ts";
import type { TcpStats, WsStats } from "./shared/stats.ts";
import type { Stream } from "./tcp_stream.ts";
import { FrameBuffer } from "./frame_buffer.ts";
import {
  checkUpgradeResponse,
  errorResponse,
  headEnd,
  type MaskSource,
  parseUpgradeRequest,
  parseWsFrame,
  upgradeRequest,
  upgradeResponse,
  writeWsFrame,
  WS_MAX_HEAD,
  WS_OP,
  wsAccept,
  type WsFrame,
  wsHeaderSize,
  wsKey,
} from "./ws_frame.ts";

/**
 * Opens a TLS connection for a `wss` endpoint. By default: the TCP dial (through the proxy, if
 * any), then `Deno.startTls` on it, checked against the system's roots or `caCerts`.
 */
export type TlsDialer = (
  options: { hostname: string; port: number; signal: AbortSignal },
) => Promise<Deno.Conn>;

/** A certificate and key (PEM) to serve `wss` with, on a port of its own. */
export interface WsTlsOptions {
  /** The port (0 picks one; 443 where the network lets out HTTPS only). */
  port: number;
  /** The local address; by default the TCP listener's. */
  hostname?: string;
  /** The certificate chain, PEM. */
  cert: string;
  /** Its private key, PEM. */
  key: string;
}

/** A WebSocket connection's role: 1 the server (reads masked frames), 2 the client (masks). */
export const WS_SERVER = 1;
/** See {@link WS_SERVER}. */
export const WS_CLIENT = 2;

/** Pings answered at once before the rate of one a second applies. */
export const PING_BURST = 8;

/** Writes all of `bytes`. */
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/**
 * Reads into `buf` (already holding `filled` bytes) until an HTTP head ends; the buffer, the
 * bytes held and where the head ends, or null when the peer closed or the head is too long.
 */
async function readHead(
  conn: Deno.Conn,
  buf: Uint8Array,
  filled: number,
): Promise<{ buf: Uint8Array; filled: number; end: number } | null> {
  let end = headEnd(buf, filled);
  while (end < 0) {
    if (filled >= WS_MAX_HEAD) return null;
    if (filled === buf.length) {
      const grown = new Uint8Array(Math.min(WS_MAX_HEAD, buf.length * 2));
      grown.set(buf.subarray(0, filled));
      buf = grown;
    }
    const n = await conn.read(buf.subarray(filled));
    if (n === null) return null;
    filled += n;
    end = headEnd(buf, Math.min(filled, WS_MAX_HEAD));
  }
  return { buf, filled, end };
}

/** The bytes after a head (frames sent right behind it), copied out; empty when none. */
function rest(buf: Uint8Array, end: number, filled: number): Uint8Array {
  return buf.slice(end, filled);
}

/**
 * Serves the Upgrade on an accepted connection whose first `filled` bytes of `buf` are read.
 * Resolves with the bytes that followed the request, or null after answering a refusal (the
 * caller closes the connection); counts either way.
 */
export async function serveUpgrade(
  conn: Deno.Conn,
  buf: Uint8Array,
  filled: number,
  stats: WsStats,
): Promise<Uint8Array | null> {
  const head = await readHead(conn, buf, filled);
  if (head === null) {
    stats.refused++;
    return null;
  }
  const req = parseUpgradeRequest(head.buf.subarray(0, head.end));
  if (!req.ok) {
    stats.refused++;
    await writeAll(conn, errorResponse(req.status)).catch(() => {});
    return null;
  }
  await writeAll(conn, upgradeResponse(await wsAccept(req.key)));
  stats.upgrades++;
  return rest(head.buf, head.end, head.filled);
}

/** A dialled WebSocket whose server did not upgrade it: the message says what it answered. */
export class UpgradeRefused extends Error {
  override name = "UpgradeRefused";
}

/**
 * Asks for the Upgrade on a dialled connection (`host`: the `Host` header). Resolves with the
 * bytes that followed the answer; throws {@link UpgradeRefused} when the server did not upgrade.
 */
export async function askUpgrade(conn: Deno.Conn, host: string): Promise<Uint8Array> {
  const key = wsKey();
  const [accept] = await Promise.all([wsAccept(key), writeAll(conn, upgradeRequest(host, key))]);
  const head = await readHead(conn, new Uint8Array(1024), 0);
  if (head === null) throw new UpgradeRefused("websocket: no answer to the upgrade");
  const why = checkUpgradeResponse(head.buf.subarray(0, head.end), accept);
  if (why !== null) throw new UpgradeRefused(`websocket: ${why}`);
  return rest(head.buf, head.end, head.filled);
}

/** The default {@link TlsDialer}: `dial` (through the proxy, if any), then `Deno.startTls` on it. */
export function defaultTlsDialer(
  dial: (options: { hostname: string; port: number; signal: AbortSignal }) => Promise<Deno.TcpConn>,
  caCerts: string[] | undefined,
): TlsDialer {
  return async (o) => Deno.startTls(await dial(o), { hostname: o.hostname, caCerts });
}

/** Listens for `wss` as `tls` says (on `hostname`, the TCP listener's, unless it names one). */
export function listenWss(tls: WsTlsOptions, hostname: string): Deno.TlsListener {
  return Deno.listenTls({
    transport: "tcp",
    hostname: tls.hostname ?? hostname,
    port: tls.port,
    cert: tls.cert,
    key: tls.key,
  });
}

/**
 * Dials the WebSocket of stream `s`: `dial` (TCP, or TLS for `wss`), then the Upgrade, all within
 * the dial timeout whose `signal` closes the connection. Resolves with the connection; its bytes
 * read past the answer are kept in `s.wsInitial`. Counts the dial in `stats` either way.
 */
export async function dialWs(
  s: Stream,
  signal: AbortSignal,
  dial: (options: { hostname: string; port: number; signal: AbortSignal }) => Promise<Deno.Conn>,
  stats: WsStats,
): Promise<Deno.Conn> {
  const o = { hostname: s.ep.address, port: s.ep.port, signal };
  const conn = await dial(o);
  // The timeout closes the connection under a handshake that hangs.
  const stop = () => conn.close();
  signal.addEventListener("abort", stop, { once: true });
  try {
    const host = s.ep.family === 6
      ? `[${s.ep.address}]:${s.ep.port}`
      : `${s.ep.address}:${s.ep.port}`;
    s.wsInitial = await askUpgrade(conn, host);
    stats.dials++;
    return conn;
  } catch (err) {
    if (!signal.aborted) {
      try {
        conn.close();
      } catch { /* closed already */ }
    }
    stats.dialFailures++;
    throw err;
  } finally {
    signal.removeEventListener("abort", stop);
  }
}

/** What the read loop needs of the transport. */
export interface WsLoopHost {
  /** The transport's counters (frames count as its datagrams). */
  readonly stats: TcpStats & { websocket: WsStats };
  /** The largest frame payload. */
  readonly maxFrame: number;
  /** The clock. */
  now(): number;
  /** Reports an error that is not a hangup. */
  onError(err: unknown): void;
  /** Queues a control frame (a pong) on the connection. */
  control(s: Stream, opcode: number, payload: Uint8Array): void;
  /** Writes a close frame with `payload` now unless a write is in progress (best effort). */
  sayClose(s: Stream, conn: Deno.Conn, payload: Uint8Array): Promise<void>;
  /** Whether an error only says the connection went. */
  isHangup(err: unknown): boolean;
}

/**
 * The {@link WsLoopHost} of a transport given its parts: a close frame is written at once unless
 * a write is in progress (masked with `masks` on a connection we dialled), a pong is queued
 * through `control`.
 */
export function wsLoopHost(
  parts: Omit<WsLoopHost, "sayClose"> & { readonly masks: MaskSource },
): WsLoopHost {
  const { masks, ...host } = parts;
  return {
    ...host,
    sayClose: async (s, conn, payload) => {
      if (s.writing || s.closed) return;
      const masked = s.ws === WS_CLIENT;
      const frame = new Uint8Array(wsHeaderSize(payload.length, masked) + payload.length);
      const m = masked ? masks : null;
      writeWsFrame(frame, 0, WS_OP.close, payload, m?.pool ?? null, m?.take() ?? 0);
      s.writing = true;
      try {
        await conn.write(frame);
      } catch { /* it is going anyway */ }
      s.writing = false;
    },
  };
}

/**
 * Reads frames from an upgraded connection until it ends or breaks the protocol; delivers each
 * binary message to `sink` (one `flush()` per read). Starts with `initial`, the bytes read with
 * the handshake, in a read area of `readSize` bytes, sized as it goes (frame_buffer.ts: larger
 * for a peer that sends in bulk). Returns when the caller should close the connection.
 */
export async function wsReadLoop(
  s: Stream,
  conn: Deno.Conn,
  sink: DatagramSink,
  initial: Uint8Array,
  host: WsLoopHost,
  readSize: number,
): Promise<void> {
  const stats = host.stats;
  const ws = stats.websocket;
  // A client reads the server's unmasked frames; a server, the client's masked ones.
  const masked = s.ws === WS_SERVER;
  const frame: WsFrame = { opcode: 0, start: 0, end: 0 };
  // Messages go to the sink from the slot in front of the read area (see frame_buffer.ts).
  const rb = new FrameBuffer(Math.max(readSize, initial.length));
  let buf = rb.area;
  buf.set(initial);
  let filled = initial.length;
  let first = filled > 0;
  // Pings answered: a burst, then one a second (RFC 6455 lets either side ping; a peer that
  // makes us write pongs as fast as it sends pings is closed).
  let pingTokens = PING_BURST;
  let pingRefill = host.now();
  try {
    while (!s.closed) {
      let n = filled;
      if (!first) {
        const got = await conn.read(filled === 0 ? buf : buf.subarray(filled));
        if (got === null) {
          if (filled > 0) stats.truncated++;
          return;
        }
        if (s.closed) return;
        n = got;
        filled += n;
      }
      first = false;
      const full = filled === buf.length;
      let off = 0;
      let delivered = 0;
      // The whole size of the frame in progress when the loop stops for more bytes (0: unknown).
      let needed = 0;
      for (;;) {
        const got = parseWsFrame(buf, off, filled, host.maxFrame, masked, frame);
        if (got === "need") {
          needed = frame.end;
          break;
        }
        if (got !== "frame") {
          // Not a stream this transport speaks: no later byte can be trusted as a frame start.
          ws.badFrames++;
          stats.badFrames++;
          stats.recvErrors++;
          return;
        }
        off = frame.end;
        if (frame.opcode === WS_OP.binary) {
          const len = frame.end - frame.start;
          delivered++;
          stats.datagramsIn++;
          stats.bytesIn += len;
          try {
            sink.datagram(rb.frame(frame.start, len), s.ep);
          } catch (err) {
            host.onError(err);
          }
          if (s.closed) return;
          continue;
        }
        const payload = buf.subarray(frame.start, frame.end);
        if (frame.opcode === WS_OP.ping) {
          // Pings count for no activity: a peer that only pings is closed at the idle timeout.
          const now = host.now();
          pingTokens = Math.min(PING_BURST, pingTokens + (now - pingRefill) / 1000);
          pingRefill = now;
          if (pingTokens < 1) {
            ws.badFrames++;
            stats.recvErrors++;
            return;
          }
          pingTokens--;
          ws.pings++;
          host.control(s, WS_OP.pong, payload);
        } else if (frame.opcode === WS_OP.close) {
          // RFC 6455 section 5.5.1: answer with a close (its status echoed), then the TCP close.
          ws.closes++;
          await host.sayClose(s, conn, payload.subarray(0, Math.min(2, payload.length)));
          return;
        }
        // A pong (unasked, or to a ping we never send) is ignored.
      }
      if (delivered > 0) {
        s.framesIn += delivered;
        s.lastActive = host.now();
        try {
          sink.flush();
        } catch (err) {
          host.onError(err);
        }
      }
      if (s.closed) return;
      if (off > 0) {
        buf.copyWithin(0, off, filled);
        filled -= off;
      }
      // Larger for a bulk sender, back when it goes quiet, and a frame larger than the area
      // gets room for all of it (bounded by the frame limit), as for length-prefixed frames.
      rb.fit(n, full, filled, needed, s.authenticated);
      buf = rb.area;
    }
  } catch (err) {
    if (!s.closed) {
      if (filled > 0) stats.truncated++;
      if (!host.isHangup(err)) {
        stats.recvErrors++;
        host.onError(err);
      }
    }
  }
}
