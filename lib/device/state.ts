/**
 * What a device holds, shared by the modules of its concerns (peers.ts, send.ts, receive.ts,
 * roaming.ts, initiate.ts, handshake.ts, admission.ts, keys.ts, timers.ts, events.ts), which are
 * functions over it: the settings, the peer, index and route tables, the reused buffers and the
 * counters.
 * Internal to lib/device: the package's users see the Device facade (device.ts).
 *
 * Plain fields of one class, so that every concern reads them at one monomorphic shape, as the
 * methods of the one class did before the split.
 * @module
 */

import type { CryptoSuite } from "../crypto/types.ts";
import { encodeKey, parseKey, publicKeyOf } from "../crypto/keys.ts";
import {
  INITIATION_SIZE,
  PADDING,
  type ProtocolTimers,
  resolveTimers,
  TAG_SIZE,
  TRANSPORT_HEADER_SIZE,
} from "../protocol/constants.ts";
import type { LocalIdentity } from "../protocol/noise.ts";
import { CookieChecker, fillRandom } from "../protocol/cookie.ts";
import { RateLimiter } from "../protocol/ratelimiter.ts";
import { AllowedIps } from "../peer/allowed_ips.ts";
import type { Keypair } from "../peer/keypair.ts";
import type { Peer } from "../peer/peer.ts";
import type { Clock } from "./clock.ts";
import { systemClock } from "./clock.ts";
import { BatchClock } from "../io/batch_clock.ts";
import type { Endpoint, PacketDevice, Transport } from "../io/driver.ts";
import { DropCounters } from "./drops.ts";
import { LentViewCache, OpenViewCache, SealViewCache } from "./views.ts";
import { IndexTable } from "./index_table.ts";
import { InitiationPace } from "./initiation_pace.ts";
import type { CryptoBatch } from "./crypto_batch.ts";
import type { DeviceErrorSource, DeviceEvent, DeviceOptions, PacketFilter } from "./types.ts";

/** The largest plaintext packet the device carries. */
export const MAX_PACKET = 65535;
/** The index no session has (a handshake's localIndex when none is in flight). */
export const ENTRY_NONE = 0;
/** wireguard-go's per-source handshake rate under load. */
const HANDSHAKE_RATE = { perSecond: 20, burst: 5 };

/** Whether a 32-byte key is all zeros: wg's "no key". */
export function isZeroKey(key: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < key.length; i++) acc |= key[i];
  return acc === 0;
}

/** What a session index stands for: a handshake in flight (no keypair yet) or a session. */
export interface IndexEntry {
  /** The peer the index was made for. */
  peer: Peer;
  /** The session, or null while the handshake that made the index is in flight. */
  keypair: Keypair<Peer> | null;
}

/** The device's state, operated on by the concern modules. See the module docs. */
export class DeviceState {
  /** Our static public key, base64; `""` while the device has no private key. */
  publicKey: string;
  /** Whether the device has a private key (without one it makes and answers no handshakes). */
  hasKey: boolean;
  /** Drop counters by reason. */
  readonly drops: DropCounters = new DropCounters();
  /**
   * Our static keys and the backends the handshake uses. Every peer's handshake holds this
   * object: a new private key is written into its arrays (identity.ts), all zeros while none.
   */
  readonly local: LocalIdentity;
  /** The crypto backends. */
  readonly suite: CryptoSuite;
  /** The underlay transport. */
  readonly transport: Transport;
  /** The plaintext side. */
  readonly packets: PacketDevice;
  /** The protocol timers in force. */
  readonly timers: ProtocolTimers;
  /** Where time comes from. */
  readonly clock: Clock;
  /**
   * The packet paths' time (see DeviceOptions.clock): the system clock read once per event-loop
   * task, an injected one for every packet.
   */
  readonly packetClock: BatchClock;
  /** How often timers are checked, in ms (0: by `tick` calls only). */
  readonly tickMs: number;
  /** Handshake messages per second past which MAC2 is demanded. */
  readonly underLoadThreshold: number;
  /** At most this many packets wait per peer for a session. */
  readonly maxStaged: number;
  /** Accept at most one initiation per peer per this many ms. */
  readonly minInitiationInterval: number;
  /** Where datagrams that are not WireGuard messages go, if anywhere. */
  readonly onForeign: ((data: Uint8Array, from: Endpoint, waitedMs: number) => void) | undefined;
  /** The packet filter (null: everything passes). */
  filter: PacketFilter | null;
  /**
   * UDP ports whose datagrams pass between us and a peer that requires tagged sessions before
   * its session is one (Peer.requireTagged): the exchange that makes the key must flow.
   */
  exemptPorts: readonly number[] = [];
  /** MAC1 and MAC2 checks and cookie replies (made again for a new private key). */
  checker: CookieChecker;
  /** Handshake messages with a valid MAC2 per source IP, under load. */
  readonly handshakeLimiter: RateLimiter;
  /** Cookie replies per source IP. */
  readonly cookieLimiter: RateLimiter;
  /** The handshakes we start, paced across all peers, and those waiting (initiate.ts). */
  readonly pace: InitiationPace;
  /** The peers by base64 public key. */
  readonly peers: Map<string, Peer> = new Map();
  /**
   * The peers whose timers may run: a handshake started or sessions installed, or a persistent
   * keepalive. The tick walks these only, and lets go of each once its timers are all off, so
   * the many idle peers of a large mesh cost it nothing (see timers.ts).
   */
  readonly live: Set<Peer> = new Set();
  /** Session indices: handshakes in flight and sessions. */
  readonly indices: IndexTable<IndexEntry> = new IndexTable();
  /** Cryptokey routing: overlay prefixes to peers. */
  readonly routes: AllowedIps<Peer> = new AllowedIps();
  /** Event listeners. */
  readonly listeners: Set<(e: DeviceEvent) => void> = new Set();
  /** Hear each peer set (added or changed) or removed, by key (peers.ts). */
  readonly peerWatchers: Set<(publicKey: string) => void> = new Set();
  /** One buffer for every outgoing message: sends are synchronous, so it is free again at once. */
  readonly out: Uint8Array = new Uint8Array(
    TRANSPORT_HEADER_SIZE + MAX_PACKET + PADDING + TAG_SIZE,
  );
  /** Views of `out` per padded length. */
  readonly outViews: SealViewCache;
  /** Views of received transport messages. */
  readonly inViews: OpenViewCache = new OpenViewCache(TRANSPORT_HEADER_SIZE, TAG_SIZE);
  /** Views of what the drivers lend: send and write slots, packets padded where they were read. */
  readonly lent: LentViewCache = new LentViewCache();
  /** Hears of internal failures. */
  readonly onError: ((source: DeviceErrorSource, error: unknown) => void) | undefined;
  /** Fills session indices and cookie secrets and nonces. */
  readonly random: (bytes: Uint8Array) => void;
  /** Event listeners that threw. */
  listenerErrors = 0;
  /** The crypto batch sealing and opening on worker threads, if any. */
  readonly batch: CryptoBatch | null;
  /** The buffer handshake messages and cookie replies are built in (sent at once). */
  readonly hsOut: Uint8Array = new Uint8Array(INITIATION_SIZE);
  /** When the current window of handshake counting began (admission.ts). */
  hsWindowStart = 0;
  /** Handshake messages seen in that window. */
  hsCount = 0;
  /** Until when we are under load. */
  underLoadUntil = 0;
  /** Until when we count as behind: datagrams read waited long in the queue (lag.ts). */
  lagUntil = -Infinity;
  /** How long the datagram read last waited in the receive queue, ms (0: not known). */
  lastWaitMs = 0;
  /** Handshake initiations received that authenticated. */
  handshakesReceived = 0;
  /** Cookie replies sent because we were under load. */
  cookieRepliesSent = 0;
  /** Whether the drivers were started. */
  started = false;
  /** Whether the device was closed. */
  closed = false;

  constructor(opts: DeviceOptions) {
    const priv = opts.privateKey === undefined || opts.privateKey === null
      ? new Uint8Array(32)
      : typeof opts.privateKey === "string"
      ? parseKey(opts.privateKey, "private key")
      : opts.privateKey.slice();
    if (priv.length !== 32) throw new RangeError("a private key has 32 bytes");
    this.hasKey = !isZeroKey(priv);
    const pub = this.hasKey ? publicKeyOf(priv, opts.suite.dh) : new Uint8Array(32);
    this.local = { privateKey: priv, publicKey: pub, dh: opts.suite.dh, aead: opts.suite.aead };
    this.publicKey = this.hasKey ? encodeKey(pub) : "";
    this.suite = opts.suite;
    this.transport = opts.transport;
    this.packets = opts.packets;
    this.timers = resolveTimers(opts.timers);
    this.clock = opts.clock ?? systemClock;
    this.packetClock = new BatchClock(() => this.clock.now(), {
      batched: opts.clock === undefined,
    });
    this.tickMs = opts.tickMs ?? 100;
    this.underLoadThreshold = opts.underLoadThreshold ?? 1000;
    this.maxStaged = opts.maxStaged ?? 128;
    this.minInitiationInterval = opts.minInitiationIntervalMs ?? 20;
    this.random = opts.random ?? fillRandom;
    this.checker = new CookieChecker(pub, this.timers.cookieRefreshTime, this.random);
    const now = () => this.clock.now();
    this.handshakeLimiter = new RateLimiter({
      ...HANDSHAKE_RATE,
      ...opts.handshakeRateLimit,
      now,
    });
    // Spoofed sources can fill this table: a full one must not refuse the real peers' cookies.
    this.cookieLimiter = new RateLimiter({
      ...HANDSHAKE_RATE,
      ...opts.cookieReplyRateLimit,
      now,
      failOpen: true,
    });
    this.pace = new InitiationPace(opts.initiationRate);
    this.onForeign = opts.onForeignDatagram;
    this.filter = opts.filter ?? null;
    this.onError = opts.onError;
    this.batch = opts.cryptoBatch ?? null;
    this.outViews = new SealViewCache(this.out, TRANSPORT_HEADER_SIZE, TAG_SIZE);
  }
}
