/**
 * Whether a WireGuard session to a peer works, read from the peer's counters: it works while the
 * peer has a session and the data we sent did not go unanswered for long. Path choice needs this
 * to tell a path that only lost a few probes from one the NAT closed (a changed mapping), and
 * nothing in the protocol says so before its 90 s give-up.
 *
 * Keepalives are not data: a peer owes no answer to them, so an idle session whose two sides'
 * keepalives happen not to cross is not taken for a broken one. A data packet is answered within
 * 10 s at the latest (the peer's passive keepalive), and within a round trip when the health
 * probes run; {@link STALL_MS} lies between.
 * @module
 */

/** Data sent this long ago with nothing received since: the session does not work. */
export const STALL_MS = 6_000;

/** Bytes of a keepalive on the wire: a transport header and a tag, no payload. */
const KEEPALIVE_BYTES = 32;

/** The counters of a device peer that are read. */
export interface SessionCounters {
  /** Transport packets received. */
  rxPackets: number;
  /** Transport packets sent. */
  txPackets: number;
  /** Transport bytes sent. */
  txBytes: number;
}

/** One peer's session, followed by sampling its counters. */
export class SessionWatch {
  #rx = -1;
  #txPackets = 0;
  #txBytes = 0;
  /** When data first went out since the last packet received; Infinity when none did. */
  #dataSince = Infinity;
  #works = false;

  /** Whether the session worked at the last sample. */
  get works(): boolean {
    return this.#works;
  }

  /**
   * Reads the counters at `now` (ms, monotonic; the more often the sooner a stall shows) and
   * says whether the session works now.
   */
  sample(c: SessionCounters, hasSession: boolean, now: number): boolean {
    if (c.rxPackets !== this.#rx) {
      this.#rx = c.rxPackets;
      this.#dataSince = Infinity;
    } else {
      const packets = c.txPackets - this.#txPackets;
      const bytes = c.txBytes - this.#txBytes;
      if (bytes > packets * KEEPALIVE_BYTES && this.#dataSince === Infinity) this.#dataSince = now;
    }
    this.#txPackets = c.txPackets;
    this.#txBytes = c.txBytes;
    this.#works = hasSession && now - this.#dataSince < STALL_MS;
    return this.#works;
  }

  /** Says a handshake completed: both ways work, whatever went unanswered before. */
  handshake(): void {
    this.#dataSince = Infinity;
  }

  /**
   * Says the handshakes gave up: the session counts as stalled until something is received
   * (the old session may still be there, but nothing answers on it).
   */
  gaveUp(now: number): void {
    this.#dataSince = Math.min(this.#dataSince, now - STALL_MS);
    this.#works = false;
  }
}
