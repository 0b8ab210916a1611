/**
 * A UDP transport on `node:dgram`: a stable Deno API (unlike `Deno.listenDatagram`, which needs
 * `--unstable-net`) that works everywhere. It costs an allocation per datagram, so the Linux FFI
 * transport in `linux/udp.ts` stays the fast path; this one carries the DNS server where FFI is
 * not used, and the DNS forwarder.
 * @module
 */

import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import type { DatagramSink, Endpoint, Transport, UdpDriverStats } from "../lib/io/driver.ts";
import { DEFAULT_ENDPOINT_LIMIT, EndpointTable } from "./shared/endpoint.ts";
import { newTransportStats, type TransportStats } from "./shared/stats.ts";
import { deliverDatagram } from "./deliver.ts";

export type { RemoteInfo, Socket } from "node:dgram";

/** Options of {@link NodeUdpTransport.open}. */
export interface NodeUdpOptions {
  /** The local port; 0 picks an ephemeral one. */
  port: number;
  /** The local IP literal; by default `0.0.0.0`. An IPv6 one makes an IPv6 socket. */
  hostname?: string;
  /** How many endpoints to intern before starting over. */
  endpointLimit?: number;
  /** How many sends may be in flight before new ones are dropped (and counted). */
  maxInflight?: number;
  /** Called with errors thrown by the sink or reported by the socket; default `console.error`. */
  onError?: (err: unknown) => void;
}

/** Whether `err` is "address in use", as node:dgram (code) or Deno (class) reports it. */
export function isAddrInUse(err: unknown): boolean {
  return err instanceof Deno.errors.AddrInUse ||
    (err as { code?: unknown } | null)?.code === "EADDRINUSE";
}

/** A {@link Transport} over a `node:dgram` socket. */
export class NodeUdpTransport implements Transport {
  /** Always `udp`. */
  readonly name = "udp";
  /** The bound local port. */
  readonly port: number;
  /** The bound local address. */
  readonly hostname: string;
  /** Traffic and error counters. */
  readonly stats: TransportStats = newTransportStats();

  readonly #sock: Socket;
  readonly #v4only: boolean;
  readonly #table: EndpointTable;
  readonly #onError: (err: unknown) => void;
  readonly #maxInflight: number;
  #inflight = 0;
  #started = false;
  #closing: Promise<void> | null = null;
  #closed = false;

  private constructor(sock: Socket, options: NodeUdpOptions) {
    this.#sock = sock;
    const addr = sock.address();
    this.port = addr.port;
    this.hostname = addr.address;
    this.#v4only = addr.family === "IPv4";
    this.#table = new EndpointTable(
      options.endpointLimit ?? DEFAULT_ENDPOINT_LIMIT,
      "udp",
      this.stats,
    );
    this.#onError = options.onError ?? ((err) => console.error("udp:", err));
    this.#maxInflight = options.maxInflight ?? 1024;
    // Errors after the bind (the receive side); without a listener node:dgram would throw them.
    sock.on("error", (err) => {
      if (this.#closed) return;
      this.stats.recvErrors++;
      this.#onError(err);
    });
  }

  /** Binds a socket; rejects with the bind error (e.g. `EADDRINUSE`). */
  static async open(options: NodeUdpOptions): Promise<NodeUdpTransport> {
    const { port } = options;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new Error(`invalid UDP port ${port}`);
    }
    return new NodeUdpTransport(await bindUdpSocket(options.hostname ?? "0.0.0.0", port), options);
  }

  /** Starts delivering datagrams to `sink`, each followed by `flush()`. */
  start(sink: DatagramSink): void {
    if (this.#started) throw new Error("udp transport already started");
    if (this.#closed) throw new Error("udp transport is closed");
    this.#started = true;
    const stats = this.stats;
    this.#sock.on("message", (data: Uint8Array, info: RemoteInfo) => {
      if (this.#closed) return;
      deliverDatagram(this.#table, stats, sink, this.#onError, data, info.address, info.port);
    });
  }

  /** Sends one datagram (copied: node:dgram completes the send later). */
  send(data: Uint8Array, to: Endpoint): void {
    const stats = this.stats;
    if (this.#closed || this.#inflight >= this.#maxInflight) {
      stats.sendDrops++;
      return;
    }
    if (this.#v4only && to.family === 6) {
      stats.sendErrors++;
      return;
    }
    const n = data.length;
    this.#inflight++;
    this.#sock.send(data.slice(), to.port, to.address, (err) => {
      this.#inflight--;
      if (err) {
        if (!this.#closed) stats.sendErrors++;
        return;
      }
      stats.datagramsOut++;
      stats.bytesOut += n;
    });
  }

  /** Nothing to do: each datagram goes out as `send` is called. */
  flush(): void {}

  /** The counters; Deno's (Node's) sockets have no offloads. */
  driverStats(): UdpDriverStats {
    return { kind: "udp", counters: this.stats, offloads: null };
  }

  /** Parses `host:port` (IPv6 in brackets) into an interned endpoint; throws on bad input. */
  endpoint(text: string): Endpoint {
    return this.#table.parse(text);
  }

  /** Closes the socket; idempotent. */
  close(): Promise<void> {
    if (this.#closing === null) {
      this.#closed = true;
      this.#closing = closeUdpSocket(this.#sock);
    }
    return this.#closing;
  }
}

/**
 * A bare `node:dgram` socket bound on `address:port` (0 picks a port; an IPv6 address makes an
 * IPv6 socket). Rejects with the bind error. Add an `error` listener before relying on it.
 */
export function bindUdpSocket(address: string, port: number): Promise<Socket> {
  const sock = createSocket({ type: address.includes(":") ? "udp6" : "udp4" });
  return new Promise((resolve, reject) => {
    const failed = (err: Error): void => {
      sock.off("listening", bound);
      void closeUdpSocket(sock);
      reject(err);
    };
    const bound = (): void => {
      sock.off("error", failed);
      resolve(sock);
    };
    sock.once("error", failed);
    sock.once("listening", bound);
    sock.bind({ address, port, exclusive: true });
  });
}

// Close promises by socket, so a second close waits for the first.
const closing = new WeakMap<Socket, Promise<void>>();

/** Closes a `node:dgram` socket; resolves once closed (at once if it was closed already). */
export function closeUdpSocket(sock: Socket): Promise<void> {
  // Under Deno a second close() neither throws nor calls back, so closing twice is remembered.
  const done = closing.get(sock);
  if (done) return done;
  const p = new Promise<void>((resolve) => {
    try {
      sock.close(() => resolve());
    } catch {
      resolve(); // closed already (a socket whose bind failed may count as closed)
    }
  });
  closing.set(sock, p);
  return p;
}
