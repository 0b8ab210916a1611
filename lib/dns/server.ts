/**
 * The mesh DNS server: UDP and TCP listeners on each given address (one port for all), answering
 * the mesh zone and forwarding or refusing everything else (forwarding only for this host's own
 * queries unless `forwardMembers`). UDP goes through FFI sockets on Linux
 * and `node:dgram` elsewhere: no unstable Deno API either way.
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { parseAddress } from "../net/ip.ts";
import { formatHostPort } from "../net/hostport.ts";
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
import type { DatagramSink, Endpoint, Transport } from "../io/driver.ts";
import { isAddrInUse, NodeUdpTransport } from "../../drivers/udp_node.ts";
import { LinuxUdpTransport } from "../../drivers/linux/udp.ts";
import { Poller } from "../../drivers/linux/poller.ts";
import { EADDRINUSE } from "../../drivers/linux/libc.ts";
import { DnsZone, type ZoneSource } from "./zone.ts";
import { hostAddresses, LocalAddresses } from "./scope.ts";
import { type ListenerStats, newListenerStats } from "../net/conn_guard.ts";
import type { DnsRoute } from "../net/dns_route.ts";

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
  /**
   * Split DNS: names under each domain go to its resolvers, whether or not `forward` is on (a
   * domain inside the zone is refused at start).
   */
  routes?: DnsRoute[];
  /**
   * Forward (split DNS included) for every querier, not only for this host (loopback and its own
   * addresses): other members, hosts behind routers. Default false: theirs are REFUSED, as
   * upstreams answer as this host (one on its loopback, say) would answer only it.
   */
  forwardMembers?: boolean;
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
  /** UDP sockets: `linux` (FFI, batched; the default on Linux) or `node` (`node:dgram`). */
  udp?: DnsUdp;
}

/** Which UDP sockets the DNS server uses. */
export type DnsUdp = "linux" | "node";

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
  /** The TCP listeners' connection counters (failed accepts included), for /metrics. */
  readonly listenerStats: ListenerStats;
  /** Stops listening, closes connections and waits for the loops to end. */
  close(): Promise<void>;
}

/** The default DNS port of the agent. */
export const DEFAULT_DNS_PORT = 15353;
/** A TCP query longer than this closes the connection (queries are a few hundred bytes). */
export const MAX_TCP_QUERY = 8192;
/**
 * Answers in flight on one node:dgram socket; beyond it answers are dropped (the transport counts
 * them), so a flood cannot queue sends without bound.
 */
const UDP_INFLIGHT = 256;
/** TCP accept errors (each followed by a short pause) are logged once per this many. */
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
  udp: { transport: Transport; address: string }[];
  tcp: { listener: Deno.Listener; address: string }[];
  /** The poll loop of the FFI sockets (Linux), shared by every address. */
  poller: Poller | null;
}

function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch { /* already closed */ }
}

async function unbind(b: Bound): Promise<void> {
  for (const t of b.tcp) closeQuietly(t.listener);
  await Promise.all(b.udp.map((u) => u.transport.close()));
  await b.poller?.close();
}

async function bindAll(
  addresses: string[],
  port: number,
  udp: DnsUdp,
  onError: (err: unknown) => void,
): Promise<Bound> {
  const poller = udp === "linux" ? new Poller({ onError }) : null;
  const out: Bound = { port, udp: [], tcp: [], poller };
  let what = "";
  try {
    for (const address of addresses) {
      what = `udp ${address}`;
      const transport = poller
        ? await LinuxUdpTransport.open({ port: out.port, hostname: address, poller, onError })
        : await NodeUdpTransport.open({
          port: out.port,
          hostname: address,
          onError,
          maxInflight: UDP_INFLIGHT,
        });
      if (out.port === 0) out.port = transport.port;
      out.udp.push({ transport, address });
      what = `tcp ${address}`;
      const listener = Deno.listen({ transport: "tcp", hostname: address, port: out.port });
      out.tcp.push({ listener, address });
    }
    return out;
  } catch (err) {
    await unbind(out);
    throw new DnsBindError(`${what} port ${out.port}`, err);
  }
}

async function bindWithRetry(
  addresses: string[],
  port: number,
  udp: DnsUdp,
  onError: (err: unknown) => void,
): Promise<Bound> {
  if (port !== 0) return await bindAll(addresses, port, udp, onError);
  // A port free for UDP on one address may be taken for TCP or on another: try a few.
  for (let attempt = 0;; attempt++) {
    try {
      return await bindAll(addresses, 0, udp, onError);
    } catch (err) {
      const cause = err instanceof DnsBindError ? err.cause : err;
      if (!inUse(cause) || attempt >= 20) throw err;
    }
  }
}

function inUse(err: unknown): boolean {
  return isAddrInUse(err) || (err as { errno?: unknown } | null)?.errno === EADDRINUSE;
}

/** The DNS server could not listen where it was asked to; `cause` is the socket's error. */
export class DnsBindError extends Error {
  /** Names where (`udp 127.0.0.1 port 15353`) and why. */
  constructor(where: string, cause: unknown) {
    super(`cannot listen on ${where}: ${cause instanceof Error ? cause.message : cause}`, {
      cause,
    });
    this.name = "DnsBindError";
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
  readonly listenerStats: ListenerStats = newListenerStats();
  readonly #bound: Bound;
  readonly #responder: DnsResponder;
  readonly #forwarder: Forwarder | null;
  readonly #routes: { domain: string; forwarder: Forwarder }[];
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
    routes: { domain: string; forwarder: Forwarder }[] = [],
  ) {
    this.#bound = bound;
    this.port = bound.port;
    this.addresses = [...options.addresses];
    this.zone = zone;
    this.stats = stats;
    this.#forwarder = forwarder;
    this.#routes = routes;
    this.upstreams = (forwarder?.upstreams ?? []).map((u) =>
      formatHostPort({ host: u.hostname, port: u.port })
    );
    this.#logger = options.logger;
    this.#idleMs = options.tcpIdleMs ?? 10_000;
    this.#maxTcp = options.maxTcpConnections ?? 128;
    const local = new LocalAddresses(options.addresses);
    this.#responder = new DnsResponder({
      zone,
      stats,
      forwarder,
      routes,
      ...(options.forwardMembers ? {} : { forwardFor: (from) => local.has(from) }),
      maxUdpSize: options.maxUdpSize,
      logger: options.logger,
    });
  }

  start(): void {
    for (const u of this.#bound.udp) this.#udpServe(u.transport, u.address);
    for (const t of this.#bound.tcp) this.#loops.push(this.#tcpLoop(t.listener, t.address));
  }

  /** A datagram from our own forwarding socket: forwarding reached ourselves. */
  #isLoop(hostname: string, port: number): boolean {
    const f = this.#forwarder;
    const ours = (f !== null && f.ownsPort(port)) ||
      this.#routes.some((r) => r.forwarder.ownsPort(port));
    if (!ours) return false;
    return isLoopback(hostname) || this.addresses.some((a) => sameHost(a, hostname));
  }

  #udpServe(transport: Transport, address: string): void {
    const local = isUnspecified(address) ? null : address;
    const stats = this.stats;
    const sink: DatagramSink = {
      datagram: (data: Uint8Array, from: Endpoint) => {
        if (this.#closed) return;
        if (this.#isLoop(from.address, from.port)) {
          stats.received++;
          stats.loops++;
          stats.dropped++;
          return;
        }
        const out = this.#responder.respond(data, false, local, from.address);
        if (out === null) return;
        if (out instanceof Promise) {
          out.then((o) => {
            if (o === null || this.#closed) return;
            transport.send(o, from);
            transport.flush();
          }, (err) => this.#logger?.warn("dns.forward_error", { error: String(err) }));
          return;
        }
        // Queued: the FFI socket sends a whole batch of answers with one sendmmsg at flush.
        transport.send(out, from);
      },
      flush: () => transport.flush(),
    };
    transport.start(sink);
  }

  async #tcpLoop(listener: Deno.Listener, address: string): Promise<void> {
    const local = isUnspecified(address) ? null : address;
    let errors = 0;
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (this.#closed || err instanceof Deno.errors.BadResource) return;
        this.listenerStats.acceptErrors++;
        // Transient (e.g. out of file descriptors): said once per burst, then retried.
        if (errors++ % ERROR_BURST === 0) {
          this.#logger?.warn("dns.accept_error", { address, error: String(err), count: errors });
        }
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      errors = 0;
      if (this.#conns.size >= this.#maxTcp) {
        this.stats.tcpRejected++;
        this.listenerStats.rejected++;
        closeQuietly(conn);
        continue;
      }
      this.#serveConn(conn, local);
    }
  }

  async #serveConn(conn: Deno.Conn, local: string | null): Promise<void> {
    const stats = this.stats;
    const remote = conn.remoteAddr.transport === "tcp" ? conn.remoteAddr.hostname : null;
    const ls = this.listenerStats;
    this.#conns.add(conn);
    stats.tcpConnections++;
    stats.tcpOpen++;
    ls.accepted++;
    ls.open++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The timer runs from the last answer: a client that drips bytes does not keep it alive.
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        ls.timedOut++;
        closeQuietly(conn);
      }, this.#idleMs);
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
        let out = this.#responder.respond(body, true, local, remote);
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
      ls.open--;
      closeQuietly(conn);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const udp = unbind(this.#bound);
    for (const c of this.#conns) closeQuietly(c);
    await this.#forwarder?.close();
    for (const r of this.#routes) await r.forwarder.close();
    await Promise.allSettled([udp, ...this.#loops]);
  }
}

/**
 * Starts the DNS server: binds UDP and TCP on every address and answers until `close()`. Throws
 * (having closed what it opened) if a bind fails ({@linkcode DnsBindError}), or if forwarding to
 * the system's resolvers was asked for and their file cannot be read or names none. Upstreams
 * that are this server itself are left out (with a warning); if none remain, out-of-zone names
 * are REFUSED.
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
  const resolvConf = options.resolvConf ?? RESOLV_CONF;
  let upstreams: Upstream[];
  try {
    upstreams = await resolveUpstreams(options.forward, resolvConf);
  } catch (err) {
    // Forwarding was asked for: without its resolvers the server would refuse every outside
    // name while looking healthy, so this is a startup error like a bad upstream list.
    if (options.forward !== true) throw err;
    throw new Error(`DNS forwarding: cannot read ${resolvConf}: ${String(err)}`, { cause: err });
  }
  if (options.forward === true && upstreams.length === 0) {
    throw new Error(`DNS forwarding: ${resolvConf} names no usable nameserver`);
  }
  const stats = options.stats ?? newDnsStats();
  const udp = options.udp ?? (Deno.build.os === "linux" ? "linux" : "node");
  // A broken socket or a failing poll must not go unseen: the UDP side would be dead.
  const onError = (err: unknown) => options.logger?.error("dns.udp_error", { error: String(err) });
  const bound = await bindWithRetry(options.addresses, port, udp, onError);
  let forwarder: Forwarder | null = null;
  const routes: { domain: string; forwarder: Forwarder }[] = [];
  try {
    for (const r of options.routes ?? []) {
      if (r.domain === `${zone.origin}.` || r.domain.endsWith(`.${zone.origin}.`)) {
        throw new Error(`DNS route ${r.domain}: it is inside the mesh's zone ${zone.origin}`);
      }
      const ups = r.upstreams.map(parseUpstream);
      if (ups.some((u) => pointsAtUs(u, options.addresses, bound.port))) {
        throw new Error(`DNS route ${r.domain}: a resolver is this server`);
      }
      routes.push({
        domain: r.domain,
        forwarder: await Forwarder.open(ups, { timeoutMs: options.forwardTimeoutMs }),
      });
    }
    const usable = upstreams.filter((u) => !pointsAtUs(u, options.addresses, bound.port));
    if (usable.length < upstreams.length) {
      options.logger?.warn("dns.forward_loop", {
        dropped: upstreams.length - usable.length,
        reason: "upstream is this server",
      });
    }
    if (usable.length > 0) {
      forwarder = await Forwarder.open(usable, { timeoutMs: options.forwardTimeoutMs });
    }
  } catch (err) {
    for (const r of routes) await r.forwarder.close();
    await forwarder?.close();
    await unbind(bound);
    throw err;
  }
  const server = new Server(bound, zone, stats, forwarder, options, routes);
  server.start();
  options.logger?.info("dns listening", {
    addresses: options.addresses.join(","),
    port: bound.port,
    zone: zone.origin,
    upstreams: server.upstreams.join(",") || "none",
    ...(routes.length ? { routes: routes.map((r) => r.domain).join(",") } : {}),
  });
  return server;
}
