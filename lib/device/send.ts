/**
 * The send path: plaintext packets from the host routed to their peer (cryptokey routing),
 * filtered, sealed on the current session and handed to the transport, or staged until a session
 * exists; keepalives; the rekey a send triggers. Allocation-free per packet: the message is built
 * in a slot the transport lends, or in the device's one buffer (see send's docs).
 * @module
 */

import {
  MSG_TRANSPORT,
  PADDING,
  REJECT_AFTER_MESSAGES,
  TAG_SIZE,
  TRANSPORT_HEADER_SIZE,
} from "../protocol/constants.ts";
import { writeCounter, writeU32 } from "../protocol/bytes.ts";
import type { Keypair } from "../peer/keypair.ts";
import type { Peer } from "../peer/peer.ts";
import { internalError } from "./events.ts";
import { sendInitiation } from "./initiate.ts";
import { type DeviceState, MAX_PACKET } from "./state.ts";

/** The plaintext of a keepalive. */
export const EMPTY: Uint8Array = new Uint8Array(0);

/** Sends what waits: messages the crypto batch has to seal first, then the transport's queue. */
export function flushSends(s: DeviceState): void {
  s.batch?.flushSeals();
  s.transport.flush();
}

/** A packet from the host; `room` bytes after it may be overwritten (PacketSink.packet). */
export function onPlaintext(s: DeviceState, pkt: Uint8Array, room: number): void {
  const peer = s.routes.lookupDst(pkt);
  if (!peer) {
    // The host's own chatter to a group (IPv6 router solicitations and MLD reports on a new
    // interface, IPv4 multicast and broadcast) is no packet for a peer: counted apart, so
    // no-route says what it means (a unicast destination no peer's allowed IPs hold).
    s.drops.add(toGroup(pkt) ? "multicast" : "no-route");
    return;
  }
  if (pkt.length > MAX_PACKET) {
    s.drops.add("oversize");
    return;
  }
  if (peer.requireTagged && heldBack(s, peer.current, pkt)) {
    s.drops.add("pq-required");
    // No session at all: one is made for the exempt traffic that waits for it.
    if (peer.current === null) sendInitiation(s, peer, false);
    return;
  }
  let tos = 0;
  const filter = s.filter;
  if (filter !== null) {
    if (!filter.outbound(pkt)) {
      // Held back by a rate limit (sent later through sendHeld) is not a drop.
      if (filter.held?.() !== true) s.drops.add("policy");
      return;
    }
    if (filter.tos !== undefined) tos = filter.tos();
  }
  if (!sendTransport(s, peer, pkt, room, tos)) {
    stage(s, peer, pkt.slice());
    sendInitiation(s, peer, false);
  }
}

/**
 * Whether a packet of a peer that requires tagged sessions is held back: `kp` (the session it
 * goes or came on) is none or untagged, and the packet is no UDP datagram to an exempt port.
 * Reads the header in place: no allocation.
 */
export function heldBack(
  s: DeviceState,
  kp: Keypair<Peer> | null,
  pkt: Uint8Array,
): boolean {
  if (kp !== null && kp.presharedKeyTag !== 0) return false;
  const v = pkt.length > 0 ? pkt[0] >> 4 : 0;
  let at = -1;
  if (v === 4 && pkt.length >= 20 && pkt[9] === 17) at = (pkt[0] & 0x0f) * 4 + 2;
  else if (v === 6 && pkt.length >= 48 && pkt[6] === 17) at = 42;
  if (at < 0 || at + 2 > pkt.length) return true;
  const port = (pkt[at] << 8) | pkt[at + 1];
  const exempt = s.exemptPorts;
  for (let i = 0; i < exempt.length; i++) if (exempt[i] === port) return false;
  return true;
}

/** Whether an IP packet's destination is a multicast group or the IPv4 limited broadcast. */
export function toGroup(pkt: Uint8Array): boolean {
  const v = pkt.length > 0 ? pkt[0] >> 4 : 0;
  if (v === 4 && pkt.length >= 20) {
    return (pkt[16] & 0xf0) === 0xe0 ||
      (pkt[16] === 255 && pkt[17] === 255 && pkt[18] === 255 && pkt[19] === 255);
  }
  return v === 6 && pkt.length >= 40 && pkt[24] === 0xff;
}

/**
 * A packet the filter held back and now lets go (PacketFilter.attach): routed and sent as
 * `onPlaintext` would, without the filter, marked `tos`; `flushSends` after a run of them.
 */
export function sendHeld(s: DeviceState, pkt: Uint8Array, tos: number): void {
  const peer = s.routes.lookupDst(pkt);
  if (!peer) {
    s.drops.add("no-route");
    return;
  }
  if (peer.requireTagged && heldBack(s, peer.current, pkt)) {
    s.drops.add("pq-required");
    return;
  }
  if (!sendTransport(s, peer, pkt, 0, tos)) {
    stage(s, peer, pkt.slice());
    sendInitiation(s, peer, false);
  }
}

/** Keeps a copy of a packet until `peer` has a session, the oldest dropped past the bound. */
function stage(s: DeviceState, peer: Peer, copy: Uint8Array): void {
  if (peer.staged.length >= s.maxStaged) {
    peer.staged.shift();
    s.drops.add("staged-overflow");
  }
  peer.staged.push(copy);
}

/** Sends what waited for a session; a handshake if some still waits. */
export function sendStaged(s: DeviceState, peer: Peer): void {
  while (peer.staged.length > 0) {
    if (!sendTransport(s, peer, peer.staged[0], 0)) break;
    peer.staged.shift();
  }
  if (peer.staged.length > 0) sendInitiation(s, peer, false);
}

/** Whether `kp` may still carry packets we send at `now`. */
function usable(s: DeviceState, kp: Keypair<Peer> | null, now: number): kp is Keypair<Peer> {
  return kp !== null && now - kp.created < s.timers.rejectAfterTime &&
    kp.sendCounter < REJECT_AFTER_MESSAGES;
}

/**
 * Encrypts and sends `pkt` (empty: a keepalive) on the current session, its datagram marked
 * `tos` (a policy's traffic class; 0: unmarked); false if none. When the
 * transport lends a slot of its send queue (Transport.reserve), the message is built there: the
 * plaintext is sealed straight from where the driver read it, padded in place when `room` bytes
 * after it may be overwritten (else copied into the slot once). Otherwise it is built in `s.out`
 * and copied by `send`.
 */
export function sendTransport(
  s: DeviceState,
  peer: Peer,
  pkt: Uint8Array,
  room: number,
  tos = 0,
): boolean {
  s.packetClock.update();
  const now = s.packetClock.time[0];
  const kp = peer.current;
  const ep = peer.endpoint;
  if (!usable(s, kp, now) || ep === null) return false;
  const counter = kp.sendCounter++;
  const len = pkt.length;
  let padded = (len + PADDING - 1) & ~(PADDING - 1);
  const mtu = s.packets.mtu;
  if (padded > mtu) padded = len > mtu ? len : mtu;
  const total = TRANSPORT_HEADER_SIZE + padded + TAG_SIZE;
  if (s.batch?.seal(kp.send, kp.remoteIndex, counter, pkt, padded, ep, tos)) {
    // Sealed and sent with the rest of the batch, at the next flushSends (copied from the
    // pool's shared buffer by `send`: these messages do not use the transport's slots).
    countSent(s, peer, kp, counter, len, total);
    return true;
  }
  const transport = s.transport;
  const slot = transport.reserve === undefined ? null : transport.reserve(total, ep);
  const out = slot ?? s.out;
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
      const views = s.outViews.get(padded);
      kp.send.seal(counter, views.plain, views.sealed);
      wire = views.wire;
    } else {
      const lent = s.lent;
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
    internalError(s, "crypto", e);
    return true; // the packet is lost, not waiting: staging it would only fail again
  }
  if (wire !== null) transport.send(wire, ep, tos);
  else transport.commit!(total, ep, tos);
  countSent(s, peer, kp, counter, len, total);
  return true;
}

/**
 * The counters and timers of a transport message sent (or queued to be), and the rekey. The
 * time is read from `s.packetClock` here, not passed in: a double passed to a call is a heap number.
 */
function countSent(
  s: DeviceState,
  peer: Peer,
  kp: Keypair<Peer>,
  counter: number,
  len: number,
  total: number,
): void {
  const now = s.packetClock.time[0];
  peer.counters.txBytes += total;
  peer.counters.txPackets++;
  peer.timers.anyAuthenticatedPacketSent();
  peer.timers.anyAuthenticatedPacketTraversal(now);
  if (len > 0) {
    peer.counters.txData++;
    peer.timers.dataSent(now);
  }
  if (
    kp.isInitiator && (counter >= s.timers.rekeyAfterMessages ||
      now - kp.created >= s.timers.rekeyAfterTime)
  ) {
    sendInitiation(s, peer, false);
  }
}

/** A keepalive, or what waited if anything did; a handshake when there is no session. */
export function sendKeepalive(s: DeviceState, peer: Peer): void {
  if (peer.staged.length === 0 && sendTransport(s, peer, EMPTY, 0)) return;
  sendStaged(s, peer);
  if (peer.staged.length === 0 && !usable(s, peer.current, s.clock.now())) {
    sendInitiation(s, peer, false);
  }
}
