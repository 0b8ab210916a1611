/**
 * The lease figures of a mesh node's `/metrics`: the leases' counters (`LeaseRuntime.stats()`)
 * and the leader of every service known, as collector.ts renders them.
 * @module
 */

import type { LeaseMetrics } from "./collector.ts";
import type { LeaseStats, ServiceLeader } from "./runtime.ts";

/** `notMember` → `not-member`: label values are kebab-case like weft's other reasons. */
function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * The figures from the counters, the services known (by name) and the leaders known; a leader
 * of a service not in `services` adds it.
 */
export function leaseMetrics(
  stats: LeaseStats,
  services: readonly string[],
  leaders: readonly ServiceLeader[],
): LeaseMetrics {
  const byName = new Map<string, string | null>(services.map((s) => [s, null]));
  for (const l of leaders) byName.set(l.name, l.member);
  const a = stats.arbiter;
  return {
    leaders: [...byName].map(([service, node]) => ({ service, node })),
    changes: { ...stats.leaderChanges },
    heard: { ...stats.holdersHeard },
    client: {
      asks: stats.client.asks,
      releases: stats.client.releases,
      lapsed: stats.client.lapsed,
      rowsDropped: stats.client.tableFull,
    },
    ...(a
      ? {
        arbiter: {
          granted: a.granted,
          renewed: a.renewed,
          ended: { released: a.released, expired: a.expired },
          refused: Object.fromEntries(
            Object.entries(a.refused).map(([k, v]) => [kebab(k), v]),
          ),
          staleReleases: a.staleReleases,
          persistFailed: a.persistFailed,
          storeFailed: a.storeFailed,
        },
      }
      : {}),
  };
}
