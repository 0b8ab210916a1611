/**
 * The path probes' `/metrics` families: path changes, drops, the peers' path states and the
 * LAN announcements refused. The collector reads the mesh's path figures at scrape time.
 * @module
 */

import { type Collector, counter, gauge, sampleCounts } from "../metrics/registry.ts";

/** The figures of the path probes: path changes, drops and the peers' path states. */
export interface PathMetrics {
  /**
   * Changes of a peer's path, by reason (`punched`, `lan`, `rtt`, `failed`, `roamed`, and with
   * relays `relay`, `tcp`, `direct`); any reason is rendered as given.
   */
  changes: Record<string, number>;
  /** Path probes dropped and call-me messages refused, by reason. */
  drops: Record<string, number>;
  /** Peers by path state (`direct`, `relay`, `none`). */
  states: Record<string, number>;
  /** LAN announcements refused, by reason, while LAN discovery runs. */
  announceDrops?: Record<string, number>;
}

const CHANGES = counter(
  "weft_path_changes_total",
  "Changes of the path to a peer, by reason: punched (the first), lan (to a LAN path), rtt " +
    "(to a clearly faster one), failed (the path stopped answering), roamed (to where the " +
    "device roamed: the peer's packets come from there now), relay (to a relay), tcp (to " +
    "TCP), direct (back to a direct path).",
  ["reason"],
);
const DROPS = counter(
  "weft_path_drops_total",
  "Path probes dropped and call-me messages refused, by reason.",
  ["reason"],
);
const STATES = gauge(
  "weft_paths",
  "Peers by path state: direct (a confirmed path), relay (through a relay) or none.",
  ["state"],
);
const ANNOUNCE_DROPS = counter(
  "weft_lan_announce_drops_total",
  "LAN announcements refused (forged, replayed, stale, our own, not a member's), by reason.",
  ["reason"],
);

/** The path figures `paths` gives; nothing while it gives undefined (no path probes). */
export function pathsCollector(paths: () => PathMetrics | undefined): Collector {
  return (out) => {
    const p = paths();
    if (!p) return;
    sampleCounts(out, CHANGES, "reason", p.changes);
    sampleCounts(out, DROPS, "reason", p.drops);
    sampleCounts(out, STATES, "state", p.states);
    if (p.announceDrops) sampleCounts(out, ANNOUNCE_DROPS, "reason", p.announceDrops);
  };
}
