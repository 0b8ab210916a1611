/** The fleet bench's figures: percentiles, and how a change's arrival at every member looked. */

import type { Member } from "./member.ts";

/** What a change's arrival at every member looked like. */
export interface Reach {
  /** The version waited for. */
  target: number;
  /** Members that had to hold it. */
  members: number;
  /** Milliseconds from the change to each member holding it: p50, p99, max. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Milliseconds to the first member holding it (about when the leader sent it). */
  firstMs: number;
  /** An endpoint move: the hellos the moved member said it in until its record showed it. */
  told?: number;
  /** Bytes the members received from the leader in that time. */
  bytes: number;
  /** Datagrams likewise. */
  datagrams: number;
  /** Members watched that stopped being up meanwhile (removed, gone): 0 unless expected. */
  lost: number;
}

/** The p-th percentile (0..1) of sorted numbers. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

/**
 * The {@link Reach} of version `want` (of the view, or of the policy with `policy`) at the
 * `watched` members, from their histories, timed from `sinceAt`.
 */
export function reachOf(
  watched: Member[],
  want: number,
  sinceAt: number,
  traffic: { bytes: number; datagrams: number },
  policy: boolean,
): Reach {
  const times: number[] = [];
  let lost = 0;
  for (const m of watched) {
    if (m.state !== "up") {
      lost++;
      continue;
    }
    const h = (policy ? m.policyHistory : m.history) ?? [];
    let at = sinceAt;
    for (let k = 0; k < h.length; k += 2) {
      if (h[k] >= want) {
        at = h[k + 1];
        break;
      }
    }
    times.push(Math.max(0, at - sinceAt));
  }
  times.sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 10) / 10;
  return {
    target: want,
    members: times.length,
    p50Ms: r(percentile(times, 0.5)),
    p99Ms: r(percentile(times, 0.99)),
    maxMs: r(times.at(-1) ?? NaN),
    firstMs: r(times[0] ?? NaN),
    bytes: traffic.bytes,
    datagrams: traffic.datagrams,
    lost,
  };
}
