/**
 * The device: peers, cryptokey routing, the handshake and transport paths and the timers, wired
 * between a packet device (TUN or userspace) and a transport (UDP, TCP). It never blocks, and its
 * transport path allocates nothing per packet: buffer views are made once per length or per
 * driver buffer and reused (lib/device/device_alloc_test.ts counts the garbage collections).
 * Whether the cipher allocates is the crypto backend's business: libsodium does not, node:crypto
 * and noble make objects per packet.
 * @module
 */

import type { Aead, AeadKey, CryptoSuite, Dh } from "../crypto/types.ts";
import { encodeKey, parseKey, publicKeyOf } from "../crypto/keys.ts";
import {
  COOKIE_REPLY_SIZE,
  INITIATION_SIZE,
  MSG_COOKIE_REPLY,
  MSG_INITIATION,
  MSG_RESPONSE,
  MSG_TRANSPORT,
  PADDING,
  type ProtocolTimers,
  REJECT_AFTER_MESSAGES,
  resolveTimers,
  RESPONSE_SIZE,
  TAG_SIZE,
  TRANSPORT_HEADER_SIZE,
  TRANSPORT_MIN_SIZE,
} from "../protocol/constants.ts";
import { readCounter, readU32, writeCounter, writeU32 } from "../protocol/bytes.ts";
import { messageType } from "../protocol/messages.ts";
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  type LocalIdentity,
  noPresharedKey,
  type SessionKeys,
} from "../protocol/noise.ts";
import { CookieChecker, fillRandom, mac2IsZero, sourceBytes } from "../protocol/cookie.ts";
import { RateLimiter } from "../protocol/ratelimiter.ts";
import { AllowedIps } from "../peer/allowed_ips.ts";
import { Cidr } from "../net/cidr.ts";
import { Keypair } from "../peer/keypair.ts";
import { Peer } from "../peer/peer.ts";
import type { Clock } from "./clock.ts";
import { systemClock } from "./clock.ts";
import type { DatagramSink, Endpoint, PacketDevice, PacketSink, Transport } from "../io/driver.ts";
import { DropCounters, type DropReason } from "./drops.ts";
import { LentViewCache, OpenViewCache, SealViewCache } from "./views.ts";
import { IndexTable } from "./index_table.ts";
import type { CryptoBatch } from "./crypto_batch.ts";

/** How a peer is described to the device. */
export interface PeerConfig {
  /** The peer's public key (base64 or 32 bytes). */
  publicKey: string | Uint8Array;
  /** Optional preshared key (base64 or 32 bytes). */
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
  /** Our static private key (base64 or 32 bytes). */
  privateKey: string | Uint8Array;
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
  /** At most this many packets wait per peer for a session. */
  maxStaged?: number;
  /** Accept at most one initiation per peer per this many ms (flood protection). */
  minInitiationIntervalMs?: number;
  /**
   * Receives underlay datagrams that are not WireGuard messages (weft's join exchange shares
   * the listen port). Without it they are dropped as `unknown-type`.
   */
  onForeignDatagram?: (data: Uint8Array, from: Endpoint) => void;
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
}

/** Something that happened to a peer, for logs, health and programs. */
export type DeviceEvent =
  | { type: "handshake-complete"; peer: string; role: "initiator" | "responder" }
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

const MAX_PACKET = 65535;
/** wireguard-go's per-source handshake rate under load. */
const HANDSHAKE_RATE = { perSecond: 20, burst: 5 };
const ENTRY_NONE = 0;
/** #onTransport's `opened`: not opened yet, or opened by the crypto batch and authentic or not. */
const NOT_OPENED = 0;
const AUTHENTIC = 1;
const FORGED = 2;

interface IndexEntry {
  peer: Peer;
  keypair: Keypair<Peer> | null;
}

/** A WireGuard device. See the module docs. */
export class Device {
  /** Our static public key, base64. */
  readonly publicKey: string;
  /** Drop counters by reason. */
  readonly drops: DropCounters = new DropCounters();
  readonly #local: LocalIdentity;
  readonly #suite: CryptoSuite;
  readonly #transport: Transport;
  readonly #packets: PacketDevice;
  readonly #timers: ProtocolTimers;
  readonly #clock: Clock;
  /**
   * The packet paths' time (see DeviceOptions.clock): the last clock reading, in a typed array
   * so that reading it makes no heap number, and how many more packets may use it.
   */
  readonly #time = new Float64Array(1);
  #timeUses = 0;
  readonly #timeBatched: boolean;
  #timeExpiryQueued = false;
  readonly #expireTime = () => {
    this.#timeUses = 0;
    this.#timeExpiryQueued = false;
  };
  readonly #tickMs: number;
  readonly #underLoadThreshold: number;
  readonly #maxStaged: number;
  readonly #minInitiationInterval: number;
  readonly #onForeign?: (data: Uint8Array, from: Endpoint) => void;
  #filter: PacketFilter | null;
  readonly #checker: CookieChecker;
  readonly #handshakeLimiter: RateLimiter;
  readonly #cookieLimiter: RateLimiter;
  readonly #peers = new Map<string, Peer>();
  readonly #indices = new IndexTable<IndexEntry>();
  readonly #routes = new AllowedIps<Peer>();
  readonly #listeners = new Set<(e: DeviceEvent) => void>();
  // One buffer for every outgoing message: sends are synchronous, so it is free again at once.
  readonly #out = new Uint8Array(TRANSPORT_HEADER_SIZE + MAX_PACKET + PADDING + TAG_SIZE);
  readonly #outViews = new SealViewCache(this.#out, TRANSPORT_HEADER_SIZE, TAG_SIZE);
  readonly #inViews = new OpenViewCache(TRANSPORT_HEADER_SIZE, TAG_SIZE);
  /** Views of what the drivers lend: send and write slots, packets padded where they were read. */
  readonly #lent = new LentViewCache();
  readonly #onError?: (source: DeviceErrorSource, error: unknown) => void;
  readonly #random: (bytes: Uint8Array) => void;
  #listenerErrors = 0;
  readonly #batch: CryptoBatch | null;
  readonly #hsOut = new Uint8Array(INITIATION_SIZE);
  #hsWindowStart = 0;
  #hsCount = 0;
  #underLoadUntil = 0;
  #handshakesReceived = 0;
  #cookieRepliesSent = 0;
  #interval: ReturnType<typeof setInterval> | undefined;
  #started = false;
  #closed = false;

  /** A device from its keys, transport and packet device; `start` sets it running. */
  constructor(opts: DeviceOptions) {
    const priv = typeof opts.privateKey === "string"
      ? parseKey(opts.privateKey, "private key")
      : opts.privateKey.slice();
    const pub = publicKeyOf(priv, opts.suite.dh);
    this.#local = { privateKey: priv, publicKey: pub, dh: opts.suite.dh, aead: opts.suite.aead };
    this.publicKey = encodeKey(pub);
    this.#suite = opts.suite;
    this.#transport = opts.transport;
    this.#packets = opts.packets;
    this.#timers = resolveTimers(opts.timers);
    this.#clock = opts.clock ?? systemClock;
    this.#timeBatched = opts.clock === undefined;
    this.#tickMs = opts.tickMs ?? 100;
    this.#underLoadThreshold = opts.underLoadThreshold ?? 1000;
    this.#maxStaged = opts.maxStaged ?? 128;
    this.#minInitiationInterval = opts.minInitiationIntervalMs ?? 20;
    this.#random = opts.random ?? fillRandom;
    this.#checker = new CookieChecker(pub, this.#timers.cookieRefreshTime, this.#random);
    const now = () => this.#clock.now();
    this.#handshakeLimiter = new RateLimiter({
      ...HANDSHAKE_RATE,
      ...opts.handshakeRateLimit,
      now,
    });
    // Spoofed sources can fill this table: a full one must not refuse the real peers' cookies.
    this.#cookieLimiter = new RateLimiter({
      ...HANDSHAKE_RATE,
      ...opts.cookieReplyRateLimit,
      now,
      failOpen: true,
    });
    this.#onForeign = opts.onForeignDatagram;
    this.#filter = opts.filter ?? null;
    this.#onError = opts.onError;
    this.#batch = opts.cryptoBatch ?? null;
    this.#batch?.attach({
      send: (wire, to) => this.#transport.send(wire, to),
      deliver: (data, from, authentic) =>
        this.#onTransport(data, from, authentic ? AUTHENTIC : FORGED),
      lost: (count) => this.drops.add("crypto-error", count),
    });
  }

  /** Replaces the packet filter (null: everything passes). */
  setFilter(filter: PacketFilter | null): void {
    this.#filter = filter;
  }

  /** Sends a raw datagram on the underlay (for protocols sharing the port). */
  sendDatagram(data: Uint8Array, to: Endpoint): void {
    this.#transport.send(data, to);
    this.#flushSends();
  }

  /** Parses `ip:port` into the transport's endpoint. */
  endpoint(text: string): Endpoint {
    return this.#transport.endpoint(text);
  }

  /** The transport-data cipher backend in use. */
  get aeadName(): string {
    return this.#suite.aead.name;
  }

  /** The handshake key-agreement backend in use. */
  get dhName(): string {
    return this.#suite.dh.name;
  }

  /** The handshake key-agreement implementation (for protocols that share the static key). */
  get dhBackend(): Dh {
    return this.#suite.dh;
  }

  /**
   * The crypto batch (worker threads) sealing and opening transport messages, if any.
   * @ignore internal: the agent's crypto workers
   */
  get cryptoBatch(): CryptoBatch | null {
    return this.#batch;
  }

  /** The AEAD implementation. */
  get aeadBackend(): Aead {
    return this.#suite.aead;
  }

  /** The MTU of the plaintext side. */
  get mtu(): number {
    return this.#packets.mtu;
  }

  /** The listen port of the transport. */
  get listenPort(): number {
    return this.#transport.port;
  }

  /** A copy of our static private key (all zeros once closed), for `wg show`-style readers. */
  privateKeyBytes(): Uint8Array {
    return this.#local.privateKey.slice();
  }

  /** The protocol timers in force. */
  get timers(): Readonly<ProtocolTimers> {
    return this.#timers;
  }

  /** The device's own counters. */
  get stats(): DeviceStats {
    return {
      handshakesReceived: this.#handshakesReceived,
      cookieRepliesSent: this.#cookieRepliesSent,
      drops: this.drops.snapshot(),
      listenerErrors: this.#listenerErrors,
    };
  }

  /** Starts the drivers and the timer tick. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const packetSink: PacketSink = {
      packet: (data, room) => this.#onPlaintext(data, room ?? 0),
      flush: () => this.#flushSends(),
    };
    const datagramSink: DatagramSink = {
      datagram: (data, from) => this.#onDatagram(data, from),
      flush: () => {
        this.#batch?.flushOpens();
        this.#flushSends();
        this.#packets.flush?.();
      },
    };
    this.#packets.start(packetSink);
    this.#transport.start(datagramSink);
    if (this.#tickMs > 0) this.#interval = setInterval(() => this.tick(), this.#tickMs);
    // Peers with persistent keepalive reach out at once, as wg does on `up`.
    for (const peer of this.#peers.values()) {
      if (peer.timers.persistentKeepaliveMs > 0) this.#sendKeepalive(peer);
    }
    this.#flushSends();
  }

  /** Stops the tick, wipes every session and closes both drivers. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#interval !== undefined) clearInterval(this.#interval);
    for (const peer of this.#peers.values()) this.#forgetPeerState(peer);
    this.#batch?.close();
    await Promise.allSettled([this.#transport.close(), this.#packets.close()]);
    this.#local.privateKey.fill(0);
  }

  /** Subscribes to peer events; returns the unsubscribe function. */
  onEvent(listener: (e: DeviceEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Adds a peer, or updates the one with the same public key. Returns its base64 key. */
  setPeer(cfg: PeerConfig): string {
    const pub = typeof cfg.publicKey === "string"
      ? parseKey(cfg.publicKey, "peer public key")
      : cfg.publicKey.slice();
    const key = encodeKey(pub);
    if (key === this.publicKey) throw new Error("a peer cannot have the device's own public key");
    const psk = cfg.presharedKey === undefined
      ? noPresharedKey()
      : typeof cfg.presharedKey === "string"
      ? parseKey(cfg.presharedKey, "preshared key")
      : cfg.presharedKey.slice();
    const keepalive = cfg.persistentKeepalive ?? 0;
    if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65535) {
      throw new RangeError(`persistent keepalive must be 0..65535 seconds, got ${keepalive}`);
    }
    const endpoint = cfg.endpoint ? this.#transport.endpoint(cfg.endpoint) : null;
    // Validate every prefix before changing anything, so a bad one leaves the peer as it was.
    const prefixes = cfg.allowedIps ?? [];
    const cidrs = prefixes.map((p) => Cidr.parse(p));

    let peer = this.#peers.get(key);
    if (!peer) {
      peer = new Peer(pub, psk, this.#local, this.#timers, keepalive);
      this.#peers.set(key, peer);
    } else {
      peer.handshake.presharedKey = psk;
      peer.timers.persistentKeepaliveMs = keepalive * 1000;
    }
    if (endpoint) peer.endpoint = endpoint;
    this.#routes.removeByValue(peer);
    for (const c of cidrs) this.#routes.insert(c, peer);
    if (this.#started && keepalive > 0) {
      this.#sendKeepalive(peer);
      this.#flushSends();
    }
    return key;
  }

  /** Removes a peer and wipes its sessions; false when there was no such peer. */
  removePeer(publicKey: string): boolean {
    const peer = this.#peers.get(publicKey);
    if (!peer) return false;
    this.#forgetPeerState(peer);
    this.#routes.removeByValue(peer);
    this.#peers.delete(publicKey);
    return true;
  }

  /**
   * The peer with this base64 public key.
   * @ignore internal: peers are the device's own objects
   */
  peer(publicKey: string): Peer | undefined {
    return this.#peers.get(publicKey);
  }

  /** How many peers there are. */
  get peerCount(): number {
    return this.#peers.size;
  }

  /**
   * Every peer.
   * @ignore internal: peers are the device's own objects
   */
  peers(): Peer[] {
    return [...this.#peers.values()];
  }

  /**
   * The prefixes routed to a peer.
   * @ignore internal: peers are the device's own objects
   */
  allowedIpsOf(peer: Peer): string[] {
    return this.#routes.entries(peer).map((c) => c.toString());
  }

  /** Starts a handshake with a peer now (as `wg` does when a packet is queued). */
  initiateHandshake(publicKey: string): void {
    const peer = this.#peers.get(publicKey);
    if (!peer) throw new Error(`no peer ${publicKey}`);
    this.#sendInitiation(peer, false);
    this.#flushSends();
  }

  /**
   * Starts a handshake now even if one went out less than REKEY_TIMEOUT ago: for a peer whose
   * endpoint was just moved to a path that answers, when the last initiation went where nothing
   * listens and waiting for its retransmission would cost up to 5 s. Callers limit how often.
   */
  initiateHandshakeNow(publicKey: string): void {
    const peer = this.#peers.get(publicKey);
    if (!peer) throw new Error(`no peer ${publicKey}`);
    peer.lastInitiationSent = -Infinity;
    this.#sendInitiation(peer, false);
    this.#flushSends();
  }

  /** Fires whatever timers are due. Called every `tickMs`, or by tests. */
  tick(): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    for (const peer of this.#peers.values()) {
      for (let kind = peer.timers.due(now); kind; kind = peer.timers.due(now)) {
        switch (kind) {
          case "retransmit-handshake":
            this.#onRetransmit(peer);
            break;
          case "send-keepalive":
          case "persistent-keepalive":
            this.#sendKeepalive(peer);
            break;
          case "new-handshake":
            this.#sendInitiation(peer, false);
            break;
          case "zero-key-material":
            this.#forgetPeerState(peer);
            this.#emit({ type: "keys-zeroed", peer: peer.publicKeyText });
            break;
        }
      }
    }
    this.#flushSends();
  }

  /** Sends what waits: messages the crypto batch has to seal first, then the transport's queue. */
  #flushSends(): void {
    this.#batch?.flushSeals();
    this.#transport.flush();
  }

  // ---- outgoing plaintext ----

  /** A packet from the host; `room` bytes after it may be overwritten (PacketSink.packet). */
  #onPlaintext(pkt: Uint8Array, room: number): void {
    const peer = this.#routes.lookupDst(pkt);
    if (!peer) {
      this.drops.add("no-route");
      return;
    }
    if (pkt.length > MAX_PACKET) {
      this.drops.add("oversize");
      return;
    }
    if (this.#filter !== null && !this.#filter.outbound(pkt)) {
      this.drops.add("policy");
      return;
    }
    if (!this.#sendTransport(peer, pkt, room)) {
      this.#stage(peer, pkt.slice());
      this.#sendInitiation(peer, false);
    }
  }

  #stage(peer: Peer, copy: Uint8Array): void {
    if (peer.staged.length >= this.#maxStaged) {
      peer.staged.shift();
      this.drops.add("staged-overflow");
    }
    peer.staged.push(copy);
  }

  #sendStaged(peer: Peer): void {
    while (peer.staged.length > 0) {
      if (!this.#sendTransport(peer, peer.staged[0], 0)) break;
      peer.staged.shift();
    }
    if (peer.staged.length > 0) this.#sendInitiation(peer, false);
  }

  /** Reads the clock for the packet paths (see #time). */
  #readTime(): void {
    this.#time[0] = this.#clock.now();
    if (!this.#timeBatched) {
      this.#timeUses = 0;
      return;
    }
    this.#timeUses = 1024;
    if (!this.#timeExpiryQueued) {
      this.#timeExpiryQueued = true;
      queueMicrotask(this.#expireTime);
    }
  }

  #usable(kp: Keypair<Peer> | null, now: number): kp is Keypair<Peer> {
    return kp !== null && now - kp.created < this.#timers.rejectAfterTime &&
      kp.sendCounter < REJECT_AFTER_MESSAGES;
  }

  /**
   * Encrypts and sends `pkt` (empty: a keepalive) on the current session; false if none. When the
   * transport lends a slot of its send queue (Transport.reserve), the message is built there: the
   * plaintext is sealed straight from where the driver read it, padded in place when `room` bytes
   * after it may be overwritten (else copied into the slot once). Otherwise it is built in #out
   * and copied by `send`.
   */
  #sendTransport(peer: Peer, pkt: Uint8Array, room: number): boolean {
    if (--this.#timeUses < 0) this.#readTime();
    const now = this.#time[0];
    const kp = peer.current;
    const ep = peer.endpoint;
    if (!this.#usable(kp, now) || ep === null) return false;
    const counter = kp.sendCounter++;
    const len = pkt.length;
    let padded = (len + PADDING - 1) & ~(PADDING - 1);
    const mtu = this.#packets.mtu;
    if (padded > mtu) padded = len > mtu ? len : mtu;
    const total = TRANSPORT_HEADER_SIZE + padded + TAG_SIZE;
    if (this.#batch?.seal(kp.send, kp.remoteIndex, counter, pkt, padded, ep)) {
      // Sealed and sent with the rest of the batch, at the next #flushSends (copied from the
      // pool's shared buffer by `send`: these messages do not use the transport's slots).
      this.#countSent(peer, kp, counter, len, total);
      return true;
    }
    const transport = this.#transport;
    const slot = transport.reserve === undefined ? null : transport.reserve(total, ep);
    const out = slot ?? this.#out;
    writeU32(out, 0, MSG_TRANSPORT);
    writeU32(out, 4, kp.remoteIndex);
    writeCounter(out, 8, counter);
    let wire: Uint8Array | null = null;
    try {
      if (slot === null) {
        out.set(pkt, TRANSPORT_HEADER_SIZE);
        // At most 15 bytes: a loop is cheaper than fill's call.
        for (let i = TRANSPORT_HEADER_SIZE + len; i < TRANSPORT_HEADER_SIZE + padded; i++) {
          out[i] = 0;
        }
        const views = this.#outViews.get(padded);
        kp.send.seal(counter, views.plain, views.sealed);
        wire = views.wire;
      } else {
        const lent = this.#lent;
        let src = pkt;
        if (padded !== len) {
          // The padding's zeros are sealed with the packet, so they must follow it somewhere.
          if (padded - len <= room) src = lent.get(pkt, 0, padded);
          else {
            src = lent.get(slot, TRANSPORT_HEADER_SIZE, padded);
            src.set(pkt);
          }
          for (let i = len; i < padded; i++) src[i] = 0;
        }
        kp.send.seal(counter, src, lent.get(slot, TRANSPORT_HEADER_SIZE, padded + TAG_SIZE));
      }
    } catch (e) {
      // The slot, if any, stays uncommitted: the next reserve hands it out again.
      this.#internalError("crypto", e);
      return true; // the packet is lost, not waiting: staging it would only fail again
    }
    if (wire !== null) transport.send(wire, ep);
    else transport.commit!(total, ep);
    this.#countSent(peer, kp, counter, len, total);
    return true;
  }

  /**
   * The counters and timers of a transport message sent (or queued to be), and the rekey. The
   * time is read from #time here, not passed in: a double passed to a call is a heap number.
   */
  #countSent(peer: Peer, kp: Keypair<Peer>, counter: number, len: number, total: number): void {
    const now = this.#time[0];
    peer.counters.txBytes += total;
    peer.counters.txPackets++;
    peer.timers.anyAuthenticatedPacketSent();
    peer.timers.anyAuthenticatedPacketTraversal(now);
    if (len > 0) peer.timers.dataSent(now);
    if (
      kp.isInitiator && (counter >= this.#timers.rekeyAfterMessages ||
        now - kp.created >= this.#timers.rekeyAfterTime)
    ) {
      this.#sendInitiation(peer, false);
    }
  }

  #sendKeepalive(peer: Peer): void {
    if (peer.staged.length === 0 && this.#sendTransport(peer, EMPTY, 0)) return;
    this.#sendStaged(peer);
    if (peer.staged.length === 0 && !this.#usable(peer.current, this.#clock.now())) {
      this.#sendInitiation(peer, false);
    }
  }

  // ---- handshakes we start ----

  #sendInitiation(peer: Peer, isRetry: boolean): void {
    const now = this.#clock.now();
    if (!isRetry) {
      if (now - peer.lastInitiationSent < this.#timers.rekeyTimeout) return;
      peer.timers.handshakeAttempts = 0;
    }
    if (peer.endpoint === null) return;
    peer.lastInitiationSent = now;
    if (peer.handshake.localIndex !== ENTRY_NONE) {
      this.#indices.delete(peer.handshake.localIndex);
    }
    const index = this.#newIndex(peer, null);
    const msg = this.#hsOut.subarray(0, INITIATION_SIZE);
    try {
      createInitiation(this.#local, peer.handshake, index, this.#clock.wallNow(), msg);
    } catch {
      // Only a low-order peer key makes the DH fail: no handshake is possible with it.
      this.#indices.delete(index);
      peer.handshake.clear();
      this.drops.add("handshake-invalid");
      return;
    }
    peer.cookies.addMacs(msg, now);
    this.#transport.send(msg, peer.endpoint);
    peer.counters.initiationsSent++;
    peer.timers.anyAuthenticatedPacketTraversal(now);
    peer.timers.anyAuthenticatedPacketSent();
    peer.timers.handshakeInitiated(now);
  }

  #onRetransmit(peer: Peer): void {
    if (peer.timers.handshakeAttempts >= peer.timers.maxAttempts) {
      this.#emit({
        type: "handshake-give-up",
        peer: peer.publicKeyText,
        attempts: peer.timers.handshakeAttempts + 1,
      });
      peer.timers.sendKeepalive = 0;
      if (peer.staged.length) this.drops.add("handshake-timeout", peer.staged.length);
      peer.staged = [];
      if (peer.timers.zeroKeyMaterial === 0) {
        peer.timers.zeroKeyMaterial = this.#clock.now() + this.#timers.rejectAfterTime * 3;
      }
      return;
    }
    peer.timers.handshakeAttempts++;
    this.#sendInitiation(peer, true);
  }

  // ---- incoming datagrams ----

  #onDatagram(data: Uint8Array, from: Endpoint): void {
    const type = messageType(data);
    // A handshake message may change the sessions: the transport messages before it are
    // handled first, as they would have been inline.
    if (type !== MSG_TRANSPORT) this.#batch?.flushOpens();
    switch (type) {
      case MSG_TRANSPORT:
        this.#onTransport(data, from);
        return;
      case MSG_INITIATION:
        this.#onInitiation(data, from);
        return;
      case MSG_RESPONSE:
        this.#onResponse(data, from);
        return;
      case MSG_COOKIE_REPLY:
        this.#onCookieReply(data);
        return;
      default:
        if (this.#onForeign && data.length >= 4) this.#onForeign(data, from);
        else this.drops.add("unknown-type");
    }
  }

  /**
   * A transport message; `opened` says whether the crypto batch has opened it already (then the
   * checks before decryption run again, cheaply, and decryption is skipped).
   */
  #onTransport(data: Uint8Array, from: Endpoint, opened = NOT_OPENED): void {
    if (data.length < TRANSPORT_MIN_SIZE) {
      this.drops.add("short");
      return;
    }
    const kp = this.#indices.get(readU32(data, 4))?.keypair;
    if (!kp) {
      this.drops.add("unknown-index");
      return;
    }
    const counter = readCounter(data, 8);
    if (counter < 0) {
      this.drops.add("bad-counter");
      return;
    }
    if (--this.#timeUses < 0) this.#readTime();
    const now = this.#time[0];
    if (now - kp.created >= this.#timers.rejectAfterTime) {
      this.drops.add("expired-session");
      return;
    }
    if (opened === NOT_OPENED && this.#batch?.open(kp.receive, counter, data, from)) return;
    const views = this.#inViews.get(data);
    const plainLen = views.plain.length;
    // Where the packet device lends a slot of its write queue, the plaintext is opened straight
    // into it; otherwise in place, and `write` copies it. A slot not committed is just dropped.
    // A message the crypto batch opened already holds its plaintext in place: no slot then, so
    // that `write` copies it.
    const packets = this.#packets;
    const lent = opened === NOT_OPENED && plainLen > 0 && packets.reserve !== undefined
      ? packets.reserve(plainLen)
      : null;
    const plain = lent === null ? views.plain : this.#lent.get(lent, 0, plainLen);
    let authentic = opened === AUTHENTIC;
    try {
      if (opened === NOT_OPENED) authentic = kp.receive.open(counter, views.sealed, plain);
    } catch (e) {
      this.#internalError("crypto", e);
      return;
    }
    if (!authentic) {
      this.drops.add("decrypt");
      return;
    }
    if (!kp.replay.accept(counter, REJECT_AFTER_MESSAGES)) {
      this.drops.add("replay");
      return;
    }
    const peer = kp.peer;
    kp.lastReceived = now;
    if (kp === peer.next) this.#confirmNext(peer);
    else if (kp === peer.previous && peer.current !== null && this.#winsOver(kp, peer.current)) {
      // The peer sent on the crossing's winning session, so it holds it: both settle there.
      this.#takeWinner(peer);
    }
    this.#roam(peer, from);
    peer.counters.rxBytes += data.length;
    peer.counters.rxPackets++;
    peer.timers.anyAuthenticatedPacketReceived();
    peer.timers.anyAuthenticatedPacketTraversal(now);
    if (
      kp === peer.current && kp.isInitiator && !peer.timers.sentLastMinuteHandshake &&
      now - kp.created >=
        this.#timers.rejectAfterTime - this.#timers.keepaliveTimeout - this.#timers.rekeyTimeout
    ) {
      peer.timers.sentLastMinuteHandshake = true;
      this.#sendInitiation(peer, false);
    }
    if (plainLen === 0) return; // keepalive
    peer.timers.dataReceived(now);
    const ipLen = this.#checkSource(peer, plain);
    if (ipLen <= 0) return;
    if (lent !== null) {
      if (this.#filter !== null && !this.#filter.inbound(this.#lent.get(lent, 0, ipLen))) {
        this.drops.add("policy");
        return;
      }
      packets.commit!(ipLen);
      return;
    }
    const pkt = this.#inViews.packet(views, ipLen);
    if (this.#filter !== null && !this.#filter.inbound(pkt)) {
      this.drops.add("policy");
      return;
    }
    packets.write(pkt);
  }

  /** The IP packet's length when its source is routed to `peer`; 0 (counted) otherwise. */
  #checkSource(peer: Peer, plain: Uint8Array): number {
    const version = plain[0] >> 4;
    let ipLen = 0;
    let owner: Peer | undefined;
    if (version === 4 && plain.length >= 20) {
      ipLen = (plain[2] << 8) | plain[3];
      owner = this.#routes.lookup(plain, 12, 4);
      if (ipLen < 20) ipLen = -1;
    } else if (version === 6 && plain.length >= 40) {
      ipLen = 40 + ((plain[4] << 8) | plain[5]);
      owner = this.#routes.lookup(plain, 8, 6);
    } else {
      this.drops.add("malformed-ip");
      return 0;
    }
    if (ipLen < 0 || ipLen > plain.length) {
      this.drops.add("malformed-ip");
      return 0;
    }
    if (owner !== peer) {
      this.drops.add("source-not-allowed");
      return 0;
    }
    return ipLen;
  }

  /** The peer used the session it started: it becomes the one we send on. */
  #confirmNext(peer: Peer): void {
    const next = peer.next!;
    const current = peer.current;
    // Our current session and the peer's new one crossed, and ours wins (our key is the larger):
    // keep sending on ours only if the peer has shown it holds it, by sending on it since its own
    // existed here (lastReceived is 0 when it never did). In a genuine crossing a peer that does so
    // has both and sends on ours from then on; packets on its own still arriving are ones it sent
    // before ours reached it.
    // Without that proof the peer may have restarted since ours was made (it then has only its
    // new session, and drops what we send on ours as an unknown index), or ours has not reached
    // it yet: either way it certainly holds the one it just used, so we send on that. Ours stays
    // receivable as the previous session, and the peer's first packet on it (a genuine crossing)
    // moves us back to it in #onTransport, so both still settle on the same one.
    if (
      current !== null && this.#winsOver(current, next) && current.lastReceived >= next.created
    ) {
      if (peer.previous) this.#dropKeypair(peer.previous);
      peer.previous = next;
      peer.next = null;
      return;
    }
    if (peer.previous) this.#dropKeypair(peer.previous);
    peer.previous = current;
    peer.current = next;
    peer.next = null;
    this.#handshakeDone(peer, "responder");
    this.#sendStaged(peer);
  }

  /**
   * The peer sent on `previous`, the winning half of a crossing whose other half we send on: it
   * holds both (a restarted peer cannot send on a session made before its restart; only a packet
   * sent before it, held up in the network past the restart and the new handshake, could look
   * so), so we move to the winner, where the peer sends too. Only ever toward the winner, so the
   * two sides cannot chase each other.
   */
  #takeWinner(peer: Peer): void {
    const winner = peer.previous!;
    peer.previous = peer.current;
    peer.current = winner;
  }

  #roam(peer: Peer, from: Endpoint): void {
    // A stream transport keeps the connections that carry authenticated messages (one compare
    // for the datagrams of UDP).
    if (from.proto === "tcp") this.#transport.authenticated?.(from);
    if (peer.endpoint === from) return;
    peer.endpoint = from;
    this.#emit({ type: "endpoint-changed", peer: peer.publicKeyText, endpoint: from.toString() });
  }

  #underLoad(now: number): boolean {
    if (now - this.#hsWindowStart >= 1000) {
      this.#hsWindowStart = now;
      this.#hsCount = 0;
    }
    if (++this.#hsCount > this.#underLoadThreshold) this.#underLoadUntil = now + 1000;
    return now < this.#underLoadUntil;
  }

  /**
   * MAC1 always; under load, as wireguard-go, MAC2 (else a cookie reply) and then the source
   * IP's rate, before any DH. False when the message stops here (counted).
   */
  #admitHandshake(data: Uint8Array, from: Endpoint, senderIndex: number): boolean {
    const now = this.#clock.now();
    // Every handshake message counts toward load, as wireguard-go's queue holds them before any
    // check: a flood of junk is load too.
    const loaded = this.#underLoad(now);
    const ip = from.address;
    if (loaded) {
      // A source whose budget is spent is dropped before any MAC, whatever it sent: without a
      // cookie (MAC2 zero) it could only get a reply, with one only a DH. Only MAC2-valid
      // messages spend the handshake budget, so nobody can spend another address's.
      if (mac2IsZero(data)) {
        if (!this.#cookieLimiter.wouldAllow(ip)) {
          this.drops.add("cookie-reply-limited");
          return false;
        }
      } else if (!this.#handshakeLimiter.wouldAllow(ip)) {
        this.drops.add("handshake-rate-limited");
        return false;
      }
    }
    if (!this.#checker.checkMac1(data)) {
      this.drops.add("mac1");
      return false;
    }
    if (!loaded) return true;
    const src = sourceBytes(ip, from.port);
    if (!this.#checker.checkMac2(data, src, now)) {
      // Bounded per source, so a flood gets a few replies; a peer sending from its own address
      // still gets its cookie.
      if (!this.#cookieLimiter.allow(ip)) {
        this.drops.add("cookie-reply-limited");
        return false;
      }
      const reply = this.#hsOut.subarray(0, COOKIE_REPLY_SIZE);
      this.#checker.createReply(data, senderIndex, src, now, reply);
      this.#transport.send(reply, from);
      this.#cookieRepliesSent++;
      this.drops.add("cookie-required");
      return false;
    }
    if (!this.#handshakeLimiter.allow(ip)) {
      this.drops.add("handshake-rate-limited");
      return false;
    }
    return true;
  }

  #onInitiation(data: Uint8Array, from: Endpoint): void {
    if (data.length !== INITIATION_SIZE) {
      this.drops.add("bad-size");
      return;
    }
    if (!this.#admitHandshake(data, from, readU32(data, 4))) return;
    const now = this.#clock.now();
    const found = consumeInitiation(
      this.#local,
      data,
      (key) => {
        const peer = this.#peers.get(encodeKey(key));
        return peer ? { peer, handshake: peer.handshake } : undefined;
      },
      now,
      this.#minInitiationInterval,
    );
    if (!found) {
      this.drops.add("handshake-invalid");
      return;
    }
    const peer = found.peer;
    this.#handshakesReceived++;
    this.#roam(peer, from);
    peer.timers.anyAuthenticatedPacketTraversal(now);
    peer.timers.anyAuthenticatedPacketReceived();

    // Our own initiation to this peer, if one is in flight, stays valid: its response may
    // still come, and completes a session without waiting for a retransmission.
    const index = this.#newIndex(peer, null);
    const msg = this.#hsOut.subarray(0, RESPONSE_SIZE);
    const keys = createResponse(this.#local, found, index, msg);
    if (!keys) {
      this.#indices.delete(index);
      this.drops.add("handshake-invalid");
      return;
    }
    peer.cookies.addMacs(msg, now);
    this.#transport.send(msg, from);
    this.#installKeys(peer, keys, now);
    peer.timers.anyAuthenticatedPacketTraversal(now);
    peer.timers.anyAuthenticatedPacketSent();
  }

  #onResponse(data: Uint8Array, from: Endpoint): void {
    if (data.length !== RESPONSE_SIZE) {
      this.drops.add("bad-size");
      return;
    }
    if (!this.#admitHandshake(data, from, readU32(data, 4))) return;
    const entry = this.#indices.get(readU32(data, 8));
    if (!entry || entry.keypair) {
      this.drops.add("unknown-index");
      return;
    }
    const peer = entry.peer;
    const keys = consumeResponse(this.#local, peer.handshake, data);
    if (!keys) {
      this.drops.add("handshake-invalid");
      return;
    }
    const now = this.#clock.now();
    this.#roam(peer, from);
    this.#installKeys(peer, keys, now);
    peer.timers.anyAuthenticatedPacketTraversal(now);
    peer.timers.anyAuthenticatedPacketReceived();
    this.#handshakeDone(peer, "initiator");
    // Send what waited, or a keepalive, so the responder can confirm the new session.
    if (peer.staged.length > 0) this.#sendStaged(peer);
    else this.#sendTransport(peer, EMPTY, 0);
  }

  #onCookieReply(data: Uint8Array): void {
    if (data.length !== COOKIE_REPLY_SIZE) {
      this.drops.add("bad-size");
      return;
    }
    const entry = this.#indices.get(readU32(data, 4));
    if (!entry) {
      this.drops.add("unknown-index");
      return;
    }
    if (!entry.peer.cookies.consumeReply(data, this.#clock.now())) {
      this.drops.add("cookie-invalid");
    }
  }

  // ---- sessions and indices ----

  #installKeys(peer: Peer, keys: SessionKeys, now: number): void {
    const aead = this.#suite.aead;
    const batch = this.#batch;
    let send: AeadKey | undefined;
    let receive: AeadKey;
    try {
      send = batch?.key(keys.send) ?? aead.key(keys.send);
      receive = batch?.key(keys.receive) ?? aead.key(keys.receive);
    } catch (e) {
      // Keyed halfway: the copy made is wiped, as the raw keys are either way.
      send?.destroy();
      throw e;
    } finally {
      keys.send.fill(0);
      keys.receive.fill(0);
    }
    const kp = new Keypair<Peer>(
      send,
      receive,
      keys.localIndex,
      keys.remoteIndex,
      keys.isInitiator,
      now,
      peer,
    );
    this.#indices.set(kp.localIndex, { peer, keypair: kp });
    if (keys.isInitiator) this.#rotateInitiated(peer, kp);
    else {
      if (peer.next) this.#dropKeypair(peer.next);
      peer.next = kp;
    }
    peer.timers.sessionDerived(now);
  }

  /**
   * Our initiation completed: `kp` becomes the session we send on, unless the peer's unconfirmed
   * one wins.
   */
  #rotateInitiated(peer: Peer, kp: Keypair<Peer>): void {
    const next = peer.next;
    // The peer started a handshake at about the same time: both sides hold both sessions, and
    // when the peer's wins (Peer.winsCrossing) both settle on it.
    if (peer.winsCrossing && next !== null && this.#crossing(kp, next)) {
      // Not confirmed yet: ours carries traffic until the peer uses its own, which then takes
      // over in #confirmNext.
      this.#retireCurrent(peer);
      peer.current = kp;
      return;
    }
    // A current session the peer started that wins a crossing with ours is not kept over ours
    // here: the peer answered ours just now, so it holds ours, but it may have restarted since it
    // made its own. Ours carries traffic; the peer's stays receivable as the previous session, and
    // the peer's next packet on it (a genuine crossing) moves us back to it in #onTransport.
    if (next !== null) {
      // The peer started `next` and sends on it once our answer reaches it.
      if (peer.previous) this.#dropKeypair(peer.previous);
      if (peer.current) this.#dropKeypair(peer.current);
      peer.previous = next;
      peer.next = null;
    } else {
      this.#retireCurrent(peer);
    }
    peer.current = kp;
  }

  /**
   * True when `x` and `y` crossed (see #crossing) and `x` is the winner: the one started by the
   * larger static key, ours when we win (the peer does not), the peer's when it does.
   */
  #winsOver(x: Keypair<Peer>, y: Keypair<Peer>): boolean {
    return x.isInitiator !== x.peer.winsCrossing && this.#crossing(x, y);
  }

  /**
   * True when two sessions crossed: one started by each side, derived within a rekey timeout of
   * each other. Both sides see the same pair this way (the window dwarfs the network delay
   * between their clocks' readings), so both apply Peer.winsCrossing to the same two sessions.
   */
  #crossing(x: Keypair<Peer>, y: Keypair<Peer>): boolean {
    return x.isInitiator !== y.isInitiator &&
      Math.abs(x.created - y.created) < this.#timers.rekeyTimeout;
  }

  /**
   * Makes room for a new current session. The peer may still send on the old one until it sees
   * the new one in use, so of the current and previous sessions the one that last carried the
   * peer's packets stays as previous and the other goes.
   */
  #retireCurrent(peer: Peer): void {
    const { current, previous } = peer;
    if (previous !== null && current !== null && previous.lastReceived > current.lastReceived) {
      this.#dropKeypair(current);
      return;
    }
    if (previous) this.#dropKeypair(previous);
    peer.previous = current;
  }

  #handshakeDone(peer: Peer, role: "initiator" | "responder"): void {
    peer.timers.handshakeComplete();
    peer.lastHandshakeUnixMs = this.#clock.wallNow();
    peer.counters.handshakes++;
    this.#emit({ type: "handshake-complete", peer: peer.publicKeyText, role });
  }

  #dropKeypair(kp: Keypair<Peer>): void {
    if (this.#indices.get(kp.localIndex)?.keypair === kp) this.#indices.delete(kp.localIndex);
    kp.destroy();
  }

  #forgetPeerState(peer: Peer): void {
    for (const kp of peer.keypairs()) this.#dropKeypair(kp);
    peer.current = peer.previous = peer.next = null;
    if (peer.handshake.localIndex !== ENTRY_NONE) {
      const e = this.#indices.get(peer.handshake.localIndex);
      if (e && !e.keypair) this.#indices.delete(peer.handshake.localIndex);
    }
    peer.handshake.clear();
    peer.staged = [];
    peer.timers.stopAll();
  }

  #newIndex(peer: Peer, keypair: Keypair<Peer> | null): number {
    // Four random bytes read little-endian, as wireguard-go draws its indices.
    const buf = new Uint8Array(4);
    for (;;) {
      this.#random(buf);
      const index = readU32(buf, 0);
      if (index !== ENTRY_NONE && !this.#indices.has(index)) {
        this.#indices.set(index, { peer, keypair });
        return index;
      }
    }
  }

  #emit(e: DeviceEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (err) {
        // A listener's failure must not break the packet path, nor go unnoticed.
        this.#internalError("listener", err);
      }
    }
  }

  /** Counts a failure that is ours, not the network's, and reports it. */
  #internalError(source: DeviceErrorSource, error: unknown): void {
    if (source === "crypto") this.drops.add("crypto-error");
    else this.#listenerErrors++;
    try {
      this.#onError?.(source, error);
    } catch {
      // The reporter itself failed: the count above still shows it.
    }
  }
}

const EMPTY = new Uint8Array(0);
