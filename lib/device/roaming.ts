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
  ) return;
  peer.endpoint = from;
  emit(s, { type: "endpoint-changed", peer: peer.publicKeyText, endpoint: from.toString() });
}
