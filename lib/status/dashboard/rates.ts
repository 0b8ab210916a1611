/**
 * Throughput from the status document's byte counters: each update's deltas over the time since
 * the last. A span under half a second keeps the last figure, since bursts of change events would
 * otherwise divide by almost nothing. Pure (the clock is passed in), so tests run it without a
 * browser.
 * @module
 */

import type { PeerDoc } from "./types.ts";

/** Bytes per second each way. */
export interface Rate {
  /** Received. */
  rx: number;
  /** Sent. */
  tx: number;
}

/** The peers' rates, from one status document to the next. */
export class Rates {
  #prev = new Map<string | undefined, { rx: unknown; tx: unknown; t: number }>();
  #rates = new Map<string | undefined, Rate>();

  /** The peer's last rates, if two documents far enough apart have been seen. */
  get(key: string | undefined): Rate | undefined {
    return this.#rates.get(key);
  }

  /** Takes the counters of a document read at `now` (ms); forgets peers no longer listed. */
  update(peers: PeerDoc[], now: number): void {
    const seen = new Set<string | undefined>();
    for (const p of peers) {
      seen.add(p.publicKey);
      const last = this.#prev.get(p.publicKey);
      if (last && now - last.t < 500) continue;
      if (last) {
        const dt = (now - last.t) / 1000;
        this.#rates.set(p.publicKey, {
          rx: Math.max(0, (Number(p.rxBytes) - Number(last.rx)) / dt),
          tx: Math.max(0, (Number(p.txBytes) - Number(last.tx)) / dt),
        });
      }
      this.#prev.set(p.publicKey, { rx: p.rxBytes, tx: p.txBytes, t: now });
    }
    for (const k of [...this.#prev.keys()]) {
      if (!seen.has(k)) {
        this.#prev.delete(k);
        this.#rates.delete(k);
      }
    }
  }
}
