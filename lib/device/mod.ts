/**
 * The WireGuard device: peers, handshakes, the data path and its counters, over any transport
 * and packet device (the interfaces the drivers implement), with the protocol's timers and a
 * clock.
 *
 * @example A device with one peer, over an in-memory network and the userspace stack
 * ```ts
 * import { Device } from "@weft/weft/device";
 * import { MemoryNetwork, UserspaceStack } from "@weft/weft/drivers";
 * import { generateKeyPair, selectSuite } from "@weft/weft/crypto";
 *
 * const me = generateKeyPair(), peer = generateKeyPair();
 * const device = new Device({
 *   privateKey: me.privateKey,
 *   suite: selectSuite(),
 *   transport: new MemoryNetwork().bind("192.0.2.1", 51820),
 *   packets: new UserspaceStack({ ipv4: "10.9.0.1" }),
 * });
 * device.setPeer({ publicKey: peer.publicKey, endpoint: "192.0.2.2:51820", allowedIps: ["10.9.0.2/32"] });
 * device.start();
 * console.log(device.peerCount, device.stats);
 * await device.close();
 * ```
 * @module
 */

export {
  Device,
  type DeviceErrorSource,
  type DeviceEvent,
  type DeviceOptions,
  type DeviceStats,
  type PacketFilter,
  type PeerConfig,
} from "./device.ts";
export type { DatagramSink, Endpoint, PacketDevice, PacketSink, Transport } from "../io/driver.ts";
export { type Clock, ManualClock, systemClock } from "./clock.ts";
export { DROP_REASONS, type DropCounters, type DropReason } from "./drops.ts";
export { DEFAULT_TIMERS, type ProtocolTimers } from "../protocol/constants.ts";
