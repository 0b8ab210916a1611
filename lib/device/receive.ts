/**
 * The receive path: underlay datagrams sorted by message type, and transport messages checked
 * (index, counter, session age), opened, replay-checked, used to confirm and settle sessions, to
 * roam and to start the last-minute rekey, then their plaintext source-checked against the
 * peer's allowed IPs, filtered and written to the host. Allocation-free per packet: the
 * plaintext is opened into a slot the packet device lends, or in place.
 * @module
 */

import {
  MSG_COOKIE_REPLY,
  MSG_INITIATION,
  MSG_RESPONSE,
  MSG_TRANSPORT,
  REJECT_AFTER_MESSAGES,
  TRANSPORT_MIN_SIZE,
} from "../protocol/constants.ts";
import { readCounter, readU32 } from "../protocol/bytes.ts";
import { messageType } from "../protocol/messages.ts";
import type { Endpoint } from "../io/driver.ts";
import type { Peer } from "../peer/peer.ts";
import { internalError } from "./events.ts";
import { onCookieReply, onInitiation, onResponse } from "./handshake.ts";
import { sendInitiation } from "./initiate.ts";
import { confirmNext, takeWinner, winsOver } from "./keys.ts";
import { heldOff, roam } from "./roaming.ts";
import { lateInitiation, noteWait } from "./lag.ts";
import { heldBack, sendStaged } from "./send.ts";
import type { DeviceState } from "./state.ts";

/** onTransport's `opened`: not opened yet, or opened by the crypto batch and authentic or not. */
export const NOT_OPENED = 0;
/** Opened by the crypto batch, and authentic. */
export const AUTHENTIC = 1;
/** Opened by the crypto batch, and forged. */
export const FORGED = 2;

/**
 * A datagram from the underlay (DatagramSink.datagram), which waited `waitedMs` in the receive
 * queue (0: not known): an initiation past answering is shed before any MAC or DH (lag.ts).
 */
export function onDatagram(
  s: DeviceState,
  data: Uint8Array,
  from: Endpoint,
  waitedMs: number = 0,
): void {
  s.lastWaitMs = waitedMs;
  if (waitedMs > 0) noteWait(s, waitedMs);
  const type = messageType(data);
  // A handshake message may change the sessions: the transport messages before it are
  // handled first, as they would have been inline.
  if (type !== MSG_TRANSPORT) s.batch?.flushOpens();
  switch (type) {
    case MSG_TRANSPORT:
      onTransport(s, data, from, NOT_OPENED);
      return;
    case MSG_INITIATION:
      if (lateInitiation(s, waitedMs)) s.drops.add("late-initiation");
      else onInitiation(s, data, from);
      return;
    case MSG_RESPONSE:
      onResponse(s, data, from);
      return;
    case MSG_COOKIE_REPLY:
      onCookieReply(s, data);
      return;
    default:
      if (s.onForeign && data.length >= 4) s.onForeign(data, from, waitedMs);
      else s.drops.add("unknown-type");
  }
}

/**
 * A transport message; `opened` says whether the crypto batch has opened it already (then the
 * checks before decryption run again, cheaply, and decryption is skipped).
 */
export function onTransport(
  s: DeviceState,
  data: Uint8Array,
  from: Endpoint,
  opened: number,
): void {
  if (data.length < TRANSPORT_MIN_SIZE) {
    s.drops.add("short");
    return;
  }
  const kp = s.indices.get(readU32(data, 4))?.keypair;
  if (!kp) {
    s.drops.add("unknown-index");
    return;
  }
  const counter = readCounter(data, 8);
  if (counter < 0) {
    s.drops.add("bad-counter");
    return;
  }
  s.packetClock.update();
  const now = s.packetClock.time[0];
  if (now - kp.created >= s.timers.rejectAfterTime) {
    s.drops.add("expired-session");
    return;
  }
  if (opened === NOT_OPENED && s.batch?.open(kp.receive, counter, data, from)) return;
  const views = s.inViews.get(data);
  const plainLen = views.plain.length;
  // Where the packet device lends a slot of its write queue, the plaintext is opened straight
  // into it; otherwise in place, and `write` copies it. A slot not committed is just dropped.
  // A message the crypto batch opened already holds its plaintext in place: no slot then, so
  // that `write` copies it.
  const packets = s.packets;
  const lent = opened === NOT_OPENED && plainLen > 0 && packets.reserve !== undefined
    ? packets.reserve(plainLen)
    : null;
  const plain = lent === null ? views.plain : s.lent.get(lent, 0, plainLen);
  let authentic = opened === AUTHENTIC;
  try {
    if (opened === NOT_OPENED) authentic = kp.receive.open(counter, views.sealed, plain);
  } catch (e) {
    internalError(s, "crypto", e);
    return;
  }
  if (!authentic) {
    s.drops.add("decrypt");
    return;
  }
  if (!kp.replay.accept(counter, REJECT_AFTER_MESSAGES)) {
    s.drops.add("replay");
    return;
  }
  const peer = kp.peer;
  kp.lastReceived = now;
  if (kp === peer.next) {
    if (confirmNext(s, peer)) sendStaged(s, peer);
  } else if (kp === peer.previous && peer.current !== null && winsOver(s, kp, peer.current)) {
    // The peer sent on the crossing's winning session, so it holds it: both settle there.
    takeWinner(peer);
  }
  if (peer.failedUdp === null || !heldOff(peer, from)) roam(s, peer, from, now);
  peer.counters.rxBytes += data.length;
  peer.counters.rxPackets++;
  peer.timers.anyAuthenticatedPacketReceived();
  peer.timers.anyAuthenticatedPacketTraversal(now);
  if (
    kp === peer.current && kp.isInitiator && !peer.timers.sentLastMinuteHandshake &&
    now - kp.created >=
      s.timers.rejectAfterTime - s.timers.keepaliveTimeout - s.timers.rekeyTimeout
  ) {
    peer.timers.sentLastMinuteHandshake = true;
    sendInitiation(s, peer, false);
  }
  if (plainLen === 0) return; // keepalive
  peer.counters.rxData++;
  peer.timers.dataReceived(now);
  const ipLen = checkSource(s, peer, plain);
  if (ipLen <= 0) return;
  if (peer.requireTagged && heldBack(s, kp, plain)) {
    s.drops.add("pq-required");
    return;
  }
  if (lent !== null) {
    if (s.filter !== null && !s.filter.inbound(s.lent.get(lent, 0, ipLen))) {
      s.drops.add("policy");
      return;
    }
    packets.commit!(ipLen);
    return;
  }
  const pkt = s.inViews.packet(views, ipLen);
  if (s.filter !== null && !s.filter.inbound(pkt)) {
    s.drops.add("policy");
    return;
  }
  packets.write(pkt);
}

/** The IP packet's length when its source is routed to `peer`; 0 (counted) otherwise. */
function checkSource(s: DeviceState, peer: Peer, plain: Uint8Array): number {
  const version = plain[0] >> 4;
  let ipLen = 0;
  let owner: Peer | undefined;
  if (version === 4 && plain.length >= 20) {
    ipLen = (plain[2] << 8) | plain[3];
    owner = s.routes.lookup(plain, 12, 4);
    if (ipLen < 20) ipLen = -1;
  } else if (version === 6 && plain.length >= 40) {
    ipLen = 40 + ((plain[4] << 8) | plain[5]);
    owner = s.routes.lookup(plain, 8, 6);
  } else {
    s.drops.add("malformed-ip");
    return 0;
  }
  if (ipLen < 0 || ipLen > plain.length) {
    s.drops.add("malformed-ip");
    return 0;
  }
  if (owner !== peer) {
    s.drops.add("source-not-allowed");
    return 0;
  }
  return ipLen;
}
