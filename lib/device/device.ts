/**
 * The device: peers, cryptokey routing, the handshake and transport paths and the timers, wired
 * between a packet device (TUN or userspace) and a transport (UDP, TCP). It never blocks, and its
 * transport path allocates nothing per packet: buffer views are made once per length or per
 * driver buffer and reused (lib/device/device_alloc_test.ts counts the garbage collections).
 * Whether the cipher allocates is the crypto backend's business: libsodium does not, node:crypto
 * and noble make objects per packet.
 * @module
 */

import type { Aead, Dh } from "../crypto/types.ts";
import type { ProtocolTimers } from "../protocol/constants.ts";
import type { Peer } from "../peer/peer.ts";
import {
  type DatagramSink,
  type Endpoint,
  isStreamEndpoint,
  type PacketSink,
} from "../io/driver.ts";
import type { DropCounters } from "./drops.ts";
import type { CryptoBatch } from "./crypto_batch.ts";
import type {
  DeviceEvent,
  DeviceOptions,
  DeviceStats,
  HeldPacketSink,
  PacketFilter,
  PeerConfig,
} from "./types.ts";
import { DeviceState } from "./state.ts";
import { sendInitiation } from "./initiate.ts";
import { forgetPeerState } from "./keys.ts";
import { setPrivateKey } from "./identity.ts";
import { parseKey } from "../crypto/keys.ts";
import {
  allowedIpsOf,
  removePeer,
  resetPeer,
  setKeepalive,
  setPeer,
  setPresharedKeys,
} from "./peers.ts";
import { AUTHENTIC, FORGED, onDatagram, onTransport } from "./receive.ts";
import { flushSends, onPlaintext, sendHeld, sendKeepalive } from "./send.ts";
import { heardOverUdp } from "./roaming.ts";
import { tick } from "./timers.ts";
import { lagging } from "./lag.ts";

export type {
  DeviceErrorSource,
  DeviceEvent,
  DeviceOptions,
  DeviceStats,
  HeldPacketSink,
  PacketFilter,
  PeerConfig,
} from "./types.ts";

/** errno.h EOPNOTSUPP, on the errors of changes the device's transport cannot make. */
const EOPNOTSUPP = 95;

/** An error for a change the transport cannot make, with `errno` EOPNOTSUPP (as `wg` shows it). */
function unsupported(message: string): Error & { errno: number } {
  return Object.assign(new Error(message), { errno: EOPNOTSUPP });
}

/**
 * A WireGuard device. See the module docs. A facade: the state is a DeviceState (state.ts), and
 * each concern is a module of functions over it (peers, send, receive, initiate, handshake,
 * admission, keys, roaming, timers, events).
 */
export class Device {
  /** Drop counters by reason. */
  readonly drops: DropCounters;
  readonly #s: DeviceState;
  #interval: ReturnType<typeof setInterval> | undefined;

  /** A device from its keys, transport and packet device; `start` sets it running. */
  constructor(opts: DeviceOptions) {
    const s = new DeviceState(opts);
    this.#s = s;
    this.drops = s.drops;
    s.batch?.attach({
      send: (wire, to, tos) => s.transport.send(wire, to, tos),
      deliver: (data, from, authentic) =>
        onTransport(s, data, from, authentic ? AUTHENTIC : FORGED),
      lost: (count) => s.drops.add("crypto-error", count),
    });
    s.filter?.attach?.(this.#held);
  }

  /** Where the filter sends the packets it held back (a rate limit's queue). */
  readonly #held: HeldPacketSink = {
    send: (pkt, tos) => sendHeld(this.#s, pkt, tos),
    flush: () => flushSends(this.#s),
  };

  /** Our static public key, base64; `""` while the device has no private key. */
  get publicKey(): string {
    return this.#s.publicKey;
  }

  /** Whether the device has a private key: without one it makes and answers no handshakes. */
  get hasPrivateKey(): boolean {
    return this.#s.hasKey;
  }

  /**
   * Sets our static private key (base64 or 32 bytes; null or all zeros: none), as
   * `wg set <if> private-key` does to wireguard-go: a peer with the new public key is removed,
   * every other peer's sessions and handshake are wiped (the next packet handshakes with the new
   * key) and peers with a persistent keepalive reach out at once. The same key again changes
   * nothing. Returns whether it changed.
   */
  setPrivateKey(key: string | Uint8Array | null): boolean {
    const bytes = typeof key === "string" ? parseKey(key, "private key") : key;
    return setPrivateKey(this.#s, bytes);
  }

  /**
   * Moves the underlay to local port `port` (0: any free one), as `wg set <if> listen-port`
   * does; throws, with the old port still in use, when the transport cannot move (only the Linux
   * UDP transport can; the error's `errno` is EOPNOTSUPP) or the port cannot be had (EADDRINUSE).
   */
  setListenPort(port: number): void {
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`invalid listen port ${port}`);
    }
    const t = this.#s.transport;
    if (t.rebind === undefined) {
      throw unsupported(`the ${t.name} transport cannot change its listen port`);
    }
    if (port !== 0 && port === t.port) return;
    t.rebind(port);
  }

  /**
   * Sets the firewall mark (SO_MARK) of the underlay's datagrams (0: none), as
   * `wg set <if> fwmark` does; throws when the transport has no marks (only the Linux UDP
   * transport does) or the kernel refuses it (CAP_NET_ADMIN).
   */
  setFwMark(mark: number): void {
    if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff) {
      throw new RangeError(`invalid fwmark ${mark}`);
    }
    const t = this.#s.transport;
    if (t.setFwMark === undefined) throw unsupported(`the ${t.name} transport has no fwmark`);
    t.setFwMark(mark);
  }

  /** Replaces the packet filter (null: everything passes). */
  setFilter(filter: PacketFilter | null): void {
    this.#s.filter = filter;
    filter?.attach?.(this.#held);
  }

  /** Sends a raw datagram on the underlay (for protocols sharing the port). */
  sendDatagram(data: Uint8Array, to: Endpoint): void {
    this.#s.transport.send(data, to);
    flushSends(this.#s);
  }

  /**
   * The connection to `ep`, a stream endpoint a peer was moved off (its route chose another
   * way), is closed when this side dialled it (see Transport.release); nothing for other
   * endpoints.
   */
  release(ep: Endpoint): void {
    if (isStreamEndpoint(ep)) this.#s.transport.release?.(ep);
  }

  /** Parses `ip:port` into the transport's endpoint. */
  endpoint(text: string): Endpoint {
    return this.#s.transport.endpoint(text);
  }

  /** The transport-data cipher backend in use. */
  get aeadName(): string {
    return this.#s.suite.aead.name;
  }

  /** The handshake key-agreement backend in use. */
  get dhName(): string {
    return this.#s.suite.dh.name;
  }

  /**
   * The handshake key-agreement implementation (for protocols that share the static key).
   * @ignore internal: the mesh's join and NAT probes prove the same key with it
   */
  get dhBackend(): Dh {
    return this.#s.suite.dh;
  }

  /**
   * The crypto batch (worker threads) sealing and opening transport messages, if any.
   * @ignore internal: the agent's crypto workers
   */
  get cryptoBatch(): CryptoBatch | null {
    return this.#s.batch;
  }

  /**
   * The AEAD implementation.
   * @ignore internal: the mesh's join server seals with the device's own
   */
  get aeadBackend(): Aead {
    return this.#s.suite.aead;
  }

  /** The MTU of the plaintext side. */
  get mtu(): number {
    return this.#s.packets.mtu;
  }

  /** The listen port of the transport. */
  get listenPort(): number {
    return this.#s.transport.port;
  }

  /**
   * A copy of our static private key (all zeros while there is none and once closed), for
   * `wg show`-style readers.
   */
  privateKeyBytes(): Uint8Array {
    return this.#s.local.privateKey.slice();
  }

  /** The protocol timers in force. */
  get timers(): Readonly<ProtocolTimers> {
    return this.#s.timers;
  }

  /** The device's own counters. */
  get stats(): DeviceStats {
    const s = this.#s;
    return {
      handshakesReceived: s.handshakesReceived,
      cookieRepliesSent: s.cookieRepliesSent,
      drops: s.drops.snapshot(),
      listenerErrors: s.listenerErrors,
    };
  }

  /** Starts the drivers and the timer tick. */
  start(): void {
    const s = this.#s;
    if (s.started) return;
    s.started = true;
    const packetSink: PacketSink = {
      packet: (data, room) => onPlaintext(s, data, room ?? 0),
      flush: () => flushSends(s),
    };
    const datagramSink: DatagramSink = {
      datagram: (data, from, waitedMs) => onDatagram(s, data, from, waitedMs),
      flush: () => {
        s.batch?.flushOpens();
        flushSends(s);
        s.packets.flush?.();
      },
    };
    s.packets.start(packetSink);
    s.transport.start(datagramSink);
    if (s.tickMs > 0) this.#interval = setInterval(() => tick(s), s.tickMs);
    // Peers with persistent keepalive reach out at once, as wg does on `up`.
    for (const peer of s.peers.values()) {
      if (peer.timers.persistentKeepaliveMs > 0) sendKeepalive(s, peer);
    }
    flushSends(s);
  }

  /** Stops the tick, wipes every session and closes both drivers. */
  async close(): Promise<void> {
    const s = this.#s;
    if (s.closed) return;
    s.closed = true;
    if (this.#interval !== undefined) clearInterval(this.#interval);
    for (const peer of s.peers.values()) forgetPeerState(s, peer);
    s.batch?.close();
    await Promise.allSettled([s.transport.close(), s.packets.close()]);
    s.local.privateKey.fill(0);
  }

  /**
   * Whether the device is behind: within the last second it read a datagram that had waited a
   * second or more in the socket's queue (lag.ts). What its peers sent since is still queued,
   * so silence it sees now is no evidence against them.
   */
  get lagging(): boolean {
    const s = this.#s;
    return lagging(s, s.clock.now());
  }

  /**
   * How long the datagram read last waited in the socket's receive queue, ms (0: not known, as
   * on TCP): about what a message handled now, from the batch read last, had waited before the
   * device saw it (the batch's newest datagram: its shortest wait, not an overestimate).
   */
  get readWaitMs(): number {
    return this.#s.lastWaitMs;
  }

  /** Subscribes to peer events; returns the unsubscribe function. */
  onEvent(listener: (e: DeviceEvent) => void): () => void {
    const listeners = this.#s.listeners;
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /**
   * Calls `fn` with a peer's key each time the peer is set (added or changed) or removed;
   * returns the unsubscribe function.
   * @ignore internal: the agent's health follows the peers by it
   */
  onPeerChanged(fn: (publicKey: string) => void): () => void {
    const watchers = this.#s.peerWatchers;
    watchers.add(fn);
    return () => watchers.delete(fn);
  }

  /**
   * Adds a peer, or updates the one with the same public key (an update without a preshared
   * key keeps the ones held, with their tags). Returns its base64 key.
   */
  setPeer(cfg: PeerConfig): string {
    return setPeer(this.#s, cfg);
  }

  /** Sets a peer's persistent keepalive (seconds, 0: off) only; false when there is no such peer. */
  setKeepalive(publicKey: string, seconds: number): boolean {
    return setKeepalive(this.#s, publicKey, seconds);
  }

  /** Peers whose timers run now (a session, a handshake or a keepalive): the rest are idle. */
  get livePeerCount(): number {
    return this.#s.live.size;
  }

  /**
   * Wipes a peer's sessions and handshake, keeping the peer (it stopped and lost them): the next
   * packet to it starts a fresh handshake. False when there is no such peer.
   */
  resetPeer(publicKey: string): boolean {
    return resetPeer(this.#s, publicKey);
  }

  /** Removes a peer and wipes its sessions; false when there was no such peer. */
  removePeer(publicKey: string): boolean {
    return removePeer(this.#s, publicKey);
  }

  /**
   * The peer with this base64 public key.
   * @ignore internal: peers are the device's own objects
   */
  peer(publicKey: string): Peer | undefined {
    return this.#s.peers.get(publicKey);
  }

  /** How many peers there are. */
  get peerCount(): number {
    return this.#s.peers.size;
  }

  /**
   * Every peer.
   * @ignore internal: peers are the device's own objects
   */
  peers(): Peer[] {
    return [...this.#s.peers.values()];
  }

  /**
   * The prefixes routed to a peer.
   * @ignore internal: peers are the device's own objects
   */
  allowedIpsOf(peer: Peer): string[] {
    return allowedIpsOf(this.#s, peer);
  }

  /**
   * The peer an address (4 or 16 bytes) is routed to: the longest of the allowed IPs holding it,
   * as a packet to it would go; undefined when no peer's do.
   * @ignore internal: peers are the device's own objects
   */
  peerFor(address: Uint8Array): Peer | undefined {
    return this.#s.routes.lookup(address, 0, address.length === 4 ? 4 : 6);
  }

  /** Starts a handshake with a peer now (as `wg` does when a packet is queued). */
  initiateHandshake(publicKey: string): void {
    const peer = this.#known(publicKey);
    sendInitiation(this.#s, peer, false);
    flushSends(this.#s);
  }

  /**
   * Starts a handshake now even if one went out less than REKEY_TIMEOUT ago: for a peer whose
   * endpoint was just moved to a path that answers, when the last initiation went where nothing
   * listens and waiting for its retransmission would cost up to 5 s. Callers limit how often.
   */
  initiateHandshakeNow(publicKey: string): void {
    const peer = this.#known(publicKey);
    peer.lastInitiationSent = -Infinity;
    sendInitiation(this.#s, peer, false);
    flushSends(this.#s);
  }

  /**
   * The caller moved a peer back onto a UDP path its authenticated pong came from (a route that
   * leaves a stream or a relay): its packets still coming over the stream do not move it back for
   * a while (lib/device/roaming.ts `heardOverUdp`), and a keepalive goes now (a handshake when
   * no session is usable), so the peer's roaming brings its own sending to UDP too rather than
   * its next packet on the stream bringing ours back there.
   */
  backOnUdp(publicKey: string): void {
    const s = this.#s;
    const peer = this.#known(publicKey);
    heardOverUdp(peer, s.clock.now());
    sendKeepalive(s, peer);
    flushSends(s);
  }

  /**
   * Sets the preshared keys of a peer's next handshakes, with the caller's tags for them (a
   * session made with a key carries its tag: Keypair.presharedKeyTag; 0 means untagged): as
   * responder and first as initiator `current`, then `alternate` (null: none) when a response
   * does not open under `current` (a switch of keys in flight). The sessions held stay. The
   * keys are copied. False when there is no such peer.
   */
  setPresharedKeys(
    publicKey: string,
    current: { key: Uint8Array; tag: number },
    alternate: { key: Uint8Array; tag: number } | null,
  ): boolean {
    const peer = this.#s.peers.get(publicKey);
    if (!peer) return false;
    setPresharedKeys(peer, current, alternate);
    return true;
  }

  /**
   * Makes data to and from a peer pass only on sessions made with a tagged preshared key (on),
   * or on any (off); UDP datagrams to `exemptPorts` (device-wide: the last list given) pass
   * either way. The rest is dropped as `pq-required`. False when there is no such peer.
   */
  requireTaggedSessions(publicKey: string, on: boolean, exemptPorts: readonly number[]): boolean {
    const peer = this.#s.peers.get(publicKey);
    if (!peer) return false;
    this.#s.exemptPorts = exemptPorts.slice();
    peer.requireTagged = on;
    return true;
  }

  /** Fires whatever timers are due. Called every `tickMs`, or by tests. */
  tick(): void {
    tick(this.#s);
  }

  /** The peer with this base64 public key; throws when there is none. */
  #known(publicKey: string): Peer {
    const peer = this.#s.peers.get(publicKey);
    if (!peer) throw new Error(`no peer ${publicKey}`);
    return peer;
  }
}
