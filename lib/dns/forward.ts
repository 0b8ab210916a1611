/**
 * Forwarding of names outside the mesh zone to upstream resolvers: UDP with a timeout, then TCP
 * when the upstream's answer is truncated; the next upstream on a timeout or error.
 * @module
 */

import { isIP, parseAddress } from "../net/ip.ts";
import { type HostPortError, parseHostPort } from "../net/hostport.ts";
import { canonicalName, type DnsQuestion, HEADER_SIZE, MAX_MESSAGE, readQuestion } from "./wire.ts";
import {
  bindUdpSocket,
  closeUdpSocket,
  type RemoteInfo,
  type Socket,
} from "../../drivers/udp_node.ts";

/** An upstream resolver. */
export interface Upstream {
  /** IPv4 or IPv6 address. */
  hostname: string;
  /** Port (53 unless given). */
  port: number;
}

/** The default resolver configuration file. */
export const RESOLV_CONF = "/etc/resolv.conf";

/** The `nameserver` addresses of a resolv.conf text, in order (link-local scoped ones skipped). */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/[#;].*$/, "").trim();
    const m = /^nameserver\s+(\S+)$/.exec(line);
    if (m === null || m[1].includes("%")) continue;
    if (parseAddress(m[1]) !== null) out.push(m[1]);
  }
  return out;
}

/** Parses `addr`, `addr:port`, `[v6]:port` or a bare IPv6 address; throws on bad text. */
export function parseUpstream(text: string): Upstream {
  const t = text.trim();
  // A bare address is on port 53: `[v6]` too, and IPv6 text, whose colons leave no room for one.
  const bare = t.startsWith("[") && t.endsWith("]") ? t.slice(1, -1) : t;
  if (isIP(bare)) return { hostname: bare, port: 53 };
  try {
    const { host, port } = parseHostPort(t, { host: "ip" });
    return { hostname: host, port };
  } catch (e) {
    if ((e as HostPortError).code === "port") {
      throw new Error(`invalid DNS upstream port in "${text}"`);
    }
    throw new Error(`invalid DNS upstream "${text}"`);
  }
}

/** Options of {@linkcode Forwarder}. */
export interface ForwarderOptions {
  /** How long to wait for one upstream over UDP, ms; default 2000. */
  timeoutMs?: number;
  /** How long a TCP exchange may take, ms; default 3000. */
  tcpTimeoutMs?: number;
  /** How many forwarded queries may wait at once; beyond it queries fail at once. */
  maxPending?: number;
}

interface Pending {
  upstream: Upstream;
  question: DnsQuestion;
  done: (answer: Uint8Array | null) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** The outcome of one forwarded query. */
export type ForwardResult =
  | { ok: true; answer: Uint8Array; via: "udp" | "tcp" }
  | { ok: false; reason: "timeout" | "overload" | "error" };

function sameAddress(a: string, b: string): boolean {
  const x = parseAddress(a);
  const y = parseAddress(b);
  return x !== null && y !== null && x.length === y.length && x.every((v, i) => v === y[i]);
}

function familyOf(up: Upstream): 4 | 6 {
  return up.hostname.includes(":") ? 6 : 4;
}

/** Sends queries to upstream resolvers over shared UDP sockets (one per address family). */
export class Forwarder {
  /** The upstreams, tried in order. */
  readonly upstreams: Upstream[];
  readonly #timeoutMs: number;
  readonly #tcpTimeoutMs: number;
  readonly #maxPending: number;
  readonly #pending = new Map<number, Pending>();
  readonly #sockets = new Map<4 | 6, Socket>();
  readonly #tcp = new Set<Deno.Conn>();
  readonly #ports: number[] = [];
  readonly #inflight = new Map<string, Promise<ForwardResult>>();
  #closed = false;

  private constructor(upstreams: Upstream[], options: ForwarderOptions) {
    this.upstreams = upstreams;
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#tcpTimeoutMs = options.tcpTimeoutMs ?? 3000;
    this.#maxPending = options.maxPending ?? 2048;
  }

  /**
   * A forwarder to `upstreams` with its sockets bound (one per address family the upstreams
   * use): a socket that cannot be opened is an error now, not a query that silently times out.
   */
  static async open(upstreams: Upstream[], options: ForwarderOptions = {}): Promise<Forwarder> {
    const f = new Forwarder(upstreams, options);
    try {
      for (const family of new Set(upstreams.map(familyOf))) {
        const wildcard = family === 4 ? "0.0.0.0" : "::";
        let sock: Socket;
        try {
          sock = await bindUdpSocket(wildcard, 0);
        } catch (err) {
          throw new Error(`DNS forwarding: cannot open a UDP socket on ${wildcard}: ${err}`, {
            cause: err,
          });
        }
        f.#sockets.set(family, sock);
        f.#ports.push(sock.address().port);
        f.#listen(sock);
      }
    } catch (err) {
      await f.close();
      throw err;
    }
    return f;
  }

  /** Whether `port` is the local port of a forwarding socket (our own queries coming back). */
  ownsPort(port: number): boolean {
    for (const p of this.#ports) if (p === port) return true;
    return false;
  }

  /** Number of queries waiting for an upstream. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Forwards `query` (copied; its id is replaced) and resolves with the first upstream's
   * answer, its id still the one we sent: the caller puts the client's id back.
   *
   * Queries for a question already on its way upstream wait for that answer instead of going
   * out again. Besides sparing the upstream, this ends forwarding loops through other servers
   * (A forwards to B, B to A): the looped query finds its own question pending and waits.
   * `variant` names the query flags that change the answer (RD, CD, EDNS, DO), so that only
   * queries that would get the same answer share one.
   */
  forward(original: Uint8Array, variant = ""): Promise<ForwardResult> {
    const asked = readQuestion(original);
    if (asked === null || this.upstreams.length === 0) {
      return Promise.resolve({ ok: false, reason: "error" });
    }
    const q = asked.question;
    const key = `${canonicalName(q.name)}|${q.type}|${q.class}|${variant}`;
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    if (this.#pending.size >= this.#maxPending) {
      return Promise.resolve({ ok: false, reason: "overload" });
    }
    // The caller's buffer may be reused for the next datagram while we wait.
    const p = this.#exchange(original.slice(), q);
    this.#inflight.set(key, p);
    const done = (): void => {
      this.#inflight.delete(key);
    };
    p.then(done, done);
    return p;
  }

  async #exchange(query: Uint8Array, question: DnsQuestion): Promise<ForwardResult> {
    let reason: "timeout" | "error" = "error";
    for (const up of this.upstreams) {
      if (this.#closed) break;
      const answer = await this.#udp(query, up, question);
      if (answer === null) {
        reason = "timeout";
        continue;
      }
      if ((answer[2] & 0x02) === 0) return { ok: true, answer, via: "udp" };
      const full = await this.#viaTcp(query, up, question);
      // A failed TCP retry still leaves the truncated answer to relay: the client retries.
      return full === null
        ? { ok: true, answer, via: "udp" }
        : { ok: true, answer: full, via: "tcp" };
    }
    return { ok: false, reason };
  }

  #newId(): number {
    const r = new Uint16Array(1);
    for (;;) {
      crypto.getRandomValues(r);
      if (!this.#pending.has(r[0])) return r[0];
    }
  }

  #udp(query: Uint8Array, up: Upstream, question: DnsQuestion): Promise<Uint8Array | null> {
    // open() bound a socket for every family the upstreams use.
    const sock = this.#sockets.get(familyOf(up))!;
    const id = this.#newId();
    const out = query.slice();
    out[0] = id >> 8;
    out[1] = id;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve(null);
      }, this.#timeoutMs);
      this.#pending.set(id, { upstream: up, question, done: resolve, timer });
      // A failed send moves on to the next upstream at once instead of waiting out the timeout.
      sock.send(out, up.port, up.hostname, (err) => {
        if (err === null) return;
        const p = this.#pending.get(id);
        if (p === undefined) return;
        clearTimeout(p.timer);
        this.#pending.delete(id);
        resolve(null);
      });
    });
  }

  #listen(sock: Socket): void {
    // ICMP errors for earlier sends may surface as socket errors; the timeout handles those
    // queries, and an unhandled error event would throw.
    sock.on("error", () => {});
    sock.on("message", (data: Uint8Array, from: RemoteInfo) => {
      if (this.#closed || data.length < HEADER_SIZE) return;
      const id = (data[0] << 8) | data[1];
      const p = this.#pending.get(id);
      // Only the upstream we asked, answering the question we asked, may complete a query.
      if (p === undefined || from.port !== p.upstream.port) return;
      if (!sameAddress(from.address, p.upstream.hostname)) return;
      if (!matches(data, p.question)) return;
      clearTimeout(p.timer);
      this.#pending.delete(id);
      p.done(data);
    });
  }

  async #viaTcp(query: Uint8Array, up: Upstream, q: DnsQuestion): Promise<Uint8Array | null> {
    let conn: Deno.Conn | null = null;
    const timer = setTimeout(() => {
      try {
        conn?.close();
      } catch { /* already closed */ }
    }, this.#tcpTimeoutMs);
    try {
      conn = await Deno.connect({ hostname: up.hostname, port: up.port });
      this.#tcp.add(conn);
      const id = this.#newId();
      const out = new Uint8Array(query.length + 2);
      out[0] = query.length >> 8;
      out[1] = query.length;
      out.set(query, 2);
      out[2] = id >> 8;
      out[3] = id;
      await writeAll(conn, out);
      const head = await readExact(conn, 2);
      if (head === null) return null;
      const len = (head[0] << 8) | head[1];
      if (len < HEADER_SIZE || len > MAX_MESSAGE) return null;
      const body = await readExact(conn, len);
      if (body === null || ((body[0] << 8) | body[1]) !== id || !matches(body, q)) return null;
      return body;
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
      if (conn !== null) {
        this.#tcp.delete(conn);
        try {
          conn.close();
        } catch { /* closed by the timer */ }
      }
    }
  }

  /** Fails every waiting query and closes the sockets. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(id);
      p.done(null);
    }
    const closing = [...this.#sockets.values()].map(closeUdpSocket);
    for (const c of this.#tcp) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    await Promise.all(closing);
  }
}

function matches(answer: Uint8Array, q: DnsQuestion): boolean {
  const got = readQuestion(answer);
  return got !== null && got.header.qr && got.question.type === q.type &&
    got.question.class === q.class && canonicalName(got.question.name) === canonicalName(q.name);
}

/** Writes all of `data` to `conn` (a write may take only part). */
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/** Reads exactly `n` bytes, or null when the stream ends first. */
export async function readExact(conn: Deno.Conn, n: number): Promise<Uint8Array | null> {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await conn.read(out.subarray(off));
    if (got === null) return null;
    off += got;
  }
  return out;
}
