/**
 * A `Deno.Conn` stand-in for the TCP transport's parts: its reads hand out scripted chunks (then
 * end, or throw a scripted error), its writes are recorded (or throw), so a test drives a read
 * loop or a write queue without sockets.
 * @module
 */

import { writeWsFrame, WS_OP, wsHeaderSize } from "../ws_frame.ts";

/** A scripted connection; see the module docs. */
export class ScriptConn {
  /** What was written, one entry per write call. */
  readonly written: Uint8Array[] = [];
  /** Whether `close` was called. */
  closed = false;
  /** Thrown by the next write, if set. */
  writeError: Error | null = null;
  /** The peer's address. */
  readonly remoteAddr: Deno.NetAddr;
  readonly #chunks: (Uint8Array | Error)[];

  /** Reads give `chunks` in order (an Error is thrown), then the end of the stream. */
  constructor(chunks: (Uint8Array | Error)[] = [], remote = { hostname: "192.0.2.1", port: 4000 }) {
    this.#chunks = [...chunks];
    this.remoteAddr = { transport: "tcp", ...remote };
  }

  /** The next chunk (as much as fits; the rest stays for the next read), or null at the end. */
  read(buf: Uint8Array): Promise<number | null> {
    const next = this.#chunks.shift();
    if (next === undefined) return Promise.resolve(null);
    if (next instanceof Error) return Promise.reject(next);
    const n = Math.min(buf.length, next.length);
    buf.set(next.subarray(0, n));
    if (n < next.length) this.#chunks.unshift(next.subarray(n));
    return Promise.resolve(n);
  }

  /** Records a copy of `data` and says all of it was written (or throws `writeError`). */
  write(data: Uint8Array): Promise<number> {
    if (this.writeError !== null) return Promise.reject(this.writeError);
    this.written.push(data.slice());
    return Promise.resolve(data.length);
  }

  /** Marks the connection closed. */
  close(): void {
    this.closed = true;
  }

  /** As a `Deno.Conn` (the parts use only read, write, close and remoteAddr). */
  asConn(): Deno.Conn {
    return this as unknown as Deno.Conn;
  }
}

/** `payload`s as length-prefixed frames, back to back. */
export function frames(...payloads: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(payloads.reduce((n, p) => n + 2 + p.length, 0));
  let at = 0;
  for (const p of payloads) {
    out[at] = p.length >>> 8;
    out[at + 1] = p.length & 0xff;
    out.set(p, at + 2);
    at += 2 + p.length;
  }
  return out;
}

/** `payload`s as unmasked binary WebSocket messages (as a server sends them), back to back. */
export function wsFrames(...payloads: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(
    payloads.reduce((n, p) => n + wsHeaderSize(p.length, false) + p.length, 0),
  );
  let at = 0;
  for (const p of payloads) at += writeWsFrame(out, at, WS_OP.binary, p, null);
  return out;
}
