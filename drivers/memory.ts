/**
 * An in-process underlay: transports that hand datagrams to each other through memory. For
 * simulations of large meshes in one process and for deterministic protocol tests; it can drop,
 * duplicate or hold back datagrams to mimic a lossy network.
 * @module
 */

import type { DatagramSink, Endpoint, Transport } from "../lib/io/driver.ts";
import { EndpointTable } from "./shared/endpoint.ts";

/** Knobs of a memory network. */
export interface MemoryNetworkOptions {
  /** Probability a datagram is lost. Default 0. */
  loss?: number;
  /** Random source (tests pass a seeded one). */
  random?: () => number;
  /** Deliver only when `deliver()` is called instead of on a microtask. */
  manual?: boolean;
  /**
   * Sees every datagram as it is sent: null drops it (counted as lost), otherwise it is delivered
   * to `to` as coming from `from` (`address:port` texts). Tests build firewalls and NATs with it.
   * Default: as sent.
   */
  route?: (from: Endpoint, to: Endpoint, data: Uint8Array) => { from: string; to: string } | null;
}

interface InFlight {
  to: MemoryTransport;
  data: Uint8Array;
  from: Endpoint;
}

/** A set of memory transports that can reach each other by `address:port`. */
export class MemoryNetwork {
  readonly #bound = new Map<string, MemoryTransport>();
  readonly #queue: InFlight[] = [];
  #scheduled = false;
  /** Datagrams handed to the network. */
  sent = 0;
  /** Datagrams lost on purpose or for lack of a receiver. */
  lost = 0;

  /** An empty network; `opts` may lose or reroute datagrams. */
  constructor(private readonly opts: MemoryNetworkOptions = {}) {}

  /** Binds a transport at `address:port` (port 0 picks a free one from 40000 up). */
  bind(address: string, port = 0): MemoryTransport {
    let p = port;
    if (p === 0) {
      p = 40000;
      while (this.#bound.has(`${address}|${p}`)) p++;
    }
    const key = `${address}|${p}`;
    if (this.#bound.has(key)) throw new Error(`address in use: ${address}:${p}`);
    const t = new MemoryTransport(this, address, p);
    this.#bound.set(key, t);
    return t;
  }

  /** Queues a datagram (copied) to whoever is bound at `to`. */
  post(from: MemoryTransport, data: Uint8Array, to: Endpoint): void {
    this.sent++;
    const routed = this.opts.route ? this.opts.route(from.self, to, data) : undefined;
    const dest = routed ? from.table.parse(routed.to) : to;
    const target = routed === null ? undefined : this.#bound.get(`${dest.address}|${dest.port}`);
    const loss = this.opts.loss ?? 0;
    if (!target || (loss > 0 && (this.opts.random ?? Math.random)() < loss)) {
      this.lost++;
      return;
    }
    const source = routed ? target.table.parse(routed.from) : target.table.adopt(from.self);
    this.#queue.push({ to: target, data: data.slice(), from: source });
    if (!this.opts.manual && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        this.deliver();
      });
    }
  }

  /** Delivers everything queued, including what deliveries queue in turn; returns the count. */
  deliver(): number {
    let n = 0;
    while (this.#queue.length > 0) n += this.#hand(this.#queue.splice(0));
    return n;
  }

  #hand(batch: InFlight[]): number {
    let n = 0;
    const touched = new Set<MemoryTransport>();
    for (const d of batch) {
      if (d.to.closed || !d.to.sink) {
        this.lost++;
        continue;
      }
      d.to.sink.datagram(d.data, d.from);
      touched.add(d.to);
      n++;
    }
    for (const t of touched) t.sink?.flush();
    return n;
  }

  /** How many datagrams wait for delivery. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Delivers only the queued datagrams `pick` chooses, in queue order, and keeps the rest (and
   * whatever the deliveries queue) waiting: tests use it to order messages that race.
   */
  deliverSome(pick: (data: Uint8Array, from: Endpoint, to: Endpoint) => boolean): number {
    const chosen: InFlight[] = [];
    const kept: InFlight[] = [];
    for (const d of this.#queue.splice(0)) {
      (pick(d.data, d.from, d.to.self) ? chosen : kept).push(d);
    }
    this.#queue.push(...kept);
    return this.#hand(chosen);
  }

  /** Forgets a closed transport. */
  unbind(t: MemoryTransport): void {
    this.#bound.delete(`${t.address}|${t.port}`);
  }
}

/** One bound memory transport. */
export class MemoryTransport implements Transport {
  /** Always `memory`. */
  readonly name = "memory";
  /**
   * Interned endpoints seen by this transport.
   * @ignore internal
   */
  readonly table: EndpointTable = new EndpointTable();
  /** Our own address as an endpoint. */
  readonly self: Endpoint;
  /** Where received datagrams go once started. */
  sink: DatagramSink | null = null;
  /** True once closed. */
  closed = false;

  /** A transport of `network` at `address:port` (made by {@link MemoryNetwork.bind}). */
  constructor(
    private readonly net: MemoryNetwork,
    /** The address bound. */
    readonly address: string,
    /** The port bound. */
    readonly port: number,
  ) {
    this.self = this.table.fromText(address, port);
  }

  /** Starts delivering to `sink`. */
  start(sink: DatagramSink): void {
    this.sink = sink;
  }

  /**
   * Posts a datagram to the network (copied); `_tos` is not carried (the memory network has no
   * IP headers).
   */
  send(data: Uint8Array, to: Endpoint, _tos?: number): void {
    if (!this.closed) this.net.post(this, data, to);
  }

  /** Nothing to flush: posting is immediate. */
  flush(): void {}

  /** Parses `host:port` into an interned endpoint. */
  endpoint(text: string): Endpoint {
    return this.table.parse(text);
  }

  /** Unbinds. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.net.unbind(this);
    }
    return Promise.resolve();
  }
}
