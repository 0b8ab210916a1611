/**
 * The `/metrics` families of the post-quantum keys: rotations, failures by reason, and the
 * members whose session in use was made with a post-quantum key or without.
 * @module
 */

import { type Collector, counter, gauge, sampleCounts } from "../../metrics/registry.ts";
import type { PqMetrics } from "./mesh_pq.ts";

const ROTATIONS = counter(
  "weft_pq_rotations_total",
  "Post-quantum preshared key rotations completed with other members (both roles).",
);
const FAILURES = counter(
  "weft_pq_failures_total",
  "Post-quantum key exchanges that failed and exchange messages refused, by reason.",
  ["reason"],
);
const PEERS = gauge(
  "weft_pq_peers",
  "Members with a session, by whether it was made with a post-quantum preshared key " +
    "(pq) or without (classical).",
  ["session"],
);

/** The post-quantum figures `pq` gives (nothing while it gives undefined). */
export function pqCollector(pq: () => PqMetrics | undefined): Collector {
  return (out) => {
    const m = pq();
    if (!m) return;
    out.sample(ROTATIONS, {}, m.rotations);
    sampleCounts(out, FAILURES, "reason", m.failures);
    out.sample(PEERS, { session: "pq" }, m.peers.pq);
    out.sample(PEERS, { session: "classical" }, m.peers.classical);
  };
}
