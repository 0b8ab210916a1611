/**
 * The WireGuard device: peers, handshakes, the data path and its counters, over any transport
 * and packet device (the interfaces the drivers implement), with the protocol's timers and a
 * clock.
 *
 * @example Two devices, each the other's peer, over an in-memory network and the userspace stack
 * ```ts run
 * import { Device } from "@weft/weft/device";
 * import { MemoryNetwork, UserspaceStack } from "@weft/weft/drivers";
 * import { generateKeyPair, selectSuite } from "@weft/weft/crypto";
 *
 * const net = new MemoryNetwork(); // an underlay in this process: no sockets, no TUN
 * const a = generateKeyPair(), b = generateKeyPair();
 * const stackA = new UserspaceStack({ ipv4: "10.9.0.1" });
 * const deviceA = new Device({
 *   privateKey: a.privateKey,
 *   suite: selectSuite(),
 *   transport: net.bind("192.0.2.1", 51820),
 *   packets: stackA,
 * });
 * const deviceB = new Device({
 *   privateKey: b.privateKey,
 *   suite: selectSuite(),
 *   transport: net.bind("192.0.2.2", 51820),
 *   packets: new UserspaceStack({ ipv4: "10.9.0.2" }),
 * });
 * const peer = (publicKey: string, endpoint: string, ip: string) =>
 *   ({ publicKey, endpoint: `${endpoint}:51820`, allowedIps: [`${ip}/32`] });
 * deviceA.setPeer(peer(b.publicKey, "192.0.2.2", "10.9.0.2"));
 * deviceB.setPeer(peer(a.publicKey, "192.0.2.1", "10.9.0.1"));
 * deviceA.start();
 * deviceB.start();
 * const rtt = await stackA.ping("10.9.0.2", { timeoutMs: 5000 }); // the first packet handshakes
 * console.log(rtt !== null, deviceA.peerCount); // prints: true 1
 * await deviceA.close();
 * await deviceB.close();
 * ```
 * @module
 */

export {
  Device,
  type DeviceErrorSource,
  type DeviceEvent,
  type DeviceOptions,
  type DeviceStats,
  type HeldPacketSink,
  type PacketFilter,
  type PeerConfig,
} from "./device.ts";
export type { DatagramSink, Endpoint, PacketDevice, PacketSink, Transport } from "../io/driver.ts";
export { type Clock, ManualClock, systemClock } from "./clock.ts";
export type { MonotonicClock } from "../io/clock.ts";
export { DROP_REASONS, type DropCounters, type DropReason } from "./drops.ts";
export type { ReasonCounter } from "../metrics/reasons.ts";
export { DEFAULT_TIMERS, type ProtocolTimers } from "../protocol/constants.ts";
export { DEFAULT_INITIATION_RATE, type InitiationRate } from "./initiation_pace.ts";

// The types the exports above refer to, so that this entry documents (and lints) alone.
export type { Aead, AeadKey, BackendName, CryptoSuite, Dh } from "../crypto/types.ts";
export type {
  DualDriverStats,
  PacketDriverStats,
  TcpDriverStats,
  TransportDriverStats,
  UdpDriverStats,
} from "../io/driver.ts";
export type {
  TcpSendDrop,
  TcpStats,
  TransportStats,
  UdpOffloadStats,
  WsStats,
} from "../io/stats.ts";
