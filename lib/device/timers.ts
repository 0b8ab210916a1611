/**
 * Timer dispatch: each peer's due timers (lib/peer/timers.ts decides which) turned into the
 * retransmission, keepalive, rekey or key wipe they stand for.
 * @module
 */

import { emit } from "./events.ts";
import { onRetransmit, sendInitiation, sendWaitingInitiations } from "./initiate.ts";
import { forgetPeerState } from "./keys.ts";
import { flushSends, sendKeepalive } from "./send.ts";
import type { DeviceState } from "./state.ts";

/** Fires whatever timers are due, then sends what they queued. */
export function tick(s: DeviceState): void {
  if (s.closed) return;
  const now = s.clock.now();
  // Only the live peers: an idle one (no session, no handshake, no keepalive) has no timer.
  for (const peer of s.live) {
    if (peer.timers.idle) {
      s.live.delete(peer);
      continue;
    }
    for (let kind = peer.timers.due(now); kind; kind = peer.timers.due(now)) {
      switch (kind) {
        case "retransmit-handshake":
          onRetransmit(s, peer);
          break;
        case "send-keepalive":
        case "persistent-keepalive":
          sendKeepalive(s, peer);
          break;
        case "new-handshake":
          // Sent data, heard nothing: not sent if the peer is heard from while it waits.
          sendInitiation(s, peer, false, true);
          break;
        case "zero-key-material":
          forgetPeerState(s, peer);
          emit(s, { type: "keys-zeroed", peer: peer.publicKeyText });
          break;
      }
    }
  }
  // The initiations the device's pace held back, as far as it lets them go now.
  sendWaitingInitiations(s);
  flushSends(s);
}
