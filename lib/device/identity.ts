/**
 * The device's own static key changed at run time (`wg set <if> private-key`, `wg setconf`), as
 * wireguard-go's SetPrivateKey: a peer with the new public key goes, every other peer's sessions
 * and handshake are wiped and its static-static DH is computed again on next use, and the cookie
 * checker is keyed with the new public key. Peers with a persistent keepalive reach out again at
 * once, as on `up`.
 * @module
 */

import { CookieChecker } from "../protocol/cookie.ts";
import { encodeKey, equalBytes, publicKeyOf } from "../crypto/keys.ts";
import { forgetPeerState } from "./keys.ts";
import { removePeer } from "./peers.ts";
import { flushSends, sendKeepalive } from "./send.ts";
import { type DeviceState, isZeroKey } from "./state.ts";

/**
 * Sets our static private key (32 bytes; all zeros, or null: none, so no handshakes). The same
 * key again changes nothing. Returns whether it changed.
 */
export function setPrivateKey(s: DeviceState, key: Uint8Array | null): boolean {
  const priv = key ?? new Uint8Array(32);
  if (priv.length !== 32) throw new RangeError("a private key has 32 bytes");
  const local = s.local;
  if (equalBytes(priv, local.privateKey)) return false;
  const has = !isZeroKey(priv);
  const pub = has ? publicKeyOf(priv, s.suite.dh) : new Uint8Array(32);
  const text = has ? encodeKey(pub) : "";
  // A peer cannot have our own key: the one that now has it goes, as in wireguard-go.
  if (has) removePeer(s, text);
  local.privateKey.set(priv);
  local.publicKey.set(pub);
  s.publicKey = text;
  s.hasKey = has;
  s.checker = new CookieChecker(pub, s.timers.cookieRefreshTime, s.random);
  const now = s.clock.now();
  for (const peer of s.peers.values()) {
    // Sessions and handshakes made with the old key are of no use to either side now.
    forgetPeerState(s, peer);
    peer.localKeyChanged(local);
    peer.lastInitiationSent = -Infinity;
    if (peer.timers.persistentKeepaliveMs > 0) {
      peer.timers.persistentKeepalive = now + peer.timers.persistentKeepaliveMs;
      s.live.add(peer);
    }
  }
  if (has && s.started && !s.closed) {
    for (const peer of s.peers.values()) {
      if (peer.timers.persistentKeepaliveMs > 0) sendKeepalive(s, peer);
    }
    flushSends(s);
  }
  return true;
}
