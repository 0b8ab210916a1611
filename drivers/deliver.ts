/**
 * The receive step the socket transports share: a datagram from `host:port` is handed to the
 * device with its source interned, counted, and any failure reported instead of thrown into the
 * socket's loop.
 * @module
 */

import type { DatagramSink } from "../lib/io/driver.ts";
import type { EndpointTable, InternedEndpoint } from "./shared/endpoint.ts";
import type { TransportStats } from "./shared/stats.ts";

/** Hands `data` from `host:port` to `sink` and flushes; counts it, or the bad source, in `stats`. */
export function deliverDatagram(
  table: EndpointTable,
  stats: TransportStats,
  sink: DatagramSink,
  onError: (err: unknown) => void,
  data: Uint8Array,
  host: string,
  port: number,
): void {
  let from: InternedEndpoint;
  try {
    from = table.fromText(host, port);
  } catch (err) {
    stats.recvErrors++;
    onError(err);
    return;
  }
  stats.datagramsIn++;
  stats.bytesIn += data.length;
  try {
    sink.datagram(data, from);
    sink.flush();
  } catch (err) {
    onError(err);
  }
}
