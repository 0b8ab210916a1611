/**
 * The figures of the mesh's paths (mesh_paths.ts): the counters of path changes and drops, a
 * peer's path fields for `/status` and the figures `/metrics` shows.
 * @module
 */

import type { PathReason, PathTable, PeerPaths } from "../../nat/paths.ts";
import type { RouteReason } from "../../relay/route_choice.ts";
import type { PathMetrics } from "../../nat/metrics.ts";
import type { PeerStatus } from "../../status/status.ts";
import { ReasonCounter } from "../../metrics/reasons.ts";

/** Why a probe or a call-me was dropped (beyond the probe codec's own reasons). */
export const PATH_DROP_REASONS = [
  "inactive",
  "rate-limited",
  "replay",
  "send-error",
  "callme-not-leader",
  "callme-not-member",
  "callme-malformed",
  "callme-rate-limited",
] as const;

/** Why a probe or a call-me was dropped (beyond the probe codec's own reasons). */
export type NatDropReason = typeof PATH_DROP_REASONS[number];

const REASONS: readonly (PathReason | RouteReason)[] = [
  "punched",
  "lan",
  "rtt",
  "failed",
  "roamed",
  "relay",
  "tcp",
  "direct",
];

/** The counters of path changes (by reason) and of drops (by reason), shared by the parts. */
export class PathCounters {
  /** Path changes by reason: the direct path's (the probes'), and the fallbacks' (the routes'). */
  readonly changes: ReasonCounter<PathReason | RouteReason> = new ReasonCounter(REASONS);
  /** Probes and call-me messages dropped, by reason. */
  readonly drops: ReasonCounter<NatDropReason> = new ReasonCounter(PATH_DROP_REASONS);
}

/** A peer's path fields for `/status` from its table entry and its last change (Unix ms). */
export function peerPathStatus(
  pp: PeerPaths | undefined,
  changedAt: number | null | undefined,
  now: number,
): Partial<PeerStatus> {
  if (!pp || changedAt === undefined) return { path: "none", candidates: [], pathChangedAt: null };
  const chosen = pp.chosen;
  return {
    path: pp.state,
    candidates: pp.stats(now).map((s) => ({
      endpoint: s.endpoint,
      kind: s.kinds[0],
      confirmed: s.confirmed,
      rttMs: Number.isNaN(s.rttMs) ? null : Math.round(s.rttMs * 10) / 10,
      chosen: s.endpoint === chosen,
    })),
    pathChangedAt: changedAt === null ? null : new Date(changedAt).toISOString(),
  };
}

/** The figures `/metrics` shows; `announceDrops` only while LAN discovery runs. */
export function pathMetrics(
  table: PathTable,
  counters: PathCounters,
  probeDrops: Readonly<Record<string, number>>,
  announceDrops: Record<string, number> | null,
  stateOf: (key: string, pp: PeerPaths) => string = (_, pp) => pp.state,
): PathMetrics {
  let stale = 0;
  let misdirected = 0;
  const states: Record<string, number> = { direct: 0, none: 0 };
  for (const key of table.keys()) {
    const pp = table.get(key)!;
    stale += pp.ignoredPongs;
    misdirected += pp.misdirectedPongs;
    const state = stateOf(key, pp);
    states[state] = (states[state] ?? 0) + 1;
  }
  return {
    changes: counters.changes.snapshot(),
    drops: {
      ...probeDrops,
      ...counters.drops.snapshot(),
      "stale-pong": stale,
      "misdirected-pong": misdirected,
    },
    states,
    ...(announceDrops ? { announceDrops } : {}),
  };
}
