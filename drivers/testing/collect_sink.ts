/**
 * A datagram sink for transport tests: it copies what it gets and lets a test wait for a count.
 * @module
 */

import type { DatagramSink, Endpoint } from "../../lib/io/driver.ts";

/** One datagram as the sink got it. */
export interface Received {
  /** A copy of the datagram. */
  data: Uint8Array;
  /** Where it came from. */
  from: Endpoint;
}

/** Copies every datagram; `wait(n)` resolves once `n` have arrived. */
export class CollectSink implements DatagramSink {
  /** Everything received, in order. */
  readonly got: Received[] = [];
  /** Calls of `flush`. */
  flushes = 0;
  #waiters: { n: number; resolve: () => void }[] = [];

  /** Keeps a copy: the transport may reuse `data` after the call. */
  datagram(data: Uint8Array, from: Endpoint): void {
    this.got.push({ data: data.slice(), from });
  }

  /** Wakes the waiters whose count has been reached. */
  flush(): void {
    this.flushes++;
    this.#waiters = this.#waiters.filter((w) => {
      if (this.got.length < w.n) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once `n` datagrams have arrived; rejects after `ms`. */
  wait(n: number, ms = 3000): Promise<void> {
    if (this.got.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out with ${this.got.length}/${n} datagrams`)),
        ms,
      );
      this.#waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}
