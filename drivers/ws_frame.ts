/**
 * The WebSocket wire (RFC 6455) as far as the TCP transport needs it: the HTTP/1.1 Upgrade
 * handshake of both sides and the frame codec. A leaf: no sockets, no Deno APIs (WebCrypto for
 * the SHA-1 of `Sec-WebSocket-Accept`), so it works on the transport's own buffers.
 *
 * Why not the `ws` package from npm: it wraps Node's `net.Socket` and its own event emitter, so the
 * transport would lose its buffers, limits and counters (the length-prefixed stream shares them
 * with WebSocket connections here: one read buffer, one double-buffered write queue, one set of
 * caps), and every message would be copied into a Node `Buffer`. weft needs a small subset (one
 * binary frame per message, no extensions, no text) that this file covers in a few hundred lines.
 *
 * What weft speaks: path {@link WS_PATH}, subprotocol {@link WS_PROTOCOL} (a client that does not
 * offer it is answered 400), one binary frame per message (the TCP transport's frame payload, no
 * length prefix inside), no extensions. Text frames, fragmented messages (a browser sends each
 * `send()` of a binary message under 64 KiB as one frame), reserved bits, a client frame that is
 * not masked (or a server frame that is) and a length past the limit are protocol errors: the
 * parser says which, and the caller closes the connection and counts it.
 * @module
 */

import { maskInPlace } from "./ws_mask.ts";

/** The request path a weft WebSocket is served on; other paths are answered 404. */
export const WS_PATH = "/weft/ws";
/** The subprotocol (`Sec-WebSocket-Protocol`) both sides name. */
export const WS_PROTOCOL = "weft.v1";
/** The largest HTTP head (request or response line and headers) read before giving up. */
export const WS_MAX_HEAD = 8192;
/** The largest frame header: 2 bytes, a 16-bit extended length and a 4-byte masking key. */
export const WS_MAX_HEADER = 8;

/** Opcodes (RFC 6455 section 5.2). */
export const WS_OP = Object.freeze({
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
});

// The GUID of RFC 6455 section 1.3, appended to the key before hashing.
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Base64 of bytes (no Deno or Node helpers: this module runs anywhere). */
function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s);
}

/** `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64 of SHA-1 of the key and the GUID. */
export async function wsAccept(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", enc.encode(key + GUID));
  return base64(new Uint8Array(digest));
}

/** A fresh `Sec-WebSocket-Key`: 16 random bytes in base64. */
export function wsKey(): string {
  return base64(crypto.getRandomValues(new Uint8Array(16)));
}

/**
 * The index just past the blank line (`\r\n\r\n`) that ends an HTTP head in `buf[0, filled)`;
 * -1 while it has not arrived.
 */
export function headEnd(buf: Uint8Array, filled: number): number {
  for (let i = 3; i < filled; i++) {
    if (buf[i] === 0x0a && buf[i - 1] === 0x0d && buf[i - 2] === 0x0a && buf[i - 3] === 0x0d) {
      return i + 1;
    }
  }
  return -1;
}

/** The bytes a plain HTTP request starts with; what the TCP listener tells WebSocket apart by. */
export const HTTP_GET = Object.freeze([0x47, 0x45, 0x54, 0x20]); // "GET "

/**
 * Whether `buf[0, filled)` starts like {@link HTTP_GET}: `true` once all four bytes match,
 * `false` once one does not, `null` while the bytes so far match and more are needed.
 */
export function startsWithGet(buf: Uint8Array, filled: number): boolean | null {
  const n = Math.min(filled, HTTP_GET.length);
  for (let i = 0; i < n; i++) if (buf[i] !== HTTP_GET[i]) return false;
  return n === HTTP_GET.length ? true : null;
}

/** A parsed HTTP head: the first line's words and the headers, names lower-cased. */
interface Head {
  line: string[];
  headers: Map<string, string>;
}

/** Splits an HTTP head (request or status line, headers); null when it is not one. */
function parseHead(bytes: Uint8Array): Head | null {
  const text = dec.decode(bytes);
  const lines = text.split("\r\n");
  const first = lines[0] ?? "";
  const line = first.split(" ");
  if (line.length < 3) return null;
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i];
    if (l === "") continue;
    const colon = l.indexOf(":");
    if (colon <= 0) return null;
    const name = l.slice(0, colon).trim().toLowerCase();
    const value = l.slice(colon + 1).trim();
    // Repeated headers are one list (RFC 9110 section 5.3).
    const had = headers.get(name);
    headers.set(name, had === undefined ? value : `${had}, ${value}`);
  }
  return { line, headers };
}

/** Whether a comma-separated header value holds `token` (case-insensitive). */
function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  const want = token.toLowerCase();
  return value.split(",").some((t) => t.trim().toLowerCase() === want);
}

/** What a server makes of an upgrade request: its key, or the status to refuse it with. */
export type WsRequest =
  | { ok: true; key: string }
  | { ok: false; status: 400 | 404 | 405; reason: string };

/** Checks an upgrade request's head (through its blank line) against what weft serves. */
export function parseUpgradeRequest(bytes: Uint8Array): WsRequest {
  const head = parseHead(bytes);
  if (head === null) return { ok: false, status: 400, reason: "malformed request" };
  const [method, target, version] = head.line;
  if (method !== "GET") return { ok: false, status: 405, reason: "not GET" };
  if (version !== "HTTP/1.1") return { ok: false, status: 400, reason: "not HTTP/1.1" };
  const q = target.indexOf("?");
  if ((q < 0 ? target : target.slice(0, q)) !== WS_PATH) {
    return { ok: false, status: 404, reason: "unknown path" };
  }
  const h = head.headers;
  if (!hasToken(h.get("upgrade"), "websocket") || !hasToken(h.get("connection"), "upgrade")) {
    return { ok: false, status: 400, reason: "not a websocket upgrade" };
  }
  if (h.get("sec-websocket-version") !== "13") {
    return { ok: false, status: 400, reason: "websocket version is not 13" };
  }
  const key = h.get("sec-websocket-key") ?? "";
  // 16 bytes in base64 (RFC 6455 section 4.1).
  if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) {
    return { ok: false, status: 400, reason: "bad Sec-WebSocket-Key" };
  }
  if (!hasToken(h.get("sec-websocket-protocol"), WS_PROTOCOL)) {
    return { ok: false, status: 400, reason: `subprotocol ${WS_PROTOCOL} not offered` };
  }
  return { ok: true, key };
}

/** The server's `101 Switching Protocols` answer for `accept` (from {@link wsAccept}). */
export function upgradeResponse(accept: string): Uint8Array {
  return enc.encode(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${WS_PROTOCOL}\r\n\r\n`,
  );
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
};

/** A refusal: the status, `Connection: close`, and no body. */
export function errorResponse(status: 400 | 404 | 405): Uint8Array {
  return enc.encode(
    `HTTP/1.1 ${status} ${REASONS[status]}\r\nConnection: close\r\nContent-Length: 0\r\n` +
      (status === 400 ? `Sec-WebSocket-Version: 13\r\n` : "") + "\r\n",
  );
}

/** The client's upgrade request to `host` (the `Host` header: `name:port`) with `key`. */
export function upgradeRequest(host: string, key: string): Uint8Array {
  return enc.encode(
    `GET ${WS_PATH} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      `Sec-WebSocket-Protocol: ${WS_PROTOCOL}\r\n\r\n`,
  );
}

/** Checks a server's answer head against the accept value expected; null when it upgrades. */
export function checkUpgradeResponse(bytes: Uint8Array, accept: string): string | null {
  const head = parseHead(bytes);
  if (head === null) return "malformed answer";
  if (head.line[0] !== "HTTP/1.1" || head.line[1] !== "101") {
    return `answered ${head.line.slice(1).join(" ")}`;
  }
  const h = head.headers;
  if (!hasToken(h.get("upgrade"), "websocket") || !hasToken(h.get("connection"), "upgrade")) {
    return "not a websocket upgrade";
  }
  if (h.get("sec-websocket-accept") !== accept) return "wrong Sec-WebSocket-Accept";
  if (h.get("sec-websocket-protocol") !== WS_PROTOCOL) return `subprotocol is not ${WS_PROTOCOL}`;
  if (h.has("sec-websocket-extensions")) return "extensions were not asked for";
  return null;
}

/** Bytes of the header of a frame of `len` payload bytes (`masked`: with a masking key). */
export function wsHeaderSize(len: number, masked: boolean): number {
  return (len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/**
 * Writes a whole frame (FIN set) of `opcode` with `payload` into `out` at `at`, masked with the 4
 * bytes of `mask[maskAt..]` when given; the bytes written. `out` must hold
 * {@link wsHeaderSize} plus the payload.
 */
export function writeWsFrame(
  out: Uint8Array,
  at: number,
  opcode: number,
  payload: Uint8Array,
  mask: Uint8Array | null,
  maskAt = 0,
): number {
  const len = payload.length;
  if (len >= 65536) throw new RangeError("ws: frames past 65,535 bytes are not written");
  let p = at;
  out[p++] = 0x80 | opcode;
  const m = mask === null ? 0 : 0x80;
  if (len < 126) out[p++] = m | len;
  else {
    out[p++] = m | 126;
    out[p++] = len >>> 8;
    out[p++] = len & 0xff;
  }
  if (mask === null) {
    out.set(payload, p);
    return p + len - at;
  }
  const k0 = mask[maskAt], k1 = mask[maskAt + 1], k2 = mask[maskAt + 2], k3 = mask[maskAt + 3];
  out[p++] = k0;
  out[p++] = k1;
  out[p++] = k2;
  out[p++] = k3;
  // Copied, then masked where it lies: a word at a time needs one alignment, not two.
  out.set(payload, p);
  maskInPlace(out, p, p + len, k0, k1, k2, k3);
  return p + len - at;
}

/**
 * Masking keys for a client's frames (RFC 6455 section 5.3 asks for unpredictable ones): drawn
 * from a pool of random bytes refilled a few KiB at a time, not one `getRandomValues` a frame.
 */
export class MaskSource {
  readonly #pool = new Uint8Array(4096);
  #at = this.#pool.length;

  /** The pool; the next key is at {@link take}'s answer. */
  get pool(): Uint8Array {
    return this.#pool;
  }

  /** The offset in {@link pool} of 4 fresh bytes. */
  take(): number {
    if (this.#at + 4 > this.#pool.length) {
      crypto.getRandomValues(this.#pool);
      this.#at = 0;
    }
    const at = this.#at;
    this.#at += 4;
    return at;
  }
}

/** Why a frame is refused; the connection is closed for any. */
export type WsFrameError =
  | "reserved-bits"
  | "text"
  | "bad-opcode"
  | "fragmented"
  | "unmasked"
  | "masked"
  | "too-large"
  | "bad-length"
  | "control-too-large";

/** One parsed frame: where its payload is (unmasked in place) and where the next one starts. */
export interface WsFrame {
  /** The opcode: binary, close, ping or pong (the others are errors). */
  opcode: number;
  /** The payload is `buf[start, end)`. */
  start: number;
  /** See {@link start}. */
  end: number;
}

/**
 * Parses the frame at `buf[off, filled)` into `out` (no allocation). Answers `"frame"` (and
 * unmasks the payload in place), `"need"` (more bytes must come; `out.end` then says how many
 * bytes from `off` the whole frame takes when its header is complete, else 0) or the error.
 * `masked`: frames must carry a masking key (a server reading a client) or must not (a client).
 */
export function parseWsFrame(
  buf: Uint8Array,
  off: number,
  filled: number,
  maxPayload: number,
  masked: boolean,
  out: WsFrame,
): "frame" | "need" | WsFrameError {
  out.end = 0;
  if (filled - off < 2) return "need";
  const b0 = buf[off];
  const b1 = buf[off + 1];
  if ((b0 & 0x70) !== 0) return "reserved-bits";
  const opcode = b0 & 0x0f;
  const fin = (b0 & 0x80) !== 0;
  const control = opcode >= 0x8;
  if (opcode === WS_OP.text) return "text";
  if (
    opcode !== WS_OP.binary && opcode !== WS_OP.close && opcode !== WS_OP.ping &&
    opcode !== WS_OP.pong && opcode !== WS_OP.continuation
  ) return "bad-opcode";
  // One message is one frame: a continuation, or a message that does not end here, is not ours.
  if (!fin || opcode === WS_OP.continuation) return "fragmented";
  const isMasked = (b1 & 0x80) !== 0;
  if (isMasked !== masked) return masked ? "unmasked" : "masked";
  let len = b1 & 0x7f;
  let p = off + 2;
  if (len === 127) return "too-large"; // 64-bit lengths: at least 65,536 when minimal
  if (len === 126) {
    if (filled - off < 4) return "need";
    len = (buf[off + 2] << 8) | buf[off + 3];
    // RFC 6455 section 5.2: the minimal encoding must be used.
    if (len < 126) return "bad-length";
    p += 2;
  }
  if (control && len > 125) return "control-too-large";
  if (len > maxPayload) return "too-large";
  const start = p + (masked ? 4 : 0);
  const end = start + len;
  out.end = end - off;
  if (end > filled) return "need";
  if (masked) {
    maskInPlace(buf, start, end, buf[p], buf[p + 1], buf[p + 2], buf[p + 3]);
  }
  out.opcode = opcode;
  out.start = start;
  out.end = end;
  return "frame";
}
