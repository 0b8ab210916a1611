/**
 * The device's public types: how peers and the device are configured, its events, figures and
 * policy hook. Re-exported by device.ts, where the package's users import them from.
 * @module
 */

import type { CryptoSuite } from "../crypto/types.ts";
import type { ProtocolTimers } from "../protocol/constants.ts";
import type { Endpoint, PacketDevice, Transport } from "../io/driver.ts";
import type { Clock } from "./clock.ts";
import type { DropReason } from "./drops.ts";
import type { CryptoBatch } from "./crypto_batch.ts";
import type { InitiationRate } from "./initiation_pace.ts";

/** How a peer is described to the device. */
export interface PeerConfig {
  /** The peer's public key (base64 or 32 bytes). */
  publicKey: string | Uint8Array;
  /** Optional preshared key (base64 or 32 bytes); absent on an update keeps the one held. */
  presharedKey?: string | Uint8Array;
  /** `host:port` of the peer on the underlay, if known (IP literals; resolve names first). */
  endpoint?: string;
  /** Overlay prefixes routed to this peer and accepted from it. */
  allowedIps?: string[];
  /** Seconds between keepalives sent even when idle (0 or absent: off). */
  persistentKeepalive?: number;
}

/** What a device is built from. */
export interface DeviceOptions {
  /**
   * Our static private key (base64 or 32 bytes). Absent, null or all zeros: none yet, as
   * wireguard-go starts (`Device.setPrivateKey` sets one later); until then the device makes and
   * answers no handshakes and its `publicKey` is `""`.
   */
  privateKey?: string | Uint8Array | null;
  /** The crypto backends. */
  suite: CryptoSuite;
  /** The underlay transport. */
  transport: Transport;
  /** The plaintext side. */
  packets: PacketDevice;
  /** Protocol timer overrides (ms). */
  timers?: Partial<ProtocolTimers>;
  /**
   * The clock (tests inject a manual one). The system clock is read at most once per event-loop
   * task (and every 1,024 packets) on the packet paths, as a batch of packets is handled in one
   * task: a read costs a heap number there. An injected clock is read every time, so a test may
   * move it between two packets.
   */
  clock?: Clock;
  /** How often timers are checked, in ms; 0 means never automatically (tests call `tick`). */
  tickMs?: number;
  /** Handshake messages per second past which MAC2 (a cookie round trip) is demanded. */
  underLoadThreshold?: number;
  /**
   * Under load, handshake messages with a valid MAC2 that each source IP may have processed
   * (the DH), as wireguard-go: 20 a second, bursts of 5.
   */
  handshakeRateLimit?: { perSecond: number; burst: number };
  /**
   * Cookie replies each source IP may get (default 20 a second, bursts of 5), tracking at most
   * `maxEntries` sources (default 65,536; past that, new sources are answered untracked).
   */
  cookieReplyRateLimit?: { perSecond: number; burst: number; maxEntries?: number };
  /**
   * The handshakes the device starts, across all its peers: at most `perSecond` a second in
   * bursts of `burst` (default 100 and 25); the others wait their turn (lib/device/initiation_pace.ts).
   */
  initiationRate?: InitiationRate;
  /** At most this many packets wait per peer for a session. */
  maxStaged?: number;
  /** Accept at most one initiation per peer per this many ms (flood protection). */
  minInitiationIntervalMs?: number;
  /**
   * Receives underlay datagrams that are not WireGuard messages (weft's join exchange shares
   * the listen port), with how long each waited in the receive queue (ms; 0: not known). Without
   * it they are dropped as `unknown-type`.
   */
  onForeignDatagram?: (data: Uint8Array, from: Endpoint, waitedMs: number) => void;
  /** Fills session indices and cookie secrets and nonces (default: the CSPRNG; tests fix them). */
  random?: (bytes: Uint8Array) => void;
  /** Decides which plaintext packets may leave and enter the tunnel (network policy). */
  filter?: PacketFilter;
  /**
   * Hears of failures that are not the network's fault: an event listener that threw, or a
   * crypto backend that threw instead of answering. Each is counted either way (`stats`).
   */
  onError?: (source: DeviceErrorSource, error: unknown) => void;
  /**
   * Seal and open transport messages a batch at a time on crypto worker threads
   * (lib/device/crypto_batch.ts) instead of one by one on this thread. The device closes it.
   * @ignore internal: the agent's crypto workers
   */
  cryptoBatch?: CryptoBatch;
}

/** Where an internal failure happened: an event listener, or the crypto backend. */
export type DeviceErrorSource = "listener" | "crypto";

/** A network policy hook on the plaintext path, called for every packet crossing the tunnel. */
export interface PacketFilter {
  /** A packet leaving this node, about to be encrypted toward a peer; false drops it. */
  outbound(pkt: Uint8Array): boolean;
  /** A decrypted packet for this node whose source the peer may use; false drops it. */
  inbound(pkt: Uint8Array): boolean;
  /**
   * Asked right after `outbound` returned false: true when the filter kept (copied) the packet
   * to send later through the sink given to `attach` (a rate limit's queue), so it is not a
   * drop. Absent: every false is a drop.
   */
  held?(): boolean;
  /**
   * Asked right after `outbound` returned true: the type-of-service byte (DSCP) the packet's
   * underlay datagram carries, from the traffic class of the rule that allowed its flow; 0 (or
   * absent): unmarked.
   */
  tos?(): number;
  /**
   * Called by the device when it takes the filter: where the filter sends the packets it held
   * back, once their time comes.
   */
  attach?(sink: HeldPacketSink): void;
}

/** Where a filter sends the outgoing packets it held back (see `PacketFilter.attach`). */
export interface HeldPacketSink {
  /**
   * Sends a plaintext packet into the tunnel as one from the host, without the filter (it passed
   * it already), its underlay datagram marked `tos` (0: unmarked). The bytes are read before it
   * returns.
   */
  send(pkt: Uint8Array, tos: number): void;
  /** Sends what the sends since the last flush queued (once after a run of them). */
  flush(): void;
}

/** Something that happened to a peer, for logs, health and programs. */
export type DeviceEvent =
  | { type: "handshake-complete"; peer: string; role: "initiator" | "responder" }
  | { type: "handshake-initiated"; peer: string }
  | { type: "handshake-give-up"; peer: string; attempts: number }
  | { type: "endpoint-changed"; peer: string; endpoint: string }
  | { type: "keys-zeroed"; peer: string };

/** A device's own figures. */
export interface DeviceStats {
  /** Handshake initiations received that authenticated. */
  handshakesReceived: number;
  /** Cookie replies sent because we were under load. */
  cookieRepliesSent: number;
  /** Packets dropped, by reason. */
  drops: Record<DropReason, number>;
  /** Event listeners that threw (the event still reached the others). */
  listenerErrors: number;
}
