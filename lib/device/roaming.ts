/**
 * Roaming: a peer's endpoint follows the source of its authenticated messages, transport and
 * handshake alike, and a stream transport keeps the connections that carry them.
 * @module
 */

import { type Endpoint, isStreamEndpoint, sameEndpoint } from "../io/driver.ts";
import type { Peer } from "../peer/peer.ts";
import { emit } from "./events.ts";
import type { DeviceState } from "./state.ts";

/**
 * How long a peer heard over UDP keeps its UDP endpoint against its packets over TCP: a peer
 * moving back to UDP leaves packets in flight on its TCP connection, and following each of
 * them would flap between the two (a peer that left UDP is quiet there, and followed after).
 */
export const UDP_PREFERRED_MS = 2_000;

/**
 * An authenticated message from `peer` came from `from` at `now` (monotonic ms): it becomes
 * the peer's endpoint, but for a stream while the peer is heard over UDP (see
 * {@link UDP_PREFERRED_MS}).
 */
export function roam(s: DeviceState, peer: Peer, from: Endpoint, now: number): void {
  // A stream transport keeps the connections that carry authenticated messages (one compare
  // for the datagrams of UDP).
  if (isStreamEndpoint(from)) s.transport.authenticated?.(from);
  else if (from.proto !== "relay") peer.udpHeardAt[0] = now;
  const was = peer.endpoint;
  if (was === from) return;
  if (was !== null && sameEndpoint(was, from)) {
    // The same place as another object (the transport's table let the first one go): no move.
    peer.endpoint = from;
    return;
  }
  if (
    isStreamEndpoint(from) && was !== null && (was.proto ?? "udp") === "udp" &&
    now - peer.udpHeardAt[0] < UDP_PREFERRED_MS
  ) {
    setOther(peer, from);
    return;
  }
  moveEndpoint(peer, from);
  emit(s, { type: "endpoint-changed", peer: peer.publicKeyText, endpoint: from.toString() });
}

/**
 * Moves `peer` to `to` (a stream or a relay) off the UDP endpoint it is on because that path
 * stopped working: our pings there went unanswered. WireGuard's roaming would bring the peer
 * straight back with its next packet from there, and a site that lets UDP in but not out (a
 * firewall blocking UDP going out, the NAT mapping still alive) keeps letting the peer's packets
 * in: the ones it sent before it heard us on the new path (in flight, or sent all along while
 * our packets there do not reach it). So, as the one exception to following the peer, packets
 * from that endpoint do not move the peer back until the path is shown to work again: a move onto
 * UDP (our route or paths saw a pong there) or an authenticated packet from the peer anywhere
 * else (it heard us on the new path and moved there; what it sends over UDP after that is its own
 * route's choice, made on a pong of ours, so followed as usual). A packet from another UDP
 * endpoint is a real move of the peer's and is followed at once.
 */
export function leaveFailedUdp(peer: Peer, to: Endpoint): void {
  const was = peer.endpoint;
  moveEndpoint(peer, to);
  if (was !== null && isUdp(was) && !isUdp(to)) peer.failedUdp = was;
}

/**
 * An authenticated message from `peer` came from `from`: true when it must not move the peer,
 * because it came from the failed UDP endpoint held (see {@link leaveFailedUdp}); from anywhere
 * else the hold ends. Callers check `peer.failedUdp !== null` first and call {@link roam} only
 * when this is false: kept out of `roam`, whose size lets V8 inline it into the receive path
 * (not inlined, its `now` argument is boxed: an allocation per packet).
 */
export function heldOff(peer: Peer, from: Endpoint): boolean {
  const failed = peer.failedUdp!;
  if (from === failed || sameEndpoint(from, failed)) return true;
  peer.failedUdp = null;
  return false;
}

/** A direct UDP endpoint: neither a stream nor a relay's. */
function isUdp(ep: Endpoint): boolean {
  return !isStreamEndpoint(ep) && ep.proto !== "relay";
}

/**
 * The caller moved `peer` back onto UDP because an authenticated answer of the peer's came from
 * there (a path probe's pong): that counts as heard over UDP at `now`, so its packets still in
 * flight over the stream it sent on do not move it straight back (see {@link UDP_PREFERRED_MS}).
 */
export function heardOverUdp(peer: Peer, now: number): void {
  if (peer.udpHeardAt[0] < now) peer.udpHeardAt[0] = now;
}

/**
 * True when `from` is `peer`'s endpoint, its {@link Peer.otherEndpoint} or one of its
 * {@link Peer.earlierEndpoints}: a place the peer sends from now, or did lately (a relay takes a
 * member's relayed packets from there: lib/relay/server.ts), though where we send to it is the
 * endpoint alone. More than one place: a member that relays over its WebSocket while its handshake
 * over TCP (a probe) moves the relay's endpoint there, after the relay's own route had moved it to
 * UDP, still sends its data on the WebSocket until the answer reaches it.
 */
export function heardFrom(peer: Peer, from: Endpoint): boolean {
  const ep = peer.endpoint;
  const other = peer.otherEndpoint;
  if ((ep !== null && sameEndpoint(ep, from)) || (other !== null && sameEndpoint(other, from))) {
    return true;
  }
  const earlier = peer.earlierEndpoints;
  for (let i = 0; i < earlier.length; i++) {
    const e = earlier[i];
    if (e !== null && sameEndpoint(e, from)) return true;
  }
  return false;
}

/**
 * Makes `to` the peer's {@link Peer.otherEndpoint}; the one it held goes to
 * {@link Peer.earlierEndpoints} (unless there already), replacing the oldest. Called for every
 * packet of a stream while UDP is preferred: the same place again returns at the first compare.
 */
function setOther(peer: Peer, to: Endpoint): void {
  const was = peer.otherEndpoint;
  peer.otherEndpoint = to;
  if (was === null || sameEndpoint(was, to)) return;
  const earlier = peer.earlierEndpoints;
  for (let i = 0; i < earlier.length; i++) {
    const e = earlier[i];
    if (e !== null && sameEndpoint(e, was)) return;
  }
  earlier[peer.earlierNext] = was;
  peer.earlierNext = (peer.earlierNext + 1) % earlier.length;
}

/**
 * Points `peer` at `to` (a roam, or a route chosen for it), keeping the place it left as its
 * {@link Peer.otherEndpoint}: still one the peer may send from for a while (packets in flight, or
 * a peer that moves its own sending later than its handshake, or not at all when only we moved).
 */
export function moveEndpoint(peer: Peer, to: Endpoint): void {
  // Moved onto UDP by a route or the paths (they saw it answer), or roamed to another place:
  // a failed endpoint held is let go.
  if (isUdp(to)) peer.failedUdp = null;
  const was = peer.endpoint;
  if (was === to) return;
  if (was !== null && was.proto !== "relay") setOther(peer, was);
  peer.endpoint = to;
  if (was === null || !sameEndpoint(was, to)) peer.endpointMoves++;
}
