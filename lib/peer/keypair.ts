/**
 * A session: the transport keys one handshake derived, with their counters and replay window.
 * @module
 */

import type { AeadKey } from "../crypto/types.ts";
import { ReplayWindow } from "../protocol/replay.ts";

/**
 * One direction-pair of transport keys and the state that goes with them.
 *
 * No constructor parameter properties here: with them, every field is first defined as
 * `undefined`, so V8 keeps `lastReceived` as a tagged field and each millisecond time stored in it
 * (once per packet received) costs a new heap number.
 */
export class Keypair<P = unknown> {
  /** The next counter to send with. */
  sendCounter = 0;
  /** Which receive counters were seen. */
  readonly replay: ReplayWindow = new ReplayWindow();
  /** Monotonic ms of the last packet received on this session, 0 before the first. */
  lastReceived = 0;
  /** Encrypts what we send. */
  readonly send: AeadKey;
  /** Decrypts what we receive. */
  readonly receive: AeadKey;
  /** Our index (the peer sends it as receiver). */
  readonly localIndex: number;
  /** The peer's index (we send it as receiver). */
  readonly remoteIndex: number;
  /** True when we initiated the handshake. */
  readonly isInitiator: boolean;
  /** Monotonic ms when the keys were derived. */
  readonly created: number;
  /** The peer the session belongs to. */
  readonly peer: P;
  /** The tag of the preshared key its handshake used (0: untagged, or none). */
  presharedKeyTag = 0;

  /** A session of `peer` with its keys, indices, role and creation time. */
  constructor(
    send: AeadKey,
    receive: AeadKey,
    localIndex: number,
    remoteIndex: number,
    isInitiator: boolean,
    created: number,
    peer: P,
  ) {
    this.send = send;
    this.receive = receive;
    this.localIndex = localIndex;
    this.remoteIndex = remoteIndex;
    this.isInitiator = isInitiator;
    this.created = created;
    this.peer = peer;
  }

  /** Wipes both keys. */
  destroy(): void {
    this.send.destroy();
    this.receive.destroy();
  }
}
