/**
 * Sessions: the keypairs a handshake derives installed under their index, rotated through each
 * peer's next, current and previous slots (with crossed handshakes settled the same way on both
 * sides), confirmed, dropped and wiped; and the session indices drawn for handshakes.
 * @module
 */

import type { AeadKey } from "../crypto/types.ts";
import { readU32 } from "../protocol/bytes.ts";
import type { SessionKeys } from "../protocol/noise.ts";
import { Keypair } from "../peer/keypair.ts";
import type { Peer } from "../peer/peer.ts";
import { emit } from "./events.ts";
import { type DeviceState, ENTRY_NONE } from "./state.ts";

/** A fresh random index for `peer`'s handshake or session, entered in the index table. */
export function newIndex(s: DeviceState, peer: Peer, keypair: Keypair<Peer> | null): number {
  // Four random bytes read little-endian, as wireguard-go draws its indices.
  const buf = new Uint8Array(4);
  for (;;) {
    s.random(buf);
    const index = readU32(buf, 0);
    if (index !== ENTRY_NONE && !s.indices.has(index)) {
      s.indices.set(index, { peer, keypair });
      return index;
    }
  }
}

/** Keys a handshake's session and puts it in `peer`'s slots; the raw keys are wiped. */
export function installKeys(s: DeviceState, peer: Peer, keys: SessionKeys, now: number): void {
  const aead = s.suite.aead;
  const batch = s.batch;
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
  kp.presharedKeyTag = keys.presharedKeyTag;
  s.indices.set(kp.localIndex, { peer, keypair: kp });
  if (keys.isInitiator) rotateInitiated(s, peer, kp);
  else {
    if (peer.next) dropKeypair(s, peer.next);
    peer.next = kp;
  }
  peer.timers.sessionDerived(now);
  s.live.add(peer);
}

/**
 * Our initiation completed: `kp` becomes the session we send on, unless the peer's unconfirmed
 * one wins.
 */
function rotateInitiated(s: DeviceState, peer: Peer, kp: Keypair<Peer>): void {
  const next = peer.next;
  // The peer started a handshake at about the same time: both sides hold both sessions, and
  // when the peer's wins (Peer.winsCrossing) both settle on it.
  if (peer.winsCrossing && next !== null && crossing(s, kp, next)) {
    // Not confirmed yet: ours carries traffic until the peer uses its own, which then takes
    // over in confirmNext.
    retireCurrent(s, peer);
    peer.current = kp;
    return;
  }
  // A current session the peer started that wins a crossing with ours is not kept over ours
  // here: the peer answered ours just now, so it holds ours, but it may have restarted since it
  // made its own. Ours carries traffic; the peer's stays receivable as the previous session, and
  // the peer's next packet on it (a genuine crossing) moves us back to it in onTransport.
  if (next !== null) {
    // The peer started `next` and sends on it once our answer reaches it.
    if (peer.previous) dropKeypair(s, peer.previous);
    if (peer.current) dropKeypair(s, peer.current);
    peer.previous = next;
    peer.next = null;
  } else {
    retireCurrent(s, peer);
  }
  peer.current = kp;
}

/**
 * True when `x` and `y` crossed (see crossing) and `x` is the winner: the one started by the
 * larger static key, ours when we win (the peer does not), the peer's when it does.
 */
export function winsOver(s: DeviceState, x: Keypair<Peer>, y: Keypair<Peer>): boolean {
  return x.isInitiator !== x.peer.winsCrossing && crossing(s, x, y);
}

/**
 * True when two sessions crossed: one started by each side, derived within a rekey timeout of
 * each other. Both sides see the same pair this way (the window dwarfs the network delay
 * between their clocks' readings), so both apply Peer.winsCrossing to the same two sessions.
 */
function crossing(s: DeviceState, x: Keypair<Peer>, y: Keypair<Peer>): boolean {
  return x.isInitiator !== y.isInitiator &&
    Math.abs(x.created - y.created) < s.timers.rekeyTimeout;
}

/**
 * Makes room for a new current session. The peer may still send on the old one until it sees
 * the new one in use, so of the current and previous sessions the one that last carried the
 * peer's packets stays as previous and the other goes.
 */
function retireCurrent(s: DeviceState, peer: Peer): void {
  const { current, previous } = peer;
  if (previous !== null && current !== null && previous.lastReceived > current.lastReceived) {
    dropKeypair(s, current);
    return;
  }
  if (previous) dropKeypair(s, previous);
  peer.previous = current;
}

/**
 * The peer used the session it started: it becomes the one we send on (true: what waited for a
 * session may go now), or the previous one when our crossing session wins (false).
 */
export function confirmNext(s: DeviceState, peer: Peer): boolean {
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
  // moves us back to it in onTransport, so both still settle on the same one.
  if (current !== null && winsOver(s, current, next) && current.lastReceived >= next.created) {
    if (peer.previous) dropKeypair(s, peer.previous);
    peer.previous = next;
    peer.next = null;
    return false;
  }
  if (peer.previous) dropKeypair(s, peer.previous);
  peer.previous = current;
  peer.current = next;
  peer.next = null;
  handshakeDone(s, peer, "responder");
  return true;
}

/**
 * The peer sent on `previous`, the winning half of a crossing whose other half we send on: it
 * holds both (a restarted peer cannot send on a session made before its restart; only a packet
 * sent before it, held up in the network past the restart and the new handshake, could look
 * so), so we move to the winner, where the peer sends too. Only ever toward the winner, so the
 * two sides cannot chase each other.
 */
export function takeWinner(peer: Peer): void {
  const winner = peer.previous!;
  peer.previous = peer.current;
  peer.current = winner;
}

/** A handshake completed: the timers, the figures and the event. */
export function handshakeDone(
  s: DeviceState,
  peer: Peer,
  role: "initiator" | "responder",
): void {
  peer.timers.handshakeComplete();
  peer.lastHandshakeUnixMs = s.clock.wallNow();
  peer.counters.handshakes++;
  emit(s, { type: "handshake-complete", peer: peer.publicKeyText, role });
}

/** Wipes a session and frees its index (unless a newer entry took it). */
export function dropKeypair(s: DeviceState, kp: Keypair<Peer>): void {
  if (s.indices.get(kp.localIndex)?.keypair === kp) s.indices.delete(kp.localIndex);
  kp.destroy();
}

/** Wipes every session and the handshake of `peer`, drops what waited and stops its timers. */
export function forgetPeerState(s: DeviceState, peer: Peer): void {
  for (const kp of peer.keypairs()) dropKeypair(s, kp);
  peer.current = peer.previous = peer.next = null;
  if (peer.handshake.localIndex !== ENTRY_NONE) {
    const e = s.indices.get(peer.handshake.localIndex);
    if (e && !e.keypair) s.indices.delete(peer.handshake.localIndex);
  }
  peer.handshake.clear();
  peer.staged = [];
  peer.timers.stopAll();
  s.live.delete(peer);
}
