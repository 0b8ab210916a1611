/**
 * Admission of handshake messages under load, as wireguard-go: MAC1 always; past the load
 * threshold, MAC2 (else a cookie reply, bounded per source) and the source IP's handshake rate
 * (an IPv6 source's /64's), all before any DH.
 * @module
 */

import { COOKIE_REPLY_SIZE } from "../protocol/constants.ts";
import { mac2IsZero, sourceBytes } from "../protocol/cookie.ts";
import type { Endpoint } from "../io/driver.ts";
import { sourceKey } from "../net/source_key.ts";
import type { DeviceState } from "./state.ts";

/**
 * The load is measured over a tenth of a second (a tenth of the threshold per window), so the
 * messages that pass before the switch are at most a tenth of the threshold, like wireguard-go's
 * queue of 1024 that is under load from 128 waiting. A one-second window let a whole threshold's
 * worth through at every onset, and onsets recur when the load lapses: after any second in which
 * the agent itself, starved of CPU, handled too few messages (its stall is when the backlog is
 * deepest) and then read that backlog as though there were no load.
 */
const LOAD_WINDOW_MS = 100;

/** Counts a handshake message toward load; true while under load (for a second past it). */
function underLoad(s: DeviceState, now: number): boolean {
  if (now - s.hsWindowStart >= LOAD_WINDOW_MS) {
    s.hsWindowStart = now;
    s.hsCount = 0;
  }
  if (++s.hsCount > s.underLoadThreshold * LOAD_WINDOW_MS / 1000) {
    s.underLoadUntil = now + 1000;
  }
  return now < s.underLoadUntil;
}

/**
 * MAC1 always; under load, as wireguard-go, MAC2 (else a cookie reply) and then the source
 * IP's rate, before any DH. False when the message stops here (counted).
 */
export function admitHandshake(
  s: DeviceState,
  data: Uint8Array,
  from: Endpoint,
  senderIndex: number,
): boolean {
  const now = s.clock.now();
  // Every handshake message counts toward load, as wireguard-go's queue holds them before any
  // check: a flood of junk is load too.
  const loaded = underLoad(s, now);
  const ip = from.address;
  // Limited by address, an IPv6 source by its /64; cookies stay bound to the exact source.
  const key = loaded ? sourceKey(ip) : ip;
  if (loaded) {
    // A source whose budget is spent is dropped before any MAC, whatever it sent: without a
    // cookie (MAC2 zero) it could only get a reply, with one only a DH. Only MAC2-valid
    // messages spend the handshake budget, so nobody can spend another address's.
    if (mac2IsZero(data)) {
      if (!s.cookieLimiter.wouldAllow(key)) {
        s.drops.add("cookie-reply-limited");
        return false;
      }
    } else if (!s.handshakeLimiter.wouldAllow(key)) {
      s.drops.add("handshake-rate-limited");
      return false;
    }
  }
  // Without a private key no MAC1 can be right: it is keyed with our public key.
  if (!s.hasKey || !s.checker.checkMac1(data)) {
    s.drops.add("mac1");
    return false;
  }
  if (!loaded) return true;
  const src = sourceBytes(ip, from.port);
  if (!s.checker.checkMac2(data, src, now)) {
    // Bounded per source, so a flood gets a few replies; a peer sending from its own address
    // still gets its cookie.
    if (!s.cookieLimiter.allow(key)) {
      s.drops.add("cookie-reply-limited");
      return false;
    }
    const reply = s.hsOut.subarray(0, COOKIE_REPLY_SIZE);
    s.checker.createReply(data, senderIndex, src, now, reply);
    s.transport.send(reply, from);
    s.cookieRepliesSent++;
    s.drops.add("cookie-required");
    return false;
  }
  if (!s.handshakeLimiter.allow(key)) {
    s.drops.add("handshake-rate-limited");
    return false;
  }
  return true;
}
