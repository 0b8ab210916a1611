/**
 * The mesh DNS server: UDP and TCP listeners on each given address (one port for all), answering
 * the mesh zone and forwarding or refusing everything else. UDP needs `--unstable-net`.
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { parseAddress } from "../net/ip.ts";
import {
  Forwarder,
  parseResolvConf,
  parseUpstream,
  RESOLV_CONF,
  type Upstream,
  writeAll,
} from "./forward.ts";
import { DnsResponder } from "./responder.ts";
import { type DnsStats, newDnsStats } from "./stats.ts";
import { HEADER_SIZE } from "./wire.ts";
import { DnsZone, type ZoneSource } from "./zone.ts";

/** Options of {@linkcode serveDns}. */
export interface DnsServerOptions {
  /** Addresses to listen on, e.g. `["127.0.0.1", "10.200.0.1"]`. */
  addresses: string[];
  /** The port for UDP and TCP on every address; default 15353; 0 picks a free one. */
  port?: number;
  /** The zone's origin; default `overlay.local.`. */
  zone?: string;
  /** The membership (and health) the answers come from. */
  source: ZoneSource;
  /**
   * Forwarding of names outside the zone: `true` for the resolvers of /etc/resolv.conf, a list
   * of `addr[:port]` upstreams, or off (REFUSED) when absent or false.
   */
  forward?: boolean | string[];
  /** Record TTL, seconds; default 10. */
  ttl?: number;
  /** The overlay's IPv6 prefix for ip6.arpa (else the /64s of members' IPv6 addresses). */
  network6?: string;
  /** Where events go. */
  logger?: Logger;
  /** Counters to update (created when absent); the server's `stats` is this object. */
  stats?: DnsStats;
  /** The largest UDP response, and the size advertised in our OPT; default 4096. */
  maxUdpSize?: number;
  /** Close a TCP connection idle this long, ms; default 10000. */
  tcpIdleMs?: number;
  /** Refuse TCP connections beyond this many open ones; default 128. */
  maxTcpConnections?: number;
  /** Wait this long for an upstream over UDP, ms; default 2000. */
  forwardTimeoutMs?: number;
  /** The resolver file read when `forward` is true; default /etc/resolv.conf. */
  resolvConf?: string;
}

/** A running DNS server. */
export interface DnsServer {
  /** The bound port (UDP and TCP, on every address). */
  readonly port: number;
  /** The addresses listened on. */
  readonly addresses: readonly string[];
  /** The zone answered. */
  readonly zone: DnsZone;
  /** Counters, for /metrics. */
  readonly stats: DnsStats;
  /** The upstreams in use (`addr:port`), empty when not forwarding. */
  readonly upstreams: readonly string[];
  /** Stops listening, closes connections and waits for the loops to end. */
  close(): Promise<void>;
}

/** The default DNS port of the agent. */
export const DEFAULT_DNS_PORT = 15353;
/** A TCP query longer than this closes the connection (queries are a few hundred bytes). */
export const MAX_TCP_QUERY = 8192;
/** Answers in flight on one UDP socket before the receive loop waits for sends. */
const UDP_INFLIGHT = 256;
/** Back off after this many receive errors in a row, so a broken socket cannot spin. */
const ERROR_BURST = 100;

function isUnspecified(host: string): boolean {
  const a = parseAddress(host);
  return a !== null && a.every((b) => b === 0);
}

function isLoopback(host: string): boolean {
  const a = parseAddress(host);
  if (a === null) return false;
  if (a.length === 4) return a[0] === 127;
  return a.every((b, i) => b === (i === 15 ? 1 : 0));
}

function sameHost(a: string, b: string): boolean {
  const x = parseAddress(a);
  const y = parseAddress(b);
  return x !== null && y !== null && x.length === y.length && x.every((v, i) => v === y[i]);
}

function hostAddresses(): string[] {
  try {
    return Deno.networkInterfaces().map((i) => i.address);
  } catch {
    return []; // without --allow-sys, loopback is all we can rule out
  }
}

/** Whether a query to `up` would reach this server itself (the static half of the loop guard). */
function pointsAtUs(up: Upstream, addresses: string[], port: number): boolean {
  if (up.port !== port) return false;
  if (isUnspecified(up.hostname)) return true;
  if (addresses.some((a) => sameHost(a, up.hostname))) return true;
  if (!addresses.some(isUnspecified)) return false;
  return isLoopback(up.hostname) || hostAddresses().some((a) => sameHost(a, up.hostname));
}

async function resolveUpstreams(
  forward: boolean | string[] | undefined,
  resolvConf: string,
): Promise<Upstream[]> {
  if (forward === undefined || forward === false) return [];
  if (forward === true) {
    const text = await Deno.readTextFile(resolvConf);
    return parseResolvConf(text).map(parseUpstream);
  }
  return forward.map(parseUpstream);
}

interface Bound {
  port: number;
  udp: { conn: Deno.DatagramConn; address: string }[];
  tcp: { listener: Deno.Listener; address: string }[];
}

function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch { /* already closed */ }
}

function bindAll(addresses: string[], port: number): Bound {
  const out: Bound = { port, udp: [], tcp: [] };
  try {
    for (const address of addresses) {
      const conn = Deno.listenDatagram({ transport: "udp", hostname: address, port: out.port });
      if (out.port === 0) out.port = (conn.addr as Deno.NetAddr).port;
      out.udp.push({ conn, address });
      const listener = Deno.listen({ transport: "tcp", hostname: address, port: out.port });
      out.tcp.push({ listener, address });
    }
    return out;
  } catch (err) {
    for (const u of out.udp) closeQuietly(u.conn);
    for (const t of out.tcp) closeQuietly(t.listener);
    throw err;
  }
}

function bindWithRetry(addresses: string[], port: number): Bound {
  if (port !== 0) return bindAll(addresses, port);
  // A port free for UDP on one address may be taken for TCP or on another: try a few.
  for (let attempt = 0;; attempt++) {
    try {
      return bindAll(addresses, 0);
    } catch (err) {
      if (!(err instanceof Deno.errors.AddrInUse) || attempt >= 20) throw err;
    }
  }
}

/** Reads length-prefixed DNS messages from a TCP stream through one buffer. */
class FrameReader {
  readonly #conn: Deno.Conn;
  readonly #buf = new Uint8Array(2 + MAX_TCP_QUERY + 4096);
  #start = 0;
  #end = 0;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #fill(n: number): Promise<boolean> {
    while (this.#end - this.#start < n) {
      if (this.#start > 0 && this.#buf.length - this.#start < n) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      const got = await this.#conn.read(this.#buf.subarray(this.#end));
      if (got === null) return false;
      this.#end += got;
    }
    return true;
  }

  /** The next frame's length, or null at the end of the stream. */
  async length(): Promise<number | null> {
    if (!(await this.#fill(2))) return null;
    const b = this.#buf;
    const n = (b[this.#start] << 8) | b[this.#start + 1];
    this.#start += 2;
    return n;
  }

  /** The next `n` bytes (a view valid until the next read), or null at the end of the stream. */
  async body(n: number): Promise<Uint8Array | null> {
    if (!(await this.#fill(n))) return null;
    const view = this.#buf.subarray(this.#start, this.#start + n);
    this.#start += n;
    return view;
  }
}

class Server implements DnsServer {
  readonly port: number;
  readonly addresses: readonly string[];
  readonly zone: DnsZone;
  readonly stats: DnsStats;
  readonly upstreams: readonly string[];
  readonly #bound: Bound;
  readonly #responder: DnsResponder;
  readonly #forwarder: Forwarder | null;
  readonly #logger: Logger | undefined;
  readonly #idleMs: number;
  readonly #maxTcp: number;
  readonly #conns = new Set<Deno.Conn>();
  readonly #loops: Promise<void>[] = [];
  #closed = false;

  constructor(
    bound: Bound,
    zone: DnsZone,
    stats: DnsStats,
    forwarder: Forwarder | null,
    options: DnsServerOptions,
  ) {
    this.#bound = bound;
    this.port = bound.port;
    this.addresses = [...options.addresses];
    this.zone = zone;
    this.stats = stats;
    this.#forwarder = forwarder;
    this.upstreams = (forwarder?.upstreams ?? []).map((u) =>
      u.hostname.includes(":") ? `[${u.hostname}]:${u.port}` : `${u.hostname}:${u.port}`
    );
    this.#logger = options.logger;
    this.#idleMs = options.tcpIdleMs ?? 10_000;
    this.#maxTcp = options.maxTcpConnections ?? 128;
    this.#responder = new DnsResponder({
      zone,
      stats,
      forwarder,
      maxUdpSize: options.maxUdpSize,
      logger: options.logger,
    });
  }

  start(): void {
    for (const u of this.#bound.udp) this.#loops.push(this.#udpLoop(u.conn, u.address));
    for (const t of this.#bound.tcp) this.#loops.push(this.#tcpLoop(t.listener, t.address));
  }

  /** A datagram from our own forwarding socket: forwarding reached ourselves. */
  #isLoop(from: Deno.NetAddr): boolean {
    const f = this.#forwarder;
    if (f === null || !f.ownsPort(from.port)) return false;
    return isLoopback(from.hostname) || this.addresses.some((a) => sameHost(a, from.hostname));
  }

  async #udpLoop(conn: Deno.DatagramConn, address: string): Promise<void> {
    const local = isUnspecified(address) ? null : address;
    const buf = new Uint8Array(65536);
    let inflight = 0;
    let errors = 0;
    const sent = (): void => {
      inflight--;
    };
    const send = (out: Uint8Array, to: Deno.NetAddr): Promise<void> => {
      inflight++;
      return conn.send(out, to).then(sent, (err) => {
        inflight--;
        if (!this.#closed && this.#logger?.enabled("debug")) {
          this.#logger.debug("dns.send_failed", { error: String(err) });
        }
      });
    };
    while (!this.#closed) {
      let data: Uint8Array;
      let addr: Deno.Addr;
      try {
        [data, addr] = await conn.receive(buf);
      } catch (err) {
        if (this.#closed || err instanceof Deno.errors.BadResource) return;
        if (++errors >= ERROR_BURST) {
          errors = 0;
          this.#logger?.warn("dns.receive_errors", { error: String(err) });
          await new Promise((r) => setTimeout(r, 10));
        }
        continue;
      }
      errors = 0;
      const from = addr as Deno.NetAddr;
      if (this.#isLoop(from)) {
        this.stats.received++;
        this.stats.loops++;
        this.stats.dropped++;
        continue;
      }
      const out = this.#responder.respond(data, false, local);
      if (out === null) continue;
      if (out instanceof Promise) {
        out.then((o) => {
          if (o !== null && !this.#closed) send(o, from);
        }, (err) => this.#logger?.warn("dns.forward_error", { error: String(err) }));
        continue;
      }
      const p = send(out, from);
      if (inflight >= UDP_INFLIGHT) await p;
    }
  }

  async #tcpLoop(listener: Deno.Listener, address: string): Promise<void> {
    const local = isUnspecified(address) ? null : address;
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (this.#closed || err instanceof Deno.errors.BadResource) return;
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      if (this.#conns.size >= this.#maxTcp) {
        this.stats.tcpRejected++;
        closeQuietly(conn);
        continue;
      }
      this.#serveConn(conn, local);
    }
  }

  async #serveConn(conn: Deno.Conn, local: string | null): Promise<void> {
    const stats = this.stats;
    this.#conns.add(conn);
    stats.tcpConnections++;
    stats.tcpOpen++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The timer runs from the last answer: a client that drips bytes does not keep it alive.
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => closeQuietly(conn), this.#idleMs);
    };
    arm();
    const reader = new FrameReader(conn);
    try {
      while (!this.#closed) {
        const len = await reader.length();
        if (len === null) break;
        if (len < HEADER_SIZE || len > MAX_TCP_QUERY) {
          stats.received++;
          stats.malformed++;
          stats.dropped++;
          break;
        }
        const body = await reader.body(len);
        if (body === null) break;
        let out = this.#responder.respond(body, true, local);
        if (out instanceof Promise) {
          clearTimeout(timer);
          out = await out;
        }
        if (out === null) break;
        await writeAll(conn, out);
        arm();
      }
    } catch {
      // Reset, closed by the idle timer or by close(): the connection is over either way.
    } finally {
      clearTimeout(timer);
      this.#conns.delete(conn);
      stats.tcpOpen--;
      closeQuietly(conn);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const u of this.#bound.udp) closeQuietly(u.conn);
    for (const t of this.#bound.tcp) closeQuietly(t.listener);
    for (const c of this.#conns) closeQuietly(c);
    await this.#forwarder?.close();
    await Promise.allSettled(this.#loops);
  }
}

/**
 * Starts the DNS server: binds UDP and TCP on every address (throws if any bind fails), and
 * answers until `close()`. With forwarding on, upstreams that are this server itself are left
 * out (with a warning); if none remain, out-of-zone names are REFUSED.
 */
export async function serveDns(options: DnsServerOptions): Promise<DnsServer> {
  if (options.addresses.length === 0) throw new Error("the DNS server needs an address");
  const port = options.port ?? DEFAULT_DNS_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid DNS port ${port}`);
  }
  const zone = new DnsZone(options.source, {
    zone: options.zone,
    ttl: options.ttl,
    network6: options.network6,
  });
  let upstreams: Upstream[] = [];
  try {
    upstreams = await resolveUpstreams(options.forward, options.resolvConf ?? RESOLV_CONF);
  } catch (err) {
    // A bad upstream list is a configuration error; an unreadable resolv.conf only disables
    // forwarding, so that the mesh names still resolve.
    if (options.forward !== true) throw err;
    options.logger?.warn("dns.resolv_conf", { error: String(err) });
  }
  const stats = options.stats ?? newDnsStats();
  const bound = bindWithRetry(options.addresses, port);
  const usable = upstreams.filter((u) => !pointsAtUs(u, options.addresses, bound.port));
  if (usable.length < upstreams.length) {
    options.logger?.warn("dns.forward_loop", {
      dropped: upstreams.length - usable.length,
      reason: "upstream is this server",
    });
  }
  const forwarder = usable.length > 0
    ? new Forwarder(usable, { timeoutMs: options.forwardTimeoutMs })
    : null;
  const server = new Server(bound, zone, stats, forwarder, options);
  server.start();
  options.logger?.info("dns.listening", {
    addresses: options.addresses.join(","),
    port: bound.port,
    zone: zone.origin,
    upstreams: server.upstreams.join(",") || "none",
  });
  return server;
}
