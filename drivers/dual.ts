/**
 * One transport over two: UDP and TCP on the same port number, as a weft node listens. Sends go
 * by the endpoint's protocol (`tcp` to the TCP side, anything else to UDP), and both sides deliver
 * into the one sink, so the device answers each peer on the protocol it was reached on.
 * @module
 */

import {
  type DatagramSink,
  type DualDriverStats,
  type Endpoint,
  isStreamEndpoint,
  type Transport,
} from "../lib/io/driver.ts";
import { splitScheme } from "./shared/endpoint.ts";
import { type TcpOptions, TcpTransport } from "./tcp.ts";
import { DenoUdpTransport } from "./udp_deno.ts";

/** Options of {@link DualTransport.open}. */
export interface DualOptions {
  /** The UDP port; 0 picks one that is free for both UDP and TCP. */
  port: number;
  /** The local address of both; by default dual-stack `::`, or `0.0.0.0`. */
  hostname?: string;
  /** The TCP port when it is not the UDP port's number. */
  tcpPort?: number;
  /** Opens the UDP side on a port (default: the Deno UDP transport). */
  openUdp?: (port: number, hostname: string | undefined) => Promise<Transport>;
  /** Options of the TCP side, but its port and address. */
  tcp?: Omit<TcpOptions, "port" | "hostname">;
  /** Tries with port 0 before giving up when the TCP port is taken (default 8). */
  attempts?: number;
}

/** A {@link Transport} that carries datagrams on UDP and framed on TCP; see the module doc. */
export class DualTransport implements Transport {
  /** Always `udp+tcp`. */
  readonly name = "udp+tcp";
  /** The UDP side. */
  readonly udp: Transport;
  /** The TCP side. */
  readonly tcp: Transport;
  #closing: Promise<void> | null = null;

  /** Wraps two started-or-not transports; `close()` closes both. */
  constructor(udp: Transport, tcp: Transport) {
    this.udp = udp;
    this.tcp = tcp;
  }

  /**
   * Opens UDP on `port`, then TCP on the same number. With port 0 the UDP side picks one, and if
   * TCP cannot have that number both are tried again on another.
   */
  static async open(options: DualOptions): Promise<DualTransport> {
    const openUdp = options.openUdp ??
      ((port: number, hostname: string | undefined) => DenoUdpTransport.open({ port, hostname }));
    const attempts = options.port === 0 && options.tcpPort === undefined
      ? Math.max(1, options.attempts ?? 8)
      : 1;
    for (let attempt = 1;; attempt++) {
      const udp = await openUdp(options.port, options.hostname);
      try {
        const tcp = await TcpTransport.open({
          ...options.tcp,
          port: options.tcpPort ?? udp.port,
          hostname: options.hostname,
        });
        return new DualTransport(udp, tcp);
      } catch (err) {
        await udp.close();
        // Only an ephemeral UDP port that happens to be taken on TCP is worth another try.
        if (!(err instanceof Deno.errors.AddrInUse) || attempt >= attempts) throw err;
      }
    }
  }

  /** The UDP port (the node's listen port). */
  get port(): number {
    return this.udp.port;
  }

  /** Starts both sides into the same sink. */
  start(sink: DatagramSink): void {
    this.udp.start(sink);
    this.tcp.start(sink);
  }

  /** Sends on TCP to a `tcp`, `ws` or `wss` endpoint, on UDP to any other. */
  send(data: Uint8Array, to: Endpoint, tos?: number): void {
    if (isStreamEndpoint(to)) this.tcp.send(data, to);
    else this.udp.send(data, to, tos);
  }

  /** Lends a send slot of the side `to` goes to (null when that side lends none). */
  reserve(max: number, to: Endpoint): Uint8Array | null {
    const side = isStreamEndpoint(to) ? this.tcp : this.udp;
    return side.reserve === undefined ? null : side.reserve(max, to);
  }

  /** Queues the slot just reserved on the side `to` goes to. */
  commit(length: number, to: Endpoint, tos?: number): void {
    const side = isStreamEndpoint(to) ? this.tcp : this.udp;
    if (side.commit === undefined) throw new Error(`${side.name}: commit without reserve`);
    side.commit(length, to, tos);
  }

  /** Sends a run at once on the UDP side (the stream side takes none: false). */
  sendRun(data: Uint8Array, length: number, size: number, to: Endpoint): boolean {
    if (isStreamEndpoint(to) || this.udp.sendRun === undefined) return false;
    return this.udp.sendRun(data, length, size, to);
  }

  /** Flushes both sides. */
  flush(): void {
    this.udp.flush();
    this.tcp.flush();
  }

  /** Passes the device's word on to the TCP side (only its endpoints are said). */
  authenticated(from: Endpoint): void {
    this.tcp.authenticated?.(from);
  }

  /**
   * Closes the stream connection the device left when we dialled it (see
   * {@link Transport.release}).
   */
  release(ep: Endpoint): void {
    if (isStreamEndpoint(ep)) this.tcp.release?.(ep);
  }

  /** Each side's report. */
  driverStats(): DualDriverStats {
    return {
      kind: "udp+tcp",
      udp: this.udp.driverStats?.() ?? null,
      tcp: this.tcp.driverStats?.() ?? null,
    };
  }

  /**
   * `tcp://host:port` gives a TCP endpoint (`ws://`, `wss://` a WebSocket one of the TCP side);
   * `host:port` or `udp://host:port` a UDP one.
   */
  endpoint(text: string): Endpoint {
    const { proto, rest } = splitScheme(text);
    // The TCP side serves WebSockets too: `ws://` and `wss://` are its, scheme and all.
    if (proto === "ws" || proto === "wss") return this.tcp.endpoint(text);
    return proto === "tcp" ? this.tcp.endpoint(rest) : this.udp.endpoint(rest);
  }

  /** Closes both sides; idempotent. */
  close(): Promise<void> {
    this.#closing ??= Promise.allSettled([this.udp.close(), this.tcp.close()]).then(() => {});
    return this.#closing;
  }
}
