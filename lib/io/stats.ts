/**
 * The counters drivers keep, as types: what a driver reports through its interface
 * (lib/io/driver.ts) and status and metrics read. The drivers make and fill them
 * (drivers/shared/stats.ts has the zeroed ones).
 * @module
 */

/** Counters of an underlay transport. */
export interface TransportStats {
  /** Datagrams handed to the sink. */
  datagramsIn: number;
  /** Bytes of those datagrams. */
  bytesIn: number;
  /** Datagrams the kernel accepted for sending. */
  datagramsOut: number;
  /** Bytes of those datagrams. */
  bytesOut: number;
  /** Sends that failed (bad destination, unreachable, socket error). */
  sendErrors: number;
  /** Sends dropped because the send queue was full. */
  sendDrops: number;
  /** Receive calls that failed, and datagrams dropped as truncated. */
  recvErrors: number;
  /**
   * Endpoint keys the transport's table let go (its bound: a generation of old, unseen
   * sources dropped when a new one fills); absent where none is kept.
   */
  endpointsEvicted?: number;
  /**
   * Messages sent with UDP GSO: several datagrams to one endpoint in one send, cut apart by the
   * kernel or the NIC (the Linux UDP transport only; absent elsewhere).
   */
  gsoMessages?: number;
  /** The datagrams those messages carried (also counted in `datagramsOut`). */
  gsoSegments?: number;
  /** GSO messages the kernel refused and that were sent again datagram by datagram. */
  gsoFallbacks?: number;
  /** Received messages the kernel had coalesced (UDP GRO), split by the transport. */
  groMessages?: number;
  /** The datagrams split from them (those handed on are also counted in `datagramsIn`). */
  groSegments?: number;
}

/** The UDP offload counters of {@link TransportStats}, for a transport that keeps them (GSO, GRO). */
export type UdpOffloadStats = Required<
  Pick<
    TransportStats,
    "gsoMessages" | "gsoSegments" | "gsoFallbacks" | "groMessages" | "groSegments"
  >
>;

/** Why a TCP transport dropped a frame it was asked to send. */
export type TcpSendDrop =
  /** The connection's write queue (or all connections' together) was at its byte cap. */
  | "queue-full"
  /** Too many frames were already waiting for the connection being dialled. */
  | "dial-queue"
  /** The dial failed or timed out; the frames waiting for it went with it. */
  | "dial-failed"
  /** The endpoint failed a dial moments ago and is not redialled yet. */
  | "dial-backoff"
  /**
   * The connection failed with the frame still queued or being written: closed by the peer, an
   * error, or its idle timeout (nothing came or went), or never vouched for by the device.
   */
  | "conn-lost"
  /**
   * The transport closed the connection on purpose with the frame still queued or being
   * written: the device left it for another place of the same peer (`Transport.release`).
   */
  | "released"
  /** As `released`, for a connection closed to make room at the connection cap. */
  | "evicted"
  /** Empty, or longer than the largest frame. */
  | "bad-size"
  /** The transport is closed. */
  | "closed";

/** Counters of a TCP transport: the datagram ones (frames count as datagrams) and the stream's. */
export interface TcpStats extends TransportStats {
  /** Frames dropped before reaching the kernel, by reason; their sum is `sendDrops`. */
  drops: Record<TcpSendDrop, number>;
  /** Connections accepted. */
  accepts: number;
  /** Dials started. */
  dials: number;
  /** Dials that failed or timed out. */
  dialFailures: number;
  /** Connections open now (accepted, dialled, or being dialled). */
  connections: number;
  /** Connections closed for a bad length prefix (zero or past the largest frame). */
  badFrames: number;
  /** Connections that ended in the middle of a frame. */
  truncated: number;
  /** Connections closed for saying nothing for the idle timeout. */
  idleClosed: number;
  /** Idle connections closed to make room at the connection cap. */
  evicted: number;
  /** Accepted connections closed at once: their address had too many not yet authenticated. */
  refusedPerAddress: number;
  /** Bytes queued for writing now, over all connections. */
  queuedBytes: number;
  /**
   * The WebSocket connections among them (served on the same port, told apart by their first
   * bytes; see drivers/ws_frame.ts); absent from a transport that has none.
   */
  websocket?: WsStats;
}

/** Counters of the WebSocket connections of a TCP transport (their frames count in its own). */
export interface WsStats {
  /** Upgrades served (accepted connections that became WebSockets). */
  upgrades: number;
  /** Requests refused (not an upgrade weft serves: 400, 404 or 405), or a head too long. */
  refused: number;
  /** WebSocket dials whose handshake succeeded. */
  dials: number;
  /** WebSocket dials whose handshake failed (the server refused or did not answer one). */
  dialFailures: number;
  /** WebSocket connections open now (also counted in `connections`). */
  connections: number;
  /** Connections closed for a frame that breaks the protocol (text, fragments, bad mask...). */
  badFrames: number;
  /** Pings answered. */
  pings: number;
  /** Close frames received. */
  closes: number;
}

/** Counters of a packet device. */
export interface PacketDeviceStats {
  /** Packets read from the host and handed to the sink. */
  packetsIn: number;
  /** Bytes of those packets. */
  bytesIn: number;
  /** Packets written to the host. */
  packetsOut: number;
  /** Bytes of those packets. */
  bytesOut: number;
  /** Reads that failed. */
  readErrors: number;
  /** Writes that failed or were dropped because the device queue was full. */
  writeErrors: number;
}

/** Counters of a TUN's offload paths (virtio-net headers, segmentation, coalescing). */
export interface TunOffloadStats {
  /** GSO packets read and cut. */
  gsoReads: number;
  /** Packets those were cut into. */
  segments: number;
  /** Partial checksums completed on packets read without GSO. */
  checksumsCompleted: number;
  /** Reads dropped as malformed (a bad header, a packet that cannot be cut). */
  readDrops: number;
  /** Writes of coalesced packets. */
  coalescedWrites: number;
  /** Packets carried by those writes. */
  coalescedPackets: number;
}
