/**
 * The figures of calls surviving bad instances, by service: instances ejected (outliers.ts),
 * retries made, and retries the budget refused (retry_budget.ts). `/metrics` renders them
 * (metrics.ts). Series are keyed by service names callers choose, so their number is capped:
 * past the cap, new services are counted as `other`.
 * @module
 */

/** Most services counted per family; past it, new ones count as `other` (as stats.ts does). */
const MAX_SERIES = 256;

/** Counts by service, as `/metrics` renders them. */
export interface ResilienceMetrics {
  /** Instances ejected (each time one is taken out of the rotation). */
  ejections: Record<string, number>;
  /** Retries made (attempts after a call's first). */
  retries: Record<string, number>;
  /** Retries the retry budget refused (the call failed with its last error instead). */
  budgetRefusals: Record<string, number>;
}

class ByService {
  readonly #map = new Map<string, number>();

  add(service: string): void {
    const key = this.#map.has(service) || this.#map.size < MAX_SERIES ? service : "other";
    this.#map.set(key, (this.#map.get(key) ?? 0) + 1);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.#map);
  }
}

/** Counts ejections, retries and budget refusals; see the module docs. */
export class ResilienceStats {
  readonly #ejections = new ByService();
  readonly #retries = new ByService();
  readonly #refusals = new ByService();

  /** An instance of `service` was ejected. */
  ejected(service: string): void {
    this.#ejections.add(service);
  }

  /** A call of `service` was retried. */
  retry(service: string): void {
    this.#retries.add(service);
  }

  /** The retry budget of `service` refused a retry. */
  budgetRefused(service: string): void {
    this.#refusals.add(service);
  }

  /** The counts now. */
  snapshot(): ResilienceMetrics {
    return {
      ejections: this.#ejections.snapshot(),
      retries: this.#retries.snapshot(),
      budgetRefusals: this.#refusals.snapshot(),
    };
  }
}
