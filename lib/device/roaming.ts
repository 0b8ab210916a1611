/**
 * Roaming: a peer's endpoint follows the source of its authenticated messages, transport and
 * handshake alike, and a stream transport keeps the connections that carry them.
 * @module
 */

import type { Endpoint } from "../io/driver.ts";
import type { Peer } from "../peer/peer.ts";
import { emit } from "./events.ts";
import type { DeviceState } from "./state.ts";

/** An authenticated message from `peer` came from `from`: it becomes the peer's endpoint. */
export function roam(s: DeviceState, peer: Peer, from: Endpoint): void {
  // A stream transport keeps the connections that carry authenticated messages (one compare
  // for the datagrams of UDP).
  if (from.proto === "tcp") s.transport.authenticated?.(from);
  if (peer.endpoint === from) return;
  peer.endpoint = from;
  emit(s, { type: "endpoint-changed", peer: peer.publicKeyText, endpoint: from.toString() });
}
