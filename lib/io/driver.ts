/**
 * The two seams of a device, after wireguard-go's tun.Device and conn.Bind: a packet device where
 * plaintext IP packets enter and leave the tunnel (a TUN interface, or the userspace stack), and a
 * transport that carries encrypted datagrams on the underlay (UDP, TCP).
 *
 * Both are push-based so the hot path has no promise per packet: a driver reads as many packets as
 * are ready, hands each to the sink synchronously, then calls `flush()` once for the batch.
 *
 * Both may also lend the device a buffer to build the next outgoing item in (`reserve`, then
 * `commit`), so that a packet read from the TUN is sealed straight into the transport's send
 * batch, and a datagram opened straight into the TUN's write queue: no copy in between. Both are
 * optional; without them (or when `reserve` answers null) the device copies and calls `send` or
 * `write`.
 * @module
 */

import type {
  PacketDeviceStats,
  TcpStats,
  TransportStats,
  TunOffloadStats,
  UdpOffloadStats,
} from "./stats.ts";

/**
 * An underlay address. Transports intern endpoints: the same address and port is always the same
 * object, so the device can detect roaming with `!==` and no allocation per packet.
 */
export interface Endpoint {
  /** The IP address as text (IPv6 without brackets). */
  readonly address: string;
  /** The UDP or TCP port. */
  readonly port: number;
  /** 4 or 6. */
  readonly family: 4 | 6;
  /**
   * The underlay protocol: `tcp` for a framed stream (drivers/tcp.ts), `ws` and `wss` for a
   * WebSocket (plain or in TLS) served by that transport, `udp` or absent for a datagram. Absence means UDP so that endpoints made before TCP existed keep their meaning.
   * `relay` is a virtual endpoint (lib/relay/endpoint.ts): a peer reached through a relay, whose
   * `address` names the relay and the peer rather than an IP, and whose `port` is 0; only a
   * relay transport can send to it.
   */
  readonly proto?: "udp" | "tcp" | "ws" | "wss" | "relay";
  /**
   * `address:port`, with brackets around IPv6 addresses; `tcp://` in front for TCP (`ws://`,
   * `wss://` for a WebSocket);
   * `relay://<relay>/<peer>` (short key ids) for a relay endpoint.
   */
  toString(): string;
}

/** Whether `ep` is carried on a stream (TCP, or a WebSocket on TCP) rather than as datagrams. */
export function isStreamEndpoint(ep: Endpoint): boolean {
  const p = ep.proto;
  return p === "tcp" || p === "ws" || p === "wss";
}

/**
 * Whether two endpoints are the same place: the same object (interned ones), or the same
 * protocol (absent is UDP), address and port.
 */
export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a === b ||
    ((a.proto ?? "udp") === (b.proto ?? "udp") && a.port === b.port && a.address === b.address);
}

/** Where a driver hands what it reads. */
export interface PacketSink {
  /**
   * One packet; `data` is only valid during the call and the callee may modify it in place. `room`
   * (0 when absent) is how many bytes just after `data` in its buffer the callee may overwrite as
   * well: the device pads a packet to a multiple of 16 where it lies instead of copying it.
   */
  packet(data: Uint8Array, room?: number): void;
  /** The end of a batch: a good moment to flush queued sends. */
  flush(): void;
}

/** Where a transport hands what it reads. */
export interface DatagramSink {
  /**
   * One datagram from `from`; `data` is only valid during the call and may be modified in place.
   * `waitedMs`: how long it waited in the kernel's receive queue, where the transport knows
   * (whole ms; 0 or absent otherwise): a receiver that falls behind sheds by it what its senders
   * have resent since.
   */
  datagram(data: Uint8Array, from: Endpoint, waitedMs?: number): void;
  /** The end of a batch. */
  flush(): void;
}

/** The plaintext side: a TUN interface or the userspace stack. */
export interface PacketDevice {
  /** The interface name (for a TUN) or a label. */
  readonly name: string;
  /** The largest IP packet this device carries. */
  readonly mtu: number;
  /** Starts reading; packets read from the host go to `sink`. Called once. */
  start(sink: PacketSink): void;
  /** Delivers one decrypted IP packet to the host. `data` may be reused after return. */
  write(data: Uint8Array): void;
  /**
   * The end of a batch of writes: a device that queues what `write` gets (to hand the host many
   * packets at once, as a TUN with offloads coalesces TCP segments) delivers it now. The device
   * calls it after the packets of each batch the transport hands it; optional, for devices that
   * write at once.
   */
  flush?(): void;
  /**
   * Optional zero-copy write: a buffer of at least `max` bytes, owned by the device, to build the
   * next packet in from its first byte, or null when there is none now (then `write` a copy). The
   * same buffer comes back until `commit`; a reservation not committed is simply dropped by the
   * next `reserve`, `write` or `flush`.
   */
  reserve?(max: number): Uint8Array | null;
  /** Delivers the first `length` bytes of the buffer just reserved, as `write` would. */
  commit?(length: number): void;
  /**
   * Optional: the device's counters and offloads, by its kind, read at each scrape (status,
   * metrics); null from a wrapper around a device that keeps none.
   */
  driverStats?(): PacketDriverStats | null;
  /** Stops reading and releases the device; idempotent. */
  close(): Promise<void>;
}

/** The underlay side: encrypted datagrams to and from peers' endpoints. */
export interface Transport {
  /** A short name for status and logs (`udp`, `tcp`, ...). */
  readonly name: string;
  /** The bound local port. */
  readonly port: number;
  /** Starts reading; datagrams go to `sink`. Called once. */
  start(sink: DatagramSink): void;
  /**
   * Sends one datagram; `data` may be reused after return (copy it if sending later). `tos`:
   * the type-of-service byte (DSCP) the underlay packet carries (a policy's traffic class);
   * absent or 0: the socket's. A transport that cannot mark its packets sends them unmarked.
   */
  send(data: Uint8Array, to: Endpoint, tos?: number): void;
  /**
   * Optional zero-copy send: a buffer of at least `max` bytes in the send queue, where the next
   * datagram to `to` can be built from its first byte, or null when there is none now (too
   * large, queue full, closed: then `send`, which counts what it drops). The same buffer comes
   * back until `commit`; a reservation not committed is simply dropped by the next `reserve`,
   * `send` or `flush`. `to` picks the side in transports made of several (UDP and TCP, relays).
   */
  reserve?(max: number, to: Endpoint): Uint8Array | null;
  /**
   * Queues the first `length` bytes of the buffer just reserved for `to` (the same endpoint),
   * marked `tos`, as `send` would; throws when nothing is reserved (a caller's bug).
   */
  commit?(length: number, to: Endpoint, tos?: number): void;
  /**
   * Optional: sends a run of datagrams laid end to end in one buffer, to `to`, at once and
   * without a copy (one UDP GSO send where the socket takes it): the `length` bytes of `data`'s
   * buffer from `data`'s first byte, cut every `size` bytes (the last may be shorter). False when
   * it sent nothing (closed, unreachable from here, too long for one send, or datagrams queued
   * before still wait for the socket to become writable, which the run must not overtake): send
   * each instead, with `send`. A run the socket cannot take at once is not lost: what it did not
   * send waits with the queued datagrams.
   */
  sendRun?(data: Uint8Array, length: number, size: number, to: Endpoint): boolean;
  /** Sends whatever `send` queued. */
  flush(): void;
  /**
   * The device authenticated a message that came from `from` (a handshake or data from a
   * peer): a stream transport counts the connection it came on as a peer's, which a flood of
   * unauthenticated connections cannot push out. Called for stream endpoints only
   * (`tcp`, `ws`, `wss`).
   */
  authenticated?(from: Endpoint): void;
  /**
   * Optional: the device left `ep`, a stream endpoint (`tcp`, `ws`, `wss`), for another place of
   * the same peer (it roamed, or its route moved it): a stream transport closes that connection
   * when this side dialled it, dropping what is queued on it. A connection left is one the peer
   * no longer reads from, or one that stopped getting through (a site that starts dropping it,
   * often without a FIN or RST either way): kept, the peer's packets that still came in on it
   * would pull the device back onto a path that does not get out. The side that dialled it dials
   * again when it needs it. A connection the peer dialled stays open: the peer's route chose it
   * and the peer may still send on it (only our sending moved); closed, it would be dialled
   * anew from another port, whose first packets a relay does not take (lib/relay/server.ts
   * `source`). The peer closes it when it leaves it.
   */
  release?(ep: Endpoint): void;
  /**
   * Turns `host:port` text (IPv6 in brackets; `tcp://host:port` where the transport carries TCP)
   * into an interned endpoint; throws on bad input.
   */
  endpoint(text: string): Endpoint;
  /** Optional: the transport's counters and offloads, by its kind, read at each scrape. */
  driverStats?(): TransportDriverStats;
  /**
   * Optional: moves the transport to another local port (0: any), keeping its endpoints, queues
   * and offloads, as `wg set listen-port` does; throws, leaving the old port in use, when the new
   * one cannot be had.
   */
  rebind?(port: number): void;
  /**
   * Optional: the firewall mark of what is sent from now on (Linux SO_MARK, 0: none), as
   * `wg set fwmark`; throws, leaving the mark as it was, when it cannot be set.
   */
  setFwMark?(mark: number): void;
  /** Stops reading and closes the socket; idempotent. */
  close(): Promise<void>;
}

/** What a UDP transport reports: its live counters, and its offloads where it can have any. */
export interface UdpDriverStats {
  /** A UDP socket. */
  readonly kind: "udp";
  /** The counters themselves (not a copy), with the GSO/GRO ones where the socket keeps them. */
  readonly counters: TransportStats & Partial<UdpOffloadStats>;
  /**
   * UDP GSO and GRO as the socket has them now (a refused GSO send turns GSO off); null for a
   * transport without offloads (Deno's, Node's).
   */
  readonly offloads: { readonly gso: boolean; readonly gro: boolean } | null;
}

/** What a TCP transport reports: its live counters. */
export interface TcpDriverStats {
  /** Framed streams. */
  readonly kind: "tcp";
  /** The counters themselves (not a copy). */
  readonly counters: TcpStats;
}

/** What a transport made of UDP and TCP reports: each side's report, null where it has none. */
export interface DualDriverStats {
  /** UDP and TCP on one port number. */
  readonly kind: "udp+tcp";
  /** The UDP side's. */
  readonly udp: TransportDriverStats | null;
  /** The TCP side's. */
  readonly tcp: TransportDriverStats | null;
}

/** A transport's report, by the kind of driver. */
export type TransportDriverStats = UdpDriverStats | TcpDriverStats | DualDriverStats;

/** What a TUN reports: its live counters and the offloads the kernel granted. */
export interface TunDriverStats {
  /** A TUN interface. */
  readonly kind: "tun";
  /** The counters themselves (not a copy). */
  readonly counters: PacketDeviceStats;
  /** The offloads in force by name (`csum`, `tso4`, ...); empty on the plain path. */
  readonly offloads: readonly string[];
  /** The offload paths' counters, null on the plain path. */
  readonly offload: TunOffloadStats | null;
}

/** A packet device's report, by the kind of driver (a TUN is the one kind that reports). */
export type PacketDriverStats = TunDriverStats;
