/**
 * The Services panel's call figures: calls a second, errors a second and the p99 latency of the
 * calls this node made of each service, from the counters of one status document to the next
 * (as Prometheus's `rate` and `histogram_quantile` over the span between two scrapes). A span
 * under half a second keeps the last figures, as rates.ts does; a service whose counters went
 * down (the agent restarted) starts over. Pure (the clock is passed in), so tests run it without
 * a browser.
 * @module
 */

import type { ServiceDoc } from "./types.ts";

/** A service's calls over the last span. */
export interface CallFigures {
  /** Calls ended a second. */
  rate: number;
  /** Failed calls a second. */
  errors: number;
  /**
   * The 99th percentile latency, ms: the upper bound of the bucket it falls in; Infinity past the
   * last bound; null when no call ended in the span.
   */
  p99Ms: number | null;
}

interface Counters {
  count: number;
  errors: number;
  le: number[];
  buckets: number[];
}

/** The counters of `s.calls`, when they are well formed. */
function countersOf(s: ServiceDoc): Counters | null {
  const c = s.calls as Record<string, unknown> | undefined;
  if (!c || typeof c !== "object") return null;
  const { count, errors, le, buckets } = c;
  if (typeof count !== "number" || typeof errors !== "number") return null;
  if (!Array.isArray(le) || !Array.isArray(buckets) || le.length !== buckets.length) return null;
  if (!le.every((x) => typeof x === "number") || !buckets.every((x) => typeof x === "number")) {
    return null;
  }
  return { count, errors, le, buckets };
}

/** The p99 of the calls between two readings, ms (see {@link CallFigures}). */
export function p99Ms(before: Counters | null, after: Counters): number | null {
  const n = after.count - (before?.count ?? 0);
  if (n <= 0) return null;
  const want = 0.99 * n;
  for (let i = 0; i < after.le.length; i++) {
    if (after.buckets[i] - (before?.buckets[i] ?? 0) >= want) return after.le[i] * 1000;
  }
  return Infinity;
}

/** The services' call figures, from one status document to the next. */
export class CallRates {
  #prev = new Map<string, { c: Counters; t: number }>();
  #figures = new Map<string, CallFigures>();

  /** The service's last figures, once two documents far enough apart have been seen. */
  get(name: string): CallFigures | undefined {
    return this.#figures.get(name);
  }

  /** Takes the counters of a document read at `now` (ms); forgets services no longer listed. */
  update(services: ServiceDoc[], now: number): void {
    const seen = new Set<string>();
    for (const s of services) {
      const name = String(s.name);
      seen.add(name);
      const c = countersOf(s);
      if (c === null) {
        this.#prev.delete(name);
        this.#figures.delete(name);
        continue;
      }
      const last = this.#prev.get(name);
      if (last && now - last.t < 500) continue;
      const restarted = last !== undefined &&
        (c.count < last.c.count || c.le.length !== last.c.le.length);
      if (last && !restarted) {
        const dt = (now - last.t) / 1000;
        this.#figures.set(name, {
          rate: (c.count - last.c.count) / dt,
          errors: (c.errors - last.c.errors) / dt,
          p99Ms: p99Ms(last.c, c),
        });
      }
      this.#prev.set(name, { c, t: now });
    }
    for (const k of [...this.#prev.keys()]) {
      if (!seen.has(k)) {
        this.#prev.delete(k);
        this.#figures.delete(k);
      }
    }
  }
}

/** How the figures read in the panel's cells: calls/s, errors/s, p99. */
export function callCells(f: CallFigures | undefined): [string, string, string] {
  if (f === undefined) return ["–", "–", "–"];
  const perSecond = (x: number) => (x === 0 ? "0" : x < 10 ? x.toFixed(1) : x.toFixed(0)) + "/s";
  const p99 = f.p99Ms === null
    ? "–"
    : f.p99Ms === Infinity
    ? "> 10 s"
    : f.p99Ms < 1
    ? "≤ " + f.p99Ms.toFixed(2) + " ms"
    : "≤ " + f.p99Ms.toFixed(f.p99Ms < 10 ? 1 : 0) + " ms";
  return [perSecond(f.rate), perSecond(f.errors), p99];
}
