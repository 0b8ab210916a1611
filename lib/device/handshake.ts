/**
 * Handshake messages received, once admitted (admission.ts): an initiation answered with a
 * response and a session started as responder, a response completing our initiation, a cookie
 * reply stored for the next initiation's MAC2.
 * @module
 */

import { encodeKey } from "../crypto/keys.ts";
import { COOKIE_REPLY_SIZE, INITIATION_SIZE, RESPONSE_SIZE } from "../protocol/constants.ts";
import { readU32 } from "../protocol/bytes.ts";
import { consumeInitiation, consumeResponse, createResponse } from "../protocol/noise.ts";
import type { Endpoint } from "../io/driver.ts";
import { admitHandshake } from "./admission.ts";
import { handshakeDone, installKeys, newIndex } from "./keys.ts";
import { heldOff, roam } from "./roaming.ts";
import { EMPTY, sendStaged, sendTransport } from "./send.ts";
import type { DeviceState } from "./state.ts";
import type { DropReason } from "./drops.ts";

/** An initiation: answered, and the peer's session installed as the next one. */
export function onInitiation(s: DeviceState, data: Uint8Array, from: Endpoint): void {
  if (data.length !== INITIATION_SIZE) {
    s.drops.add("bad-size");
    return;
  }
  if (!admitHandshake(s, data, from, readU32(data, 4))) return;
  const now = s.clock.now();
  let why: DropReason = "handshake-invalid";
  const found = consumeInitiation(
    s.local,
    data,
    (key) => {
      const peer = s.peers.get(encodeKey(key));
      if (!peer) why = "handshake-unknown-peer";
      return peer ? { peer, handshake: peer.handshake } : undefined;
    },
    now,
    s.minInitiationInterval,
    (r) => why = r === "replay" ? "handshake-replay" : "handshake-rate-limited",
  );
  if (!found) {
    // A well-formed initiation from a key that is no peer is not a broken one: in a mesh a new
    // member's first initiations often arrive before the view that names their sender. Nor is
    // one seen already (sent to two of our endpoints) or one too soon after the last.
    s.drops.add(why);
    return;
  }
  const peer = found.peer;
  s.handshakesReceived++;
  if (peer.failedUdp === null || !heldOff(peer, from)) roam(s, peer, from, now);
  s.live.add(peer);
  peer.timers.anyAuthenticatedPacketTraversal(now);
  peer.timers.anyAuthenticatedPacketReceived();

  // Our own initiation to this peer, if one is in flight, stays valid: its response may
  // still come, and completes a session without waiting for a retransmission.
  const index = newIndex(s, peer, null);
  const msg = s.hsOut.subarray(0, RESPONSE_SIZE);
  const keys = createResponse(s.local, found, index, msg);
  if (!keys) {
    s.indices.delete(index);
    s.drops.add("handshake-invalid");
    return;
  }
  peer.cookies.addMacs(msg, now);
  s.transport.send(msg, from);
  installKeys(s, peer, keys, now);
  peer.timers.anyAuthenticatedPacketTraversal(now);
  peer.timers.anyAuthenticatedPacketSent();
}

/** A response to our initiation: the session is ours to send on, and what waited goes. */
export function onResponse(s: DeviceState, data: Uint8Array, from: Endpoint): void {
  if (data.length !== RESPONSE_SIZE) {
    s.drops.add("bad-size");
    return;
  }
  if (!admitHandshake(s, data, from, readU32(data, 4))) return;
  const entry = s.indices.get(readU32(data, 8));
  if (!entry || entry.keypair) {
    s.drops.add("unknown-index");
    return;
  }
  const peer = entry.peer;
  const keys = consumeResponse(s.local, peer.handshake, data);
  if (!keys) {
    s.drops.add("handshake-invalid");
    peer.counters.rejectedResponses++;
    return;
  }
  const now = s.clock.now();
  if (peer.failedUdp === null || !heldOff(peer, from)) roam(s, peer, from, now);
  installKeys(s, peer, keys, now);
  peer.timers.anyAuthenticatedPacketTraversal(now);
  peer.timers.anyAuthenticatedPacketReceived();
  handshakeDone(s, peer, "initiator");
  // Send what waited, or a keepalive, so the responder can confirm the new session.
  if (peer.staged.length > 0) sendStaged(s, peer);
  else sendTransport(s, peer, EMPTY, 0);
}

/** A cookie reply to a handshake message of ours, kept for the next one's MAC2. */
export function onCookieReply(s: DeviceState, data: Uint8Array): void {
  if (data.length !== COOKIE_REPLY_SIZE) {
    s.drops.add("bad-size");
    return;
  }
  const entry = s.indices.get(readU32(data, 4));
  if (!entry) {
    s.drops.add("unknown-index");
    return;
  }
  if (!entry.peer.cookies.consumeReply(data, s.clock.now())) {
    s.drops.add("cookie-invalid");
  }
}
