/**
 * One connection of the TCP transport (`tcp.ts`): its state and double-buffered write queue of
 * length-prefixed frames, the sizes its buffers keep, and how a dial's or a socket's error reads.
 * @module
 */

import type { InternedEndpoint } from "./shared/endpoint.ts";
import type { TcpSendDrop } from "./shared/stats.ts";

/** Bytes of the length prefix in front of every frame. */
export const TCP_FRAME_HEADER = 2;
/** The largest frame the 2-byte length prefix can announce. */
export const TCP_MAX_FRAME = 65535;

/**
 * How a dial ended: `connected`; `refused` (a reset: nothing listens on that port); `timeout`
 * (no answer to the connect in the dial timeout: down, or a firewall drops it); `unreachable`
 * (no route: the network or host is unreachable); `failed` (any other error).
 */
export type TcpDialOutcome = "connected" | "refused" | "timeout" | "unreachable" | "failed";

/** The {@link TcpDialOutcome} of a dial that threw `err` (`aborted`: its timeout fired). */
export function dialOutcome(err: unknown, aborted: boolean): TcpDialOutcome {
  if (err instanceof Deno.errors.ConnectionRefused) return "refused";
  if (aborted || err instanceof Deno.errors.TimedOut) return "timeout";
  if (err instanceof Deno.errors.NetworkUnreachable) return "unreachable";
  // Deno has no class of its own for EHOSTUNREACH: its message says it.
  if (err instanceof Error && /host is unreachable|no route to host/i.test(err.message)) {
    return "unreachable";
  }
  return "failed";
}

/**
 * A connection's write buffer starts this small (most are keepalives and handshakes) and goes
 * back to it when a burst that grew it has been written.
 */
export const INITIAL_OUT = 4096;
/** A write buffer larger than this is let go once its burst has been written. */
export const SHRINK_ABOVE = 65536;
/** A write of fewer bytes than this is a small one: no bulk sender's batch. */
export const SMALL_WRITE = 4096;
/** Small writes in a row after which a connection's buffers larger than {@link SHRINK_ABOVE} go. */
export const SHRINK_AFTER_WRITES = 64;
/** Reads go into a buffer of this size, grown while a larger frame is arriving or in bulk. */
export const READ_SIZE = 16384;
/**
 * A connection whose read filled its buffer reads into one of this size from then on (about a
 * device batch of full-size frames), until {@link SHRINK_AFTER_READS} small reads in a row.
 */
export const READ_BULK = 131072;
/** Reads in a row of under {@link READ_SIZE} bytes after which a bulk buffer is let go. */
export const SHRINK_AFTER_READS = 64;
/** An empty buffer: the write queue of a connection with nothing queued. */
export const EMPTY = new Uint8Array(0);

/** One connection, open or being dialled, and its write queue. */
export class Stream {
  /** The remote endpoint, and the `from` of every frame read from it. */
  readonly ep: InternedEndpoint;
  /** The key in the transport's map (the endpoint's text). */
  readonly key: string;
  /** True for a connection the peer opened. */
  readonly accepted: boolean;
  /** When it was accepted or dialled. */
  readonly opened: number;
  /** Null while dialling (a TLS one for `wss`). */
  conn: Deno.Conn | null = null;
  /**
   * 0 for the length-prefixed stream; for a WebSocket (`ws`, `wss` endpoints) 1 when we serve
   * it, 2 when we dialled it (we mask what we send). See `tcp_ws.ts`.
   */
  readonly ws: 0 | 1 | 2;
  /** A dialled WebSocket's bytes read past the server's answer, for its read loop to start with. */
  wsInitial: Uint8Array = EMPTY;
  /** Aborts the dial in progress. */
  dialAbort: AbortController | null = null;
  /** The last frame in or out. */
  lastActive: number;
  /**
   * The device authenticated a message that came on it (dialled ones are ours from the start):
   * until then the frames it sends count for nothing, and at the cap it goes first.
   */
  authenticated: boolean;
  /** Frames read. */
  framesIn = 0;
  /** Frames queued and not yet handed to a write: prefix and payload, back to back. */
  out: Uint8Array = EMPTY;
  outLen = 0;
  outFrames = 0;
  outBytes = 0;
  /** The buffer of the last finished write, reused for the next batch. */
  spare: Uint8Array | null = null;
  /** Writes in a row of under {@link SMALL_WRITE} bytes (see {@link SHRINK_AFTER_WRITES}). */
  smallWrites = 0;
  /** A write finished since the last sweep: a connection without one lets its buffers go. */
  wrote = false;
  /** Bytes handed to the write in progress. */
  inflight = 0;
  writing = false;
  dirty = false;
  closed = false;
  /**
   * Why it was closed (TcpConns.close): the reason a write in flight then counts its frames
   * under when it fails.
   */
  closedAs: TcpSendDrop = "conn-lost";

  constructor(ep: InternedEndpoint, accepted: boolean, now: number) {
    this.ep = ep;
    this.key = ep.toString();
    this.accepted = accepted;
    this.opened = now;
    this.lastActive = now;
    this.authenticated = !accepted;
    this.ws = ep.proto === "tcp" ? 0 : accepted ? 1 : 2;
  }
}

/** Errors that only mean the peer or we closed the connection: counted, never reported. */
export function isHangup(err: unknown): boolean {
  return err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.BrokenPipe ||
    err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.BadResource ||
    err instanceof Deno.errors.Interrupted ||
    err instanceof Deno.errors.NotConnected;
}
