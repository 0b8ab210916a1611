/**
 * The peer table: peers added or updated from their configuration (keys, endpoint, allowed IPs,
 * keepalive), removed with their sessions wiped, and the prefixes routed to each.
 * @module
 */

import { encodeKey, equalBytes, parseKey } from "../crypto/keys.ts";
import { noPresharedKey } from "../protocol/noise.ts";
import { Cidr } from "../net/cidr.ts";
import { Peer } from "../peer/peer.ts";
import { forgetPeerState } from "./keys.ts";
import { flushSends, sendKeepalive } from "./send.ts";
import { internalError } from "./events.ts";
import type { DeviceState } from "./state.ts";
import type { PeerConfig } from "./types.ts";

/** Adds a peer, or updates the one with the same public key. Returns its base64 key. */
export function setPeer(s: DeviceState, cfg: PeerConfig): string {
  const pub = typeof cfg.publicKey === "string"
    ? parseKey(cfg.publicKey, "peer public key")
    : cfg.publicKey.slice();
  const key = encodeKey(pub);
  if (key === s.publicKey) throw new Error("a peer cannot have the device's own public key");
  const psk = cfg.presharedKey === undefined
    ? null
    : typeof cfg.presharedKey === "string"
    ? parseKey(cfg.presharedKey, "preshared key")
    : cfg.presharedKey.slice();
  const keepalive = cfg.persistentKeepalive ?? 0;
  if (!Number.isInteger(keepalive) || keepalive < 0 || keepalive > 65535) {
    throw new RangeError(`persistent keepalive must be 0..65535 seconds, got ${keepalive}`);
  }
  const endpoint = cfg.endpoint ? s.transport.endpoint(cfg.endpoint) : null;
  // Validate every prefix before changing anything, so a bad one leaves the peer as it was.
  const prefixes = cfg.allowedIps ?? [];
  const cidrs = prefixes.map((p) => Cidr.parse(p));

  let peer = s.peers.get(key);
  if (!peer) {
    peer = new Peer(pub, psk ?? noPresharedKey(), s.local, s.timers, keepalive);
    s.peers.set(key, peer);
  } else {
    // No key given keeps the one held (a mesh's view changes the peer's routes, not its key);
    // the same key given (the UAPI repeats the one held) keeps its tags; another replaces both.
    const hs = peer.handshake;
    if (psk !== null && !equalBytes(psk, hs.presharedKey)) {
      setPresharedKeys(peer, { key: psk, tag: 0 }, null);
    }
    peer.timers.persistentKeepaliveMs = keepalive * 1000;
  }
  if (endpoint) {
    peer.endpoint = endpoint;
    // A configured place is the user's: no failed UDP endpoint held against it (roaming.ts).
    peer.failedUdp = null;
  }
  s.routes.removeByValue(peer);
  // A prefix another peer held moves to this one: that peer changed too (its watchers, e.g. a
  // prober at that address, must hear it).
  let losers: Set<Peer> | null = null;
  for (const c of cidrs) {
    const was = s.routes.get(c);
    if (was !== undefined && was !== peer) (losers ??= new Set()).add(was);
    s.routes.insert(c, peer);
  }
  if (keepalive > 0) s.live.add(peer);
  if (s.started && keepalive > 0) {
    sendKeepalive(s, peer);
    flushSends(s);
  }
  peerChanged(s, key);
  if (losers) { for (const l of losers) peerChanged(s, l.publicKeyText); }
  return key;
}

/** Tells the peer watchers of a peer set or removed (a throwing one is counted, as listeners). */
function peerChanged(s: DeviceState, key: string): void {
  for (const w of s.peerWatchers) {
    try {
      w(key);
    } catch (err) {
      internalError(s, "listener", err);
    }
  }
}

/**
 * Sets a peer's persistent keepalive (seconds, 0: off) and nothing else; on, the first one goes
 * at the next tick. False when there is no such peer.
 */
export function setKeepalive(s: DeviceState, publicKey: string, seconds: number): boolean {
  const peer = s.peers.get(publicKey);
  if (!peer) return false;
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 65535) {
    throw new RangeError(`persistent keepalive must be 0..65535 seconds, got ${seconds}`);
  }
  const ms = seconds * 1000;
  if (peer.timers.persistentKeepaliveMs === ms) return true;
  peer.timers.persistentKeepaliveMs = ms;
  if (ms === 0) peer.timers.persistentKeepalive = 0;
  else {
    peer.timers.persistentKeepalive = s.clock.now();
    s.live.add(peer);
  }
  return true;
}

/**
 * Wipes a peer's sessions and handshake but keeps the peer: it is known to have lost them (it
 * stopped), so the next packet starts a fresh handshake instead of going on keys nobody holds.
 * A persistent keepalive stays on (its next one starts that handshake). False: no such peer.
 */
export function resetPeer(s: DeviceState, publicKey: string): boolean {
  const peer = s.peers.get(publicKey);
  if (!peer) return false;
  forgetPeerState(s, peer);
  // Its next packet handshakes at once, however recent the last initiation (for the old keys).
  peer.lastInitiationSent = -Infinity;
  if (peer.timers.persistentKeepaliveMs > 0) {
    peer.timers.persistentKeepalive = s.clock.now() + peer.timers.persistentKeepaliveMs;
    s.live.add(peer);
  }
  return true;
}

/**
 * Installs a peer's preshared keys (copies; the ones replaced are wiped unless the caller's
 * or the shared zero key). See Device.setPresharedKeys.
 */
export function setPresharedKeys(
  peer: Peer,
  current: { key: Uint8Array; tag: number },
  alternate: { key: Uint8Array; tag: number } | null,
): void {
  if (current.key.length !== 32 || (alternate && alternate.key.length !== 32)) {
    throw new RangeError("a preshared key has 32 bytes");
  }
  const hs = peer.handshake;
  const old = [hs.presharedKey, hs.alternatePresharedKey];
  hs.presharedKey = current.key.slice();
  hs.presharedKeyTag = current.tag;
  hs.alternatePresharedKey = alternate ? alternate.key.slice() : null;
  hs.alternatePresharedKeyTag = alternate ? alternate.tag : 0;
  for (const k of old) k?.fill(0);
}

/** Removes a peer and wipes its sessions; false when there was no such peer. */
export function removePeer(s: DeviceState, publicKey: string): boolean {
  const peer = s.peers.get(publicKey);
  if (!peer) return false;
  forgetPeerState(s, peer);
  s.routes.removeByValue(peer);
  s.peers.delete(publicKey);
  peerChanged(s, publicKey);
  return true;
}

/** The prefixes routed to a peer. */
export function allowedIpsOf(s: DeviceState, peer: Peer): string[] {
  return s.routes.texts(peer);
}
