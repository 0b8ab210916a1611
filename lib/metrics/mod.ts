/**
 * The Prometheus `/metrics` registry: metric families declared once, collectors that read live
 * state at each scrape, and the text renderer. An agent's `metrics` is one of these; a program
 * embedding weft registers its own collectors on it.
 *
 * @example A collector of one's own on an agent's page
 * ```ts
 * import { counter, MetricsRegistry } from "@weft/weft/metrics";
 *
 * const JOBS = counter("myapp_jobs_total", "Jobs done, by outcome.", ["outcome"]);
 * const done = { ok: 0, failed: 0 };
 * const registry = new MetricsRegistry(); // or agent.metrics
 * const remove = registry.register((out) => {
 *   out.sample(JOBS, { outcome: "ok" }, done.ok);
 *   out.sample(JOBS, { outcome: "failed" }, done.failed);
 * });
 * console.log(registry.render());
 * remove();
 * ```
 * @module
 */

export {
  type Collector,
  counter,
  gauge,
  histogram,
  type HistogramFigures,
  type LabelValues,
  MetricFamily,
  METRICS_CONTENT_TYPE,
  type MetricSink,
  MetricsRegistry,
  type MetricType,
  sampleCounts,
} from "./registry.ts";
