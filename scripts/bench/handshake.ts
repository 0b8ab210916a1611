/**
 * Handshake benchmark: complete Noise_IKpsk2 handshakes per second (initiation, response and
 * both key derivations, MACs included) per DH backend, between two devices in one process over
 * the memory network.
 * @module
 */

import { makeMesh } from "../../tests/fixtures/mesh.ts";
import { suiteByName } from "../../lib/crypto/select.ts";
import { availableBackends } from "../../lib/crypto/select.ts";

/** Handshakes per second for each available backend (AEAD and DH of that backend). */
export function runHandshakeBench(ms = 1500): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const name of availableBackends()) {
    const suite = suiteByName(name)!;
    const { nodes: [a, b], net, clock } = makeMesh(2, { device: { suite } });
    const peer = a.device.peer(b.publicKey)!;
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      clock.advance(6_000); // past the initiation rate limit
      a.device.initiateHandshake(b.publicKey);
      net.deliver();
      n++;
    }
    const secs = (performance.now() - t0) / 1000;
    if (peer.counters.handshakes !== n) {
      throw new Error(`only ${peer.counters.handshakes} of ${n} handshakes completed`);
    }
    rows.push({ backend: name, handshakesPerSecond: Math.round(n / secs) });
  }
  return rows;
}

if (import.meta.main) console.table(runHandshakeBench());
