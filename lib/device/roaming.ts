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
    peer.otherEndpoint = from;
    return;
  }
  moveEndpoint(peer, from);
  emit(s, { type: "endpoint-changed", peer: peer.publicKeyText, endpoint: from.toString() });
}

/**
 * True when `from` is `peer`'s endpoint or its {@link Peer.otherEndpoint}: a place the peer
 * sends from now, or did just before (a relay takes a member's relayed packets from there:
 * lib/relay/server.ts), though where we send to it is the endpoint alone.
 */
export function heardFrom(peer: Peer, from: Endpoint): boolean {
  const ep = peer.endpoint;
  const other = peer.otherEndpoint;
  return (ep !== null && sameEndpoint(ep, from)) || (other !== null && sameEndpoint(other, from));
}

/**
 * Points `peer` at `to` (a roam, or a route chosen for it), keeping the place it left as its
 * {@link Peer.otherEndpoint}: still one the peer may send from for a while (packets in flight, or
 * a peer that moves its own sending later than its handshake, or not at all when only we moved).
 */
export function moveEndpoint(peer: Peer, to: Endpoint): void {
  const was = peer.endpoint;
  if (was === to) return;
  if (was !== null && was.proto !== "relay") peer.otherEndpoint = was;
  peer.endpoint = to;
}
