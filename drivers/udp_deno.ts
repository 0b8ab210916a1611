/**
 * A UDP transport on Deno's own datagram API (`Deno.listenDatagram`, needs `--unstable-net`, or
 * `"unstable": ["net"]` in deno.json). Portable and dependency-free; the Linux FFI transport in
 * `linux/udp.ts` is the fast path. Without the flag `open` fails with an error that says so.
 * @module
 */

import type { DatagramSink, Endpoint, Transport, UdpDriverStats } from "../lib/io/driver.ts";
import { DEFAULT_ENDPOINT_LIMIT, EndpointTable, type InternedEndpoint } from "./shared/endpoint.ts";
import { newTransportStats, type TransportStats } from "./shared/stats.ts";
import { deliverDatagram } from "./deliver.ts";

/** Options of {@link DenoUdpTransport.open}. */
export interface DenoUdpOptions {
  /** The local port; 0 picks an ephemeral one. */
  port: number;
  /** The local address; by default `::` (dual-stack), or `0.0.0.0` where IPv6 is unavailable. */
  hostname?: string;
  /** How many endpoints to intern before starting over. */
  endpointLimit?: number;
  /** How many sends may be in flight before new ones are dropped. */
  maxInflight?: number;
  /** Called with errors thrown by the sink or by the socket; defaults to `console.error`. */
  onError?: (err: unknown) => void;
}

/** The largest datagram a receive accepts. */
const RECV_BUFFER = 65536;
/** Sends up to this size are copied into pooled buffers; larger ones get a fresh copy. */
const SLOT_SIZE = 2048;
/** Back off after this many receive errors in a row, so a broken socket cannot spin. */
const ERROR_BURST = 100;

/** A pooled copy of one datagram being sent, with its completion callbacks made once. */
interface SendSlot {
  readonly buf: Uint8Array;
  view: Uint8Array;
  readonly done: (n: number) => void;
  readonly fail: (err: unknown) => void;
}

/** Whether this Deno exposes `Deno.listenDatagram` (only with `--unstable-net`). */
function datagramApi(): boolean {
  return typeof (Deno as { listenDatagram?: unknown }).listenDatagram === "function";
}

/** A {@link Transport} over `Deno.listenDatagram`: one promise per datagram, but no FFI. */
export class DenoUdpTransport implements Transport {
  /** Always `udp`. */
  readonly name = "udp";
  /** The bound local port. */
  readonly port: number;
  /** The bound local address (`::` for dual-stack). */
  readonly hostname: string;
  /** Traffic and error counters. */
  readonly stats: TransportStats = newTransportStats();

  readonly #conn: Deno.DatagramConn;
  readonly #v4only: boolean;
  readonly #table: EndpointTable;
  readonly #netAddrs = new WeakMap<InternedEndpoint, Deno.NetAddr>();
  readonly #onError: (err: unknown) => void;
  readonly #maxInflight: number;
  readonly #free: SendSlot[] = [];
  #slots = 0;
  // Sends Deno has not completed: each holds the socket open until it settles.
  #sending = 0;
  #drained: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  #closing: Promise<void> | null = null;
  #closed = false;

  private constructor(conn: Deno.DatagramConn, options: DenoUdpOptions) {
    this.#conn = conn;
    const addr = conn.addr as Deno.NetAddr;
    this.port = addr.port;
    this.hostname = addr.hostname;
    this.#v4only = !addr.hostname.includes(":");
    this.#table = new EndpointTable(
      options.endpointLimit ?? DEFAULT_ENDPOINT_LIMIT,
      "udp",
      this.stats,
    );
    this.#onError = options.onError ?? ((err) => console.error("udp:", err));
    this.#maxInflight = options.maxInflight ?? 4096;
  }

  /** Binds a UDP socket; without `hostname` tries dual-stack `::` first, then `0.0.0.0`. */
  // deno-lint-ignore require-await
  static async open(options: DenoUdpOptions): Promise<DenoUdpTransport> {
    const { port, hostname } = options;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new Error(`invalid UDP port ${port}`);
    }
    if (!datagramApi()) {
      throw new Error(
        "the deno UDP transport needs Deno.listenDatagram, an unstable API: run with " +
          '--unstable-net (or "unstable": ["net"] in deno.json), or use the linux underlay',
      );
    }
    if (hostname !== undefined) {
      return new DenoUdpTransport(
        Deno.listenDatagram({ transport: "udp", hostname, port }),
        options,
      );
    }
    let conn: Deno.DatagramConn;
    try {
      conn = Deno.listenDatagram({ transport: "udp", hostname: "::", port });
    } catch (err) {
      // A busy port or a missing permission is not a missing IPv6 stack: report it as is.
      if (err instanceof Deno.errors.AddrInUse || err instanceof Deno.errors.NotCapable) throw err;
      conn = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port });
    }
    return new DenoUdpTransport(conn, options);
  }

  /** Starts the receive loop; datagrams go to `sink`, each followed by `flush()`. */
  start(sink: DatagramSink): void {
    if (this.#loop !== null) throw new Error("udp transport already started");
    if (this.#closed) throw new Error("udp transport is closed");
    this.#loop = this.#receiveLoop(sink);
  }

  async #receiveLoop(sink: DatagramSink): Promise<void> {
    // One buffer for every receive: the sink only borrows `data` for the call.
    const buf = new Uint8Array(RECV_BUFFER);
    const stats = this.stats;
    let errorsInRow = 0;
    while (!this.#closed) {
      let data: Uint8Array;
      let addr: Deno.Addr;
      try {
        [data, addr] = await this.#conn.receive(buf);
      } catch (err) {
        if (this.#closed || err instanceof Deno.errors.BadResource) return;
        // e.g. ConnectionRefused from an ICMP error for an earlier send: not fatal.
        stats.recvErrors++;
        if (++errorsInRow >= ERROR_BURST) {
          errorsInRow = 0;
          this.#onError(err);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        continue;
      }
      errorsInRow = 0;
      if (this.#closed) return;
      const net = addr as Deno.NetAddr;
      deliverDatagram(this.#table, stats, sink, this.#onError, data, net.hostname, net.port);
    }
  }

  /** Sends one datagram; `data` is copied because Deno's send completes later. */
  send(data: Uint8Array, to: Endpoint): void {
    if (this.#closed) {
      this.stats.sendDrops++;
      return;
    }
    const ep = this.#table.adopt(to);
    if (this.#v4only && ep.family === 6) {
      this.stats.sendErrors++;
      return;
    }
    let addr = this.#netAddrs.get(ep);
    if (addr === undefined) {
      addr = { transport: "udp", hostname: ep.address, port: ep.port };
      this.#netAddrs.set(ep, addr);
    }
    if (data.length > SLOT_SIZE) {
      this.#sending++;
      this.#conn.send(data.slice(), addr).then(this.#countSent, this.#countFailed);
      return;
    }
    const slot = this.#takeSlot();
    if (slot === null) {
      this.stats.sendDrops++;
      return;
    }
    slot.buf.set(data);
    if (slot.view.length !== data.length) slot.view = slot.buf.subarray(0, data.length);
    this.#sending++;
    this.#conn.send(slot.view, addr).then(slot.done, slot.fail);
  }

  #countSent = (n: number): void => {
    this.#settled();
    this.stats.datagramsOut++;
    this.stats.bytesOut += n;
  };

  #countFailed = (err: unknown): void => {
    this.#settled();
    if (this.#closed) return;
    this.stats.sendErrors++;
    if (!(err instanceof Deno.errors.ConnectionRefused)) this.#onError(err);
  };

  #settled(): void {
    if (--this.#sending === 0 && this.#drained !== null) this.#drained();
  }

  #takeSlot(): SendSlot | null {
    const slot = this.#free.pop();
    if (slot !== undefined) return slot;
    if (this.#slots >= this.#maxInflight) return null;
    this.#slots++;
    const buf = new Uint8Array(SLOT_SIZE);
    const made: SendSlot = {
      buf,
      view: buf,
      done: (n) => {
        this.#countSent(n);
        this.#free.push(made);
      },
      fail: (err) => {
        this.#countFailed(err);
        this.#free.push(made);
      },
    };
    return made;
  }

  /** Nothing to do: Deno sends each datagram as `send` is called. */
  flush(): void {}

  /** The counters; Deno's (Node's) sockets have no offloads. */
  driverStats(): UdpDriverStats {
    return { kind: "udp", counters: this.stats, offloads: null };
  }

  /** Parses `host:port` (IPv6 in brackets) into an interned endpoint; throws on bad input. */
  endpoint(text: string): Endpoint {
    return this.#table.parse(text);
  }

  /**
   * Closes the socket and waits for the receive loop and every send in flight to end, so the port
   * is free when it resolves (Deno closes the socket only once no operation holds it); idempotent.
   */
  close(): Promise<void> {
    if (this.#closing === null) {
      this.#closed = true;
      try {
        this.#conn.close();
      } catch (err) {
        if (!(err instanceof Deno.errors.BadResource)) this.#onError(err);
      }
      const sends = this.#sending === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => this.#drained = resolve);
      this.#closing = Promise.all([this.#loop, sends]).then(() => {});
    }
    return this.#closing;
  }
}
