/**
 * A small HTTP/1.1 server for one accepted connection, handing each request to a fetch handler
 * (the Hono app). It exists because `Deno.serve` accepts on its own: it has no connection cap and
 * no deadline for a request head, and a failed accept (EMFILE) is an uncaught rejection that ends
 * the process. Deno's `node:http` ignores `headersTimeout`. Owning the accept loop
 * ({@linkcode guardListener}) and this layer bounds everything an unauthenticated client can
 * hold: the head (size, deadline), the body (size, deadline), idle keep-alive time, and a stalled
 * response write. Responses go out chunked (streams such as the dashboard's events included).
 * @module
 */

import { STATUS_CODES } from "node:http";
import type { Slot } from "../net/conn_guard.ts";

/** Limits of the HTTP layer. */
export interface Http1Options {
  /** The whole request head must arrive within this many ms of the connection (or the previous
   * response) being ready; default 10000. */
  headerTimeoutMs?: number;
  /** Largest request head, bytes; default 16384. */
  maxHeadBytes?: number;
  /** Largest request body, bytes; default 1 MiB (larger: 413, connection closed). */
  maxBodyBytes?: number;
  /** The body must arrive within this many ms of the head; default 30000. */
  bodyTimeoutMs?: number;
  /** One write of the response may take this long before the connection is dropped; default
   * 30000. */
  writeTimeoutMs?: number;
  /** `host:port` the URLs handed to the handler are based on. */
  origin: string;
  /**
   * Take an absolute-form target (`GET http://localhost/status`), as fetch sends it through a
   * unix-socket client (as to a proxy): its path and query only, on `origin`. Off by default:
   * a TCP client has no reason to send one, and the Host check reads the `Host` header.
   */
  absoluteForm?: boolean;
}

type Handler = (req: Request) => Response | Promise<Response>;

const enc = new TextEncoder();

class Closed extends Error {}

/** Reads from the connection through one growing buffer. */
class Input {
  buf = new Uint8Array(4096);
  start = 0;
  end = 0;
  constructor(readonly conn: Deno.Conn) {}

  get available(): number {
    return this.end - this.start;
  }

  /** Reads more bytes; false at the end of the stream. */
  async fill(max: number): Promise<boolean> {
    if (this.start === this.end) this.start = this.end = 0;
    if (this.end === this.buf.length) {
      if (this.start > 0) {
        this.buf.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      } else {
        if (this.buf.length >= max) throw new Closed("buffer full");
        const next = new Uint8Array(Math.min(this.buf.length * 2, max));
        next.set(this.buf.subarray(0, this.end));
        this.buf = next;
      }
    }
    const n = await this.conn.read(this.buf.subarray(this.end));
    if (n === null) return false;
    this.end += n;
    return true;
  }

  /** Index just past the head's blank line, or -1. */
  headEnd(): number {
    const b = this.buf;
    for (let i = this.start; i + 3 < this.end; i++) {
      if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i + 4;
    }
    return -1;
  }

  take(n: number): Uint8Array {
    const out = this.buf.slice(this.start, this.start + n);
    this.start += n;
    return out;
  }
}

interface Head {
  method: string;
  target: string;
  minor: number;
  headers: Headers;
}

class BadRequest extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** The request body stream fails with this when the body grows past the limit. */
export class BodyTooLargeError extends Error {
  /** Names the limit. */
  constructor(max: number) {
    super(`request body over ${max} bytes`);
    this.name = "BodyTooLargeError";
  }
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function parseHead(bytes: Uint8Array): Head {
  // Latin-1: every byte maps to one code unit, so nothing here can throw on bad UTF-8.
  let text = "";
  for (let i = 0; i < bytes.length - 4; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, Math.min(i + 8192, bytes.length - 4)));
  }
  const lines = text.split("\r\n");
  const m = /^([A-Z]{1,16}) (\/[^ ]*|https?:\/\/[^ \/]+\/[^ ]*) HTTP\/1\.([01])$/.exec(lines[0]);
  if (!m) throw new BadRequest(400, "malformed request line");
  const headers = new Headers();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) throw new BadRequest(400, "malformed header line");
    const value = line.slice(colon + 1).trim();
    try {
      headers.append(name, value);
    } catch {
      throw new BadRequest(400, "malformed header value");
    }
  }
  return { method: m[1], target: m[2], minor: Number(m[3]), headers };
}

/** Races `p` against a deadline that closes the connection. */
function deadline<T>(slot: Slot, ms: number, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => {
        slot.close(true);
        reject(new Closed("deadline"));
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

// The standard reason phrase: a handler's statusText is usually empty, and an error message
// (which may echo input) has no place in the status line.
function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Unknown"}\r\n`;
}

async function simpleResponse(conn: Deno.Conn, status: number, message: string): Promise<void> {
  const body = enc.encode(JSON.stringify({ error: message }));
  await writeAll(
    conn,
    enc.encode(
      statusLine(status) +
        `content-type: application/json\r\ncontent-length: ${body.length}\r\n` +
        "connection: close\r\n\r\n",
    ),
  );
  await writeAll(conn, body);
}

/** Unread request bytes read and dropped after an early answer, at most (and for at most
 * {@linkcode LINGER_MS}). */
const LINGER_BYTES = 8 << 20;
const LINGER_MS = 2000;

/**
 * Ends a connection whose request body was not read: closing with unread bytes would reset it,
 * and the client, still sending, would never see our answer (a 413, say). So: read and drop
 * what still comes, bounded in bytes and time, then close. (Not a half-close: some clients take
 * our FIN for a failed request before they read the answer.)
 */
async function linger(slot: Slot): Promise<void> {
  const conn = slot.conn;
  const timer = setTimeout(() => slot.close(), LINGER_MS);
  try {
    const buf = new Uint8Array(65536);
    for (let total = 0; total < LINGER_BYTES;) {
      const n = await conn.read(buf);
      if (n === null) break;
      total += n;
    }
  } catch {
    /* reset or closed: done either way */
  } finally {
    clearTimeout(timer);
  }
}

/** Serves HTTP/1.1 requests on one guarded connection until it closes or a limit is hit. */
export async function serveHttp1(slot: Slot, handler: Handler, opts: Http1Options): Promise<void> {
  const conn = slot.conn;
  const headerMs = opts.headerTimeoutMs ?? 10_000;
  const maxHead = opts.maxHeadBytes ?? 16_384;
  const maxBody = opts.maxBodyBytes ?? 1 << 20;
  const bodyMs = opts.bodyTimeoutMs ?? 30_000;
  const writeMs = opts.writeTimeoutMs ?? 30_000;
  const input = new Input(conn);
  const base = `http://${opts.origin}`;
  // The read that watches for the client going away during a response; its bytes (the next
  // request) stay in the buffer, and the next head waits for it first.
  let pending: Promise<boolean> | null = null;

  while (!slot.closed) {
    // 1. The head, within its deadline; the slot may be evicted meanwhile.
    slot.waiting = true;
    let end = -1;
    try {
      end = await deadline(
        slot,
        headerMs,
        (async () => {
          if (pending !== null && !(await pending)) throw new Closed("eof");
          pending = null;
          end = input.headEnd();
          while (end < 0) {
            if (input.available >= maxHead) throw new BadRequest(431, "request head too large");
            if (!(await input.fill(maxHead))) throw new Closed("eof");
            end = input.headEnd();
          }
          // A read may bring a whole head larger than the limit at once.
          if (end - input.start > maxHead) throw new BadRequest(431, "request head too large");
          return end;
        })(),
      );
    } catch (e) {
      if (e instanceof BadRequest) await simpleResponse(conn, e.status, e.message).catch(() => {});
      return;
    }
    slot.waiting = false;
    let head: Head;
    try {
      head = parseHead(input.take(end - input.start));
    } catch (e) {
      const err = e as BadRequest;
      await simpleResponse(conn, err.status ?? 400, err.message).catch(() => {});
      return;
    }

    // 2. The body's framing and size, before the handler sees anything.
    const te = head.headers.get("transfer-encoding");
    const clText = head.headers.get("content-length");
    let length = 0;
    const chunked = te !== null;
    if (te !== null && (te.toLowerCase() !== "chunked" || clText !== null)) {
      await simpleResponse(conn, 400, "unsupported transfer-encoding").catch(() => {});
      return;
    }
    if (clText !== null) {
      if (!/^\d{1,15}$/.test(clText)) {
        await simpleResponse(conn, 400, "bad content-length").catch(() => {});
        return;
      }
      length = Number(clText);
    }
    if (length > maxBody) {
      await simpleResponse(conn, 413, `request body over ${maxBody} bytes`).catch(() => {});
      await linger(slot);
      return;
    }
    if (head.headers.get("expect")?.toLowerCase() === "100-continue" && (chunked || length > 0)) {
      await writeAll(conn, enc.encode("HTTP/1.1 100 Continue\r\n\r\n")).catch(() => {});
    }
    const body = new BodyReader(input, slot, chunked, length, maxBody, bodyMs);

    let url: URL;
    try {
      const abs = head.target.startsWith("/") ? null : new URL(head.target);
      if (abs && !opts.absoluteForm) throw new Error("absolute-form target");
      url = new URL(base + (abs ? abs.pathname + abs.search : head.target));
    } catch {
      await simpleResponse(conn, 400, "malformed request target").catch(() => {});
      return;
    }
    const keepAlive = head.headers.get("connection")?.toLowerCase() === "close"
      ? false
      : head.minor === 1 || head.headers.get("connection")?.toLowerCase() === "keep-alive";
    const gone = new AbortController();
    const req = new Request(url, {
      method: head.method,
      headers: head.headers,
      body: body.empty || head.method === "GET" || head.method === "HEAD" ? null : body.stream(),
      signal: gone.signal,
    });

    // 3. The response, chunked; a stalled write drops the connection.
    let res: Response;
    try {
      res = await handler(req);
    } catch {
      res = new Response(JSON.stringify({ error: "internal error" }), { status: 500 });
    }
    const reader = head.method === "HEAD" ? null : res.body?.getReader() ?? null;
    if (head.method === "HEAD") await res.body?.cancel().catch(() => {});
    // Once the request body is in, a read tells us if the client goes away mid-response.
    const watch = body.done.then(() => input.available > 0 ? true : input.fill(maxHead))
      .catch(() => false)
      .then((more) => {
        if (!more) {
          gone.abort();
          reader?.cancel().catch(() => {});
        }
        return more;
      });
    let headText = statusLine(res.status);
    for (const [k, v] of res.headers) {
      if (k === "content-length" || k === "transfer-encoding" || k === "connection") continue;
      headText += `${k}: ${v.replace(/[\r\n]/g, "")}\r\n`;
    }
    const noBody = reader === null || res.status === 204 || res.status === 304;
    headText += noBody ? "content-length: 0\r\n" : "transfer-encoding: chunked\r\n";
    // A body the handler left unread (or refused as too large) ends the connection after this.
    const unread = !body.finished;
    if (!keepAlive || unread) headText += "connection: close\r\n";
    try {
      await deadline(slot, writeMs, writeAll(conn, enc.encode(headText + "\r\n")));
      if (!noBody) {
        for (;;) {
          const r = await reader!.read();
          if (r.done) break;
          if (r.value.length === 0) continue;
          const frame = new Uint8Array(r.value.length + 20);
          const size = enc.encode(r.value.length.toString(16) + "\r\n");
          frame.set(size);
          frame.set(r.value, size.length);
          frame.set([13, 10], size.length + r.value.length);
          await deadline(
            slot,
            writeMs,
            writeAll(conn, frame.subarray(0, size.length + r.value.length + 2)),
          );
        }
        await deadline(slot, writeMs, writeAll(conn, enc.encode("0\r\n\r\n")));
      } else {
        await reader?.cancel().catch(() => {});
      }
    } catch {
      reader?.cancel().catch(() => {});
      body.dispose();
      return;
    }
    if (unread) {
      body.dispose();
      await linger(slot);
      return;
    }
    if (!keepAlive) return;
    pending = watch;
  }
}

/** The request body: Content-Length or chunked, bounded in size and time. */
class BodyReader {
  readonly done: Promise<void>;
  #resolve!: () => void;
  #left: number;
  #chunkLeft = 0;
  #afterChunk = false;
  #ended = false;
  #total = 0;
  #started = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly input: Input,
    readonly slot: Slot,
    readonly chunked: boolean,
    length: number,
    readonly max: number,
    readonly timeoutMs: number,
  ) {
    this.#left = length;
    this.done = new Promise((r) => (this.#resolve = r));
    if (!chunked && length === 0) this.#finish();
  }

  /** Whether the whole body was read. */
  get finished(): boolean {
    return this.#ended;
  }

  get empty(): boolean {
    return !this.chunked && this.#left === 0;
  }

  #finish(): void {
    this.#ended = true;
    clearTimeout(this.#timer);
    this.#resolve();
  }

  /** Stops the body's deadline. */
  dispose(): void {
    clearTimeout(this.#timer);
  }

  #arm(): void {
    if (this.#started) return;
    this.#started = true;
    this.#timer = setTimeout(() => this.slot.close(true), this.timeoutMs);
  }

  async #need(): Promise<void> {
    if (this.input.available === 0 && !(await this.input.fill(1 << 16))) throw new Closed("eof");
  }

  async #line(): Promise<string> {
    for (;;) {
      const b = this.input.buf;
      for (let i = this.input.start; i + 1 < this.input.end; i++) {
        if (b[i] === 13 && b[i + 1] === 10) {
          const line = String.fromCharCode(...b.subarray(this.input.start, i));
          this.input.start = i + 2;
          return line;
        }
      }
      if (this.input.available > 1024) throw new BadRequest(400, "bad chunk header");
      if (!(await this.input.fill(1 << 16))) throw new Closed("eof");
    }
  }

  #queue: Promise<unknown> = Promise.resolve();

  /** The next piece of the body, or null at its end (calls are served one after another). */
  next(): Promise<Uint8Array | null> {
    const p = this.#queue.then(() => this.#next());
    this.#queue = p.catch(() => {});
    return p;
  }

  async #next(): Promise<Uint8Array | null> {
    if (this.#ended) return null;
    this.#arm();
    if (this.chunked && this.#chunkLeft === 0) {
      if (this.#afterChunk && (await this.#line()) !== "") {
        throw new BadRequest(400, "bad chunk end");
      }
      this.#afterChunk = false;
      const size = /^([0-9a-fA-F]{1,8})(;.*)?$/.exec(await this.#line());
      if (!size) throw new BadRequest(400, "bad chunk size");
      this.#chunkLeft = parseInt(size[1], 16);
      if (this.#chunkLeft === 0) {
        // Trailers, up to the blank line.
        while ((await this.#line()) !== "");
        this.#finish();
        return null;
      }
    }
    await this.#need();
    const want = this.chunked ? this.#chunkLeft : this.#left;
    const n = Math.min(want, this.input.available);
    if (this.#total + n > this.max) throw new BodyTooLargeError(this.max);
    this.#total += n;
    const out = this.input.take(n);
    if (this.chunked) this.#afterChunk = (this.#chunkLeft -= n) === 0;
    else if ((this.#left -= n) === 0) this.#finish();
    return out;
  }

  stream(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      pull: async (c) => {
        try {
          const part = await this.next();
          if (part === null) c.close();
          else c.enqueue(part);
        } catch (e) {
          // The connection ends after the answer (the body is unread): see linger().
          c.error(e);
        }
      },
      cancel: () => {},
    }, { highWaterMark: 0 });
  }
}
