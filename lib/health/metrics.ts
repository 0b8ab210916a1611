/**
 * The health tracker's `/metrics` families: each peer's health state, mean probe RTT, probe
 * loss and probe RTT histogram. Read from the tracker at scrape time.
 * @module
 */

import { type Collector, gauge, histogram, type HistogramFigures } from "../metrics/registry.ts";
import { HEALTH_STATES, type HealthState } from "./state.ts";

/** What the collector reads of a peer's health (a `PeerHealth` has it). */
export interface PeerHealthFigures {
  /** Current state. */
  readonly state: HealthState;
  /** Mean probe RTT over the window, ms (null when unmeasured). */
  readonly rttMs: { readonly avg: number | null };
  /** Probe loss over the window, 0..1 (null without probes). */
  readonly loss: number | null;
  /** Answered probe RTTs, in seconds. */
  readonly rttHistogram?: HistogramFigures;
}

const PEER = ["peer", "name"] as const;
const HEALTH = gauge(
  "weft_peer_health",
  "A peer's health: 1 for its current state, 0 for the others.",
  [...PEER, "state"],
);
const RTT = gauge(
  "weft_peer_rtt_seconds",
  "Mean probe round-trip time over the health window.",
  PEER,
);
const LOSS = gauge(
  "weft_peer_probe_loss_ratio",
  "Share of probes lost over the health window, 0 to 1.",
  PEER,
);
const PROBE_RTT = histogram(
  "weft_probe_rtt_seconds",
  "Round-trip times of health probes through the tunnel.",
  PEER,
);

/**
 * The health of the peers `keys` lists (the device's, in its order), labelled with the key and
 * `nameOf` it; a peer the tracker does not know is `unknown` with no RTT, loss or histogram.
 */
export function healthCollector(
  health: { get(publicKey: string): PeerHealthFigures | undefined },
  keys: () => readonly string[],
  nameOf: (publicKey: string) => string,
): Collector {
  return (out) => {
    const peers = keys().map((peer) => ({ peer, name: nameOf(peer), h: health.get(peer) }));
    out.family(HEALTH, RTT, LOSS, PROBE_RTT);
    for (const { peer, name, h } of peers) {
      const current = h?.state ?? "unknown";
      for (const state of HEALTH_STATES) {
        out.sample(HEALTH, { peer, name, state }, current === state ? 1 : 0);
      }
    }
    for (const { peer, name, h } of peers) {
      const rtt = h?.rttMs.avg;
      if (typeof rtt === "number") out.sample(RTT, { peer, name }, rtt / 1000);
    }
    for (const { peer, name, h } of peers) {
      if (typeof h?.loss === "number") out.sample(LOSS, { peer, name }, h.loss);
    }
    for (const { peer, name, h } of peers) {
      if (h?.rttHistogram) out.histogram(PROBE_RTT, { peer, name }, h.rttHistogram);
    }
  };
}
