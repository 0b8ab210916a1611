/**
 * A session: the transport keys one handshake derived, with their counters and replay window.
 * @module
 */

import type { AeadKey } from "../crypto/types.ts";
import { ReplayWindow } from "../protocol/replay.ts";

/** One direction-pair of transport keys and the state that goes with them. */
export class Keypair<P = unknown> {
  /** The next counter to send with. */
  sendCounter = 0;
  /** Which receive counters were seen. */
  readonly replay: ReplayWindow = new ReplayWindow();
  /** Monotonic ms of the last packet received on this session, 0 before the first. */
  lastReceived = 0;

  constructor(
    /** Encrypts what we send. */
    readonly send: AeadKey,
    /** Decrypts what we receive. */
    readonly receive: AeadKey,
    /** Our index (the peer sends it as receiver). */
    readonly localIndex: number,
    /** The peer's index (we send it as receiver). */
    readonly remoteIndex: number,
    /** True when we initiated the handshake. */
    readonly isInitiator: boolean,
    /** Monotonic ms when the keys were derived. */
    readonly created: number,
    /** The peer the session belongs to. */
    readonly peer: P,
  ) {}

  /** Wipes both keys. */
  destroy(): void {
    this.send.destroy();
    this.receive.destroy();
  }
}
