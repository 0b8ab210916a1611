/**
 * The service layer's figures as it runs: calls made and served by service, action and outcome
 * with latency histograms, events published, sent, delivered and dropped. `snapshot()` gives
 * them as the plain object `/metrics` renders (lib/services/metrics.ts `ServiceMetrics`).
 *
 * Series are keyed by names callers choose (and, when serving, names other members send), so
 * their number is capped: past the cap, new series are counted under `service="other"`.
 * @module
 */

import { Histogram, PROBE_RTT_BUCKETS } from "../health/histogram.ts";
import type { ServiceCallSeries, ServiceMetrics } from "./metrics.ts";
import { ReasonCounter } from "../metrics/reasons.ts";
import { ResilienceStats } from "./resilience_stats.ts";
import type { ServiceCallsStatus } from "../status/status.ts";

/** Latency bounds, seconds: the probe RTT bounds (in-process calls up to slow WAN links), then
 * room for slow backends. */
export const SERVICE_LATENCY_BUCKETS: readonly number[] = [...PROBE_RTT_BUCKETS, 5, 10];

/** Most series per family; past it, calls go to `other`. */
export const MAX_SERIES = 256;

/** Why an event was dropped. */
export const EVENT_DROPS = ["slow-subscriber", "unacked", "duplicate"] as const;

/** Why an event was dropped. */
export type EventDrop = typeof EVENT_DROPS[number];

class Series {
  readonly #map = new Map<string, { s: string; a: string; o: string; h: Histogram }>();

  observe(service: string, action: string, outcome: string, seconds: number): void {
    let key = `${service}\u0000${action}\u0000${outcome}`;
    let e = this.#map.get(key);
    if (e === undefined) {
      if (this.#map.size >= MAX_SERIES) {
        service = "other";
        action = "other";
        key = `\u0001other\u0000${outcome}`;
        e = this.#map.get(key);
      }
      if (e === undefined) {
        e = { s: service, a: action, o: outcome, h: new Histogram(SERVICE_LATENCY_BUCKETS) };
        this.#map.set(key, e);
      }
    }
    e.h.observe(seconds);
  }

  list(): ServiceCallSeries[] {
    return [...this.#map.values()].map((e) => ({
      service: e.s,
      action: e.a,
      outcome: e.o,
      histogram: e.h.snapshot(),
    }));
  }
}

/** Counts what the service layer does; see the module docs. */
export class ServiceStats {
  readonly #calls = new Series();
  readonly #served = new Series();
  readonly #events = { published: 0, sent: 0, delivered: 0 };
  readonly #eventDrops = new ReasonCounter(EVENT_DROPS);
  /** Ejections, retries and retry budget refusals (resilience_stats.ts). */
  readonly resilience: ResilienceStats = new ResilienceStats();

  /** A call this node made ended with `outcome` (`ok` or an error code) after `seconds`. */
  call(service: string, action: string, outcome: string, seconds: number): void {
    this.#calls.observe(service, action, outcome, seconds);
  }

  /** A call this node served ended with `outcome` after `seconds`. */
  served(service: string, action: string, outcome: string, seconds: number): void {
    this.#served.observe(service, action, outcome, seconds);
  }

  /** Counts `n` events published, sent to nodes, or handed to subscribers here. */
  event(what: "published" | "sent" | "delivered", n = 1): void {
    this.#events[what] += n;
  }

  /** Counts an event dropped for `reason`. */
  eventDrop(reason: EventDrop, n = 1): void {
    this.#eventDrops.add(reason, n);
  }

  /** The calls this node made, by service, all actions and outcomes together (`/status`). */
  callsByService(): Map<string, ServiceCallsStatus> {
    const out = new Map<string, ServiceCallsStatus>();
    for (const { service, outcome, histogram: h } of this.#calls.list()) {
      let c = out.get(service);
      if (c === undefined) {
        c = { count: 0, errors: 0, le: h.buckets, buckets: h.counts.map(() => 0) };
        out.set(service, c);
      }
      c.count += h.count;
      if (outcome !== "ok") c.errors += h.count;
      for (let i = 0; i < h.counts.length; i++) c.buckets[i] += h.counts[i];
    }
    return out;
  }

  /** The figures now, with the socket's drops. */
  snapshot(drops: Record<string, number> = {}): ServiceMetrics {
    return {
      calls: this.#calls.list(),
      served: this.#served.list(),
      events: { ...this.#events },
      eventDrops: this.#eventDrops.snapshot(),
      drops: { ...drops },
      resilience: this.resilience.snapshot(),
    };
  }
}
