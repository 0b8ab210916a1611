/**
 * Handshakes we start: an initiation sent (at most one per REKEY_TIMEOUT unless retried), its
 * retransmissions, and giving up after the last one, as wireguard-go's timers do.
 * @module
 */

import { INITIATION_SIZE } from "../protocol/constants.ts";
import { createInitiation } from "../protocol/noise.ts";
import type { Peer } from "../peer/peer.ts";
import { emit } from "./events.ts";
import { newIndex } from "./keys.ts";
import { lagging } from "./lag.ts";
import { type DeviceState, ENTRY_NONE } from "./state.ts";

/**
 * Sends `peer` an initiation, unless one went out less than REKEY_TIMEOUT ago (`isRetry`: a
 * retransmission, sent regardless) or it has no endpoint; past the device's pace
 * (initiation_pace.ts), while others wait for it, or while the device is behind (lag.ts), it waits
 * its turn (sent by the tick).
 * `quiet`: asked for only because the peer went quiet (the new-handshake timer): a waiting one is
 * not sent once the peer is heard from.
 */
export function sendInitiation(s: DeviceState, peer: Peer, isRetry: boolean, quiet = false): void {
  const now = s.clock.now();
  if (!isRetry && now - peer.lastInitiationSent < s.timers.rekeyTimeout) return;
  if (peer.endpoint === null || !s.hasKey) return;
  const pace = s.pace;
  // Waiting already: its turn comes (a send to a peer without a session asks for every packet).
  if (pace.waiting.size > 0 && pace.waiting.has(peer)) {
    pace.defer(peer, isRetry, quiet);
    return;
  }
  if (pace.waiting.size > 0 || lagging(s, now) || !pace.take(now)) {
    pace.defer(peer, isRetry, quiet);
    return;
  }
  initiateNow(s, peer, isRetry, now);
}

/**
 * Sends the initiations that waited for the pace, oldest first, as far as the budget goes: not
 * those of a peer removed meanwhile, nor of one that completed a handshake since it began to
 * wait (its own, say: a session it holds is what the initiation was for), nor of one asked for
 * only because the peer went quiet that was heard from since (its session works).
 */
export function sendWaitingInitiations(s: DeviceState): void {
  const pace = s.pace;
  if (pace.waiting.size === 0) return;
  const now = s.clock.now();
  // Behind, the responses and packets that would make them unneeded may be in our own queue.
  if (lagging(s, now)) return;
  for (const [peer, w] of pace.waiting) {
    if (
      s.peers.get(peer.publicKeyText) !== peer || peer.counters.handshakes !== w.handshakes ||
      peer.endpoint === null || !s.hasKey ||
      (w.quietRx >= 0 && !w.retry && peer.counters.rxPackets !== w.quietRx)
    ) {
      pace.waiting.delete(peer);
      continue;
    }
    if (!pace.take(now)) return;
    pace.waiting.delete(peer);
    initiateNow(s, peer, w.retry, now);
  }
}

/** Sends `peer` an initiation now (its checks and the pace are the caller's). */
function initiateNow(s: DeviceState, peer: Peer, isRetry: boolean, now: number): void {
  const endpoint = peer.endpoint;
  if (endpoint === null) return;
  if (!isRetry) peer.timers.handshakeAttempts = 0;
  s.live.add(peer);
  // A first initiation (not a retry) tells whoever listens that a session is wanted: a mesh
  // starts its path probes (and a call-me) for a cold peer on it. Once per REKEY_TIMEOUT at most.
  if (!isRetry) emit(s, { type: "handshake-initiated", peer: peer.publicKeyText });
  peer.lastInitiationSent = now;
  if (peer.handshake.localIndex !== ENTRY_NONE) {
    s.indices.delete(peer.handshake.localIndex);
  }
  const index = newIndex(s, peer, null);
  const msg = s.hsOut.subarray(0, INITIATION_SIZE);
  try {
    createInitiation(s.local, peer.handshake, index, s.clock.wallNow(), msg);
  } catch {
    // Only a low-order peer key makes the DH fail: no handshake is possible with it.
    s.indices.delete(index);
    peer.handshake.clear();
    s.drops.add("handshake-invalid");
    return;
  }
  peer.cookies.addMacs(msg, now);
  s.transport.send(msg, endpoint);
  peer.counters.initiationsSent++;
  peer.timers.anyAuthenticatedPacketTraversal(now);
  peer.timers.anyAuthenticatedPacketSent();
  peer.timers.handshakeInitiated(now);
}

/**
 * The retransmit timer fired: another initiation, or after the last attempt, the give-up (what
 * waited is dropped and the keys are wiped later).
 */
export function onRetransmit(s: DeviceState, peer: Peer): void {
  if (peer.timers.handshakeAttempts >= peer.timers.maxAttempts) {
    emit(s, {
      type: "handshake-give-up",
      peer: peer.publicKeyText,
      attempts: peer.timers.handshakeAttempts + 1,
    });
    peer.timers.sendKeepalive = 0;
    if (peer.staged.length) s.drops.add("handshake-timeout", peer.staged.length);
    peer.staged = [];
    if (peer.timers.zeroKeyMaterial === 0) {
      peer.timers.zeroKeyMaterial = s.clock.now() + s.timers.rejectAfterTime * 3;
    }
    return;
  }
  peer.timers.handshakeAttempts++;
  sendInitiation(s, peer, true);
}
