/**
 * The Prometheus `/metrics` registry: metric families declared once, collectors that read live
 * state at each scrape, and the text renderer. An agent's `metrics` is one of these; a program
 * embedding weft registers its own collectors on it.
 *
 * @example A collector of one's own on an agent's page
 * ```ts run
 * import { counter, MetricsRegistry } from "@weft/weft/metrics";
 *
 * const JOBS = counter("myapp_jobs_total", "Jobs done, by outcome.", ["outcome"]);
 * const done = { ok: 3, failed: 1 };
 * const registry = new MetricsRegistry(); // or agent.metrics
 * const remove = registry.register((out) => {
 *   out.sample(JOBS, { outcome: "ok" }, done.ok);
 *   out.sample(JOBS, { outcome: "failed" }, done.failed);
 * });
 * console.log(registry.render().trimEnd());
 * // prints: # HELP myapp_jobs_total Jobs done, by outcome.
 * // prints: # TYPE myapp_jobs_total counter
 * // prints: myapp_jobs_total{outcome="ok"} 3
 * // prints: myapp_jobs_total{outcome="failed"} 1
 * remove(); // the family leaves the page
 * console.log(registry.render() === ""); // prints: true
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
  METRICS_CHUNK_BYTES,
  METRICS_CONTENT_TYPE,
  type MetricSink,
  MetricsRegistry,
  type MetricType,
  sampleCounts,
} from "./registry.ts";
export { ReasonCounter } from "./reasons.ts";
export {
  type HeapFigures,
  heapFigures,
  processCollector,
  type ProcessFigures,
  readProcessFigures,
} from "./process.ts";
