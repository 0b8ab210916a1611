/**
 * The drivers: transports that carry the device's UDP (Deno's sockets, Linux's own with
 * offloads, TCP, both at once, a WebSocket to a leader, in memory for tests) and packet devices
 * (the in-process userspace stack, a Linux TUN), with the interfaces they implement.
 *
 * @example Two transports on an in-memory network
 * ```ts run
 * import { MemoryNetwork } from "@weft/weft/drivers";
 *
 * const net = new MemoryNetwork();
 * const a = net.bind("192.0.2.1", 51820), b = net.bind("192.0.2.2", 51820);
 * const received = new Promise<void>((resolve) => {
 *   b.start({
 *     datagram: (data, from) => console.log(from.address, from.port, data.length),
 *     flush: resolve, // the end of a batch
 *   });
 * });
 * a.send(new Uint8Array([1, 2, 3]), b.self);
 * a.flush();
 * await received; // prints: 192.0.2.1 51820 3
 * await a.close();
 * await b.close();
 * ```
 * @module
 */

export type {
  DatagramSink,
  DualDriverStats,
  Endpoint,
  PacketDevice,
  PacketDriverStats,
  PacketSink,
  TcpDriverStats,
  Transport,
  TransportDriverStats,
  TunDriverStats,
  UdpDriverStats,
} from "../lib/io/driver.ts";
export { UserspaceStack, type UserspaceStackOptions } from "./userspace.ts";
export { DenoUdpTransport } from "./udp_deno.ts";
export { type TcpOptions, TcpTransport } from "./tcp.ts";
export { type DualOptions, DualTransport } from "./dual.ts";
export { type LinuxUdpOptions, LinuxUdpTransport } from "./linux/udp.ts";
export { LinuxTun, type LinuxTunOptions, type TunConfig } from "./linux/tun.ts";
export { Poller, type PollerOptions } from "./linux/poller.ts";
export { MemoryNetwork, MemoryTransport } from "./memory.ts";
export {
  WEBSOCKET_DROPS,
  WEBSOCKET_MAX_MESSAGE,
  WEBSOCKET_PATH,
  WEBSOCKET_PROTOCOL,
  type WebSocketConstructor,
  type WebSocketDrop,
  type WebSocketStats,
  WebSocketTransport,
  type WebSocketTransportOptions,
  webSocketUrl,
} from "./websocket.ts";
export type {
  PacketDeviceStats,
  TcpSendDrop,
  TcpStats,
  TransportStats,
  TunOffloadStats,
  UdpOffloadStats,
  WsStats,
} from "../lib/io/stats.ts";
export type {
  Datagram,
  DatagramIterator,
  PingOptions,
  UdpAddress,
  UdpSocket,
  UserspaceDropReason,
  UserspaceStats,
} from "./userspace.ts";
export type { TcpDialer, TcpDialOutcome } from "./tcp.ts";
export type { TlsDialer, WsTlsOptions } from "./tcp_ws.ts";
export type { DenoUdpOptions } from "./udp_deno.ts";
export type { LinuxUdpStats } from "./linux/udp.ts";
export type { PollHandler, PollPhase } from "./linux/poller.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export type { LogFields, Logger, LogLevel } from "../lib/log/logger.ts";
