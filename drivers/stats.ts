/**
 * Counters kept by the drivers, read by status and benchmarks.
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
}

/** A zeroed {@link TransportStats}. */
export function newTransportStats(): TransportStats {
  return {
    datagramsIn: 0,
    bytesIn: 0,
    datagramsOut: 0,
    bytesOut: 0,
    sendErrors: 0,
    sendDrops: 0,
    recvErrors: 0,
  };
}

/** Counters of a packet device. */
export interface DeviceStats {
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

/** A zeroed {@link DeviceStats}. */
export function newDeviceStats(): DeviceStats {
  return { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0, readErrors: 0, writeErrors: 0 };
}
