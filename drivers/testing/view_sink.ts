/**
 * The read loops' view test, shared by TCP's frames and WebSocket messages: a bulk sender's
 * payloads at shifting offsets (a short one moves the ones after it, a jumbo one lies past the
 * read slot), a sink that keeps the very view objects it is handed, and the check that payloads
 * of one length came in one view object.
 * @module
 */

import assert from "node:assert/strict";
import type { DatagramSink } from "../../lib/io/driver.ts";

/** Full-size, short, full-size twice, short, jumbo; the i-th filled with i + 1. */
export function viewPayloads(): Uint8Array[] {
  return [1452, 96, 1452, 1452, 96, 4000].map((n, i) => new Uint8Array(n).fill(i + 1));
}

/** A sink that keeps the very objects it is handed (and a copy of each, taken during the call). */
export class SameViewSink implements DatagramSink {
  /** The objects handed in, in order. */
  readonly views: Uint8Array[] = [];
  /** A copy of each, taken during the call. */
  readonly copies: number[][] = [];
  /** Calls of `flush`. */
  flushes = 0;

  /** Keeps `data` itself and a copy of its bytes. */
  datagram(data: Uint8Array): void {
    this.views.push(data);
    this.copies.push([...data]);
  }

  /** Counts the call. */
  flush(): void {
    this.flushes++;
  }
}

/**
 * Asserts that `sink` got {@link viewPayloads} in order, those of one length in one view object
 * (`unit`: what the assertion messages call them), in `flushes` flushes.
 */
export function assertSameViews(sink: SameViewSink, flushes: number, unit: string): void {
  assert.deepEqual(sink.copies.map((c) => [c.length, c[0], c[c.length - 1]]), [
    [1452, 1, 1],
    [96, 2, 2],
    [1452, 3, 3],
    [1452, 4, 4],
    [96, 5, 5],
    [4000, 6, 6],
  ]);
  const [a, b, c, d, e] = sink.views;
  // On a view of each where it lies, every one is a new object: the device then makes and keeps
  // fresh views of each message (lib/device/views.ts), per packet.
  assert.ok(a === c && c === d, `full-size ${unit} share one view`);
  assert.ok(b === e, `short ${unit} share one view`);
  assert.equal(sink.flushes, flushes);
}
