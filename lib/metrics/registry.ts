/**
 * `/metrics`: a small registry of collectors and the Prometheus text exposition format (version
 * 0.0.4). A family (name, type, help, label names) is declared once, beside the subsystem it
 * describes; a collector reads that subsystem's live state at scrape time and writes samples of
 * its families to a {@linkcode MetricSink}; the registry renders them, HELP and TYPE once per
 * family, label values escaped. Adding a metric touches one file: its subsystem's collector.
 * The example of `@weft/weft/metrics` registers a collector of its own.
 *
 * Why not the npm package `prom-client` (measured by scripts/bench/libs.ts, in `deno task bench`;
 * 2026-11-26, 2 CPUs at load 12, Deno 2.9.6): its metrics hold values that are set, so reading
 * live state at scrape time is a `collect()` setting every sample again. The agent's page that
 * way (2,363 samples at 50 peers, 14,333 at 500, the same as here) rendered 3 to 7 times slower (three runs),
 * allocating 1.7 to 3.9 times the heap bytes, and bundles to 67 KB minified (with its three
 * dependencies) against 2.8 KB here.
 * @module
 */

/** The `content-type` of the text format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** The type of a metric family. */
export type MetricType = "counter" | "gauge" | "histogram";

/** A histogram's figures: cumulative counts per upper bound (`+Inf` left out), sum and count. */
export interface HistogramFigures {
  /** Upper bounds, ascending. */
  readonly buckets: readonly number[];
  /** Observations at or below each bound. */
  readonly counts: readonly number[];
  /** Sum of the observations. */
  readonly sum: number;
  /** Number of observations. */
  readonly count: number;
}

/** A sample's label values, one per label name of its family. */
export type LabelValues<L extends string> = { readonly [K in L]: string };

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const LABEL_ESCAPES = /[\\"\n]/;

/** Formats a sample value as the format wants it (`+Inf`, `-Inf`, `NaN`). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return Object.is(v, -0) ? "0" : String(v);
}

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(v: string): string {
  if (!LABEL_ESCAPES.test(v)) return v;
  return v.replace(/[\\"\n]/g, (c) => (c === "\\" ? "\\\\" : c === '"' ? '\\"' : "\\n"));
}

/** Escapes HELP text: backslash and line feed. */
export function escapeHelp(v: string): string {
  return v.replace(/[\\\n]/g, (c) => (c === "\\" ? "\\\\" : "\\n"));
}

/** A metric family, declared once (see {@linkcode counter}, {@linkcode gauge}, {@linkcode histogram}). */
export class MetricFamily<L extends string = string> {
  /** The family's name. */
  readonly name: string;
  /** Its type. */
  readonly type: MetricType;
  /** Its help text (unescaped). */
  readonly help: string;
  /** Its label names, in the order samples show them. */
  readonly labels: readonly L[];
  /** The HELP and TYPE lines. */
  readonly head: string;
  /** `name="` per label, precomputed. */
  readonly #openers: string[];

  /** Declares a family; throws on a bad name, a bad or repeated label name. */
  constructor(type: MetricType, name: string, help: string, labels: readonly L[]) {
    if (!METRIC_NAME.test(name)) throw new Error(`bad metric name "${name}"`);
    for (const [i, l] of labels.entries()) {
      if (!LABEL_NAME.test(l) || l.startsWith("__")) throw new Error(`bad label name "${l}"`);
      if (labels.indexOf(l) !== i) throw new Error(`label "${l}" declared twice`);
      if (type === "histogram" && l === "le") {
        throw new Error('a histogram series cannot have an "le" label');
      }
    }
    this.type = type;
    this.name = name;
    this.help = help;
    this.labels = [...labels];
    this.head = `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
    this.#openers = this.labels.map((l, i) => `${i ? "," : ""}${l}="`);
  }

  /** The `{a="x",b="y"}` part of a sample (empty without labels), `extra` last (a bucket's `le`). */
  labelText(values: LabelValues<L>, extra?: string): string {
    const n = this.#openers.length;
    if (n === 0) return extra === undefined ? "" : `{le="${extra}"}`;
    let s = "{";
    for (let i = 0; i < n; i++) {
      const v = values[this.labels[i]];
      if (typeof v !== "string") {
        throw new Error(`${this.name}: label "${this.labels[i]}" has no value`);
      }
      s += this.#openers[i] + escapeLabelValue(v) + '"';
    }
    return extra === undefined ? s + "}" : `${s},le="${extra}"}`;
  }
}

/** Declares a counter family (by convention its name ends in `_total`). */
export function counter<L extends string = never>(
  name: string,
  help: string,
  labels: readonly L[] = [],
): MetricFamily<L> {
  return new MetricFamily("counter", name, help, labels);
}

/** Declares a gauge family. */
export function gauge<L extends string = never>(
  name: string,
  help: string,
  labels: readonly L[] = [],
): MetricFamily<L> {
  return new MetricFamily("gauge", name, help, labels);
}

/** Declares a histogram family: `_bucket` series per bound and `+Inf`, then `_sum` and `_count`. */
export function histogram<L extends string = never>(
  name: string,
  help: string,
  labels: readonly L[] = [],
): MetricFamily<L> {
  return new MetricFamily("histogram", name, help, labels);
}

/** Where a collector writes its samples during a scrape. */
export interface MetricSink {
  /** Shows the families (HELP and TYPE) even if no sample of them follows, in this order. */
  family(...families: MetricFamily<string>[]): void;
  /** One sample of a counter or gauge. */
  sample<L extends string>(family: MetricFamily<L>, labels: LabelValues<L>, value: number): void;
  /** One series of a histogram. */
  histogram<L extends string>(
    family: MetricFamily<L>,
    labels: LabelValues<L>,
    figures: HistogramFigures,
  ): void;
}

/** Reads live state at scrape time and writes it to the sink. */
export type Collector = (out: MetricSink) => void;

/**
 * Samples of `family` from counts by key, in key order: each labelled `label` = its key, with
 * `fixed` values for the family's other labels.
 */
export function sampleCounts<L extends string>(
  out: MetricSink,
  family: MetricFamily<L>,
  label: L,
  counts: Readonly<Record<string, number>>,
  fixed?: Omit<LabelValues<L>, typeof label>,
): void {
  out.family(family);
  for (const key of Object.keys(counts).sort()) {
    out.sample(family, { ...fixed, [label]: key } as LabelValues<L>, counts[key]);
  }
}

/** One scrape: the families in the order first written, each with its sample lines. */
class Scrape implements MetricSink {
  readonly #families = new Map<string, { family: MetricFamily<string>; lines: string }>();

  #entry(family: MetricFamily<string>): { lines: string } {
    const e = this.#families.get(family.name);
    if (e === undefined) {
      const fresh = { family, lines: "" };
      this.#families.set(family.name, fresh);
      return fresh;
    }
    if (e.family !== family) throw new Error(`metric family "${family.name}" declared twice`);
    return e;
  }

  family(...families: MetricFamily<string>[]): void {
    for (const f of families) this.#entry(f);
  }

  sample<L extends string>(family: MetricFamily<L>, labels: LabelValues<L>, value: number): void {
    if (family.type === "histogram") throw new Error(`${family.name} is a histogram`);
    const e = this.#entry(family as MetricFamily<string>);
    e.lines += `${family.name}${family.labelText(labels)} ${formatValue(value)}\n`;
  }

  histogram<L extends string>(
    family: MetricFamily<L>,
    labels: LabelValues<L>,
    h: HistogramFigures,
  ): void {
    if (family.type !== "histogram") throw new Error(`${family.name} is not a histogram`);
    if (h.counts.length !== h.buckets.length) {
      throw new Error("histogram counts and buckets differ in length");
    }
    const e = this.#entry(family as MetricFamily<string>);
    const name = family.name;
    let s = "";
    for (let i = 0; i < h.buckets.length; i++) {
      s += `${name}_bucket${family.labelText(labels, formatValue(h.buckets[i]))} ${
        formatValue(h.counts[i])
      }\n`;
    }
    const plain = family.labelText(labels);
    s += `${name}_bucket${family.labelText(labels, "+Inf")} ${formatValue(h.count)}\n`;
    s += `${name}_sum${plain} ${formatValue(h.sum)}\n`;
    s += `${name}_count${plain} ${formatValue(h.count)}\n`;
    e.lines += s;
  }

  text(): string {
    let out = "";
    for (const { family, lines } of this.#families.values()) out += family.head + lines;
    return out;
  }
}

/** The collectors `/metrics` shows, in the order registered; renders them per scrape. */
export class MetricsRegistry {
  readonly #collectors = new Set<Collector>();

  /** Adds a collector; returns a function that removes it. */
  register(collector: Collector): () => void {
    // A set would take the same function once: wrap it so each registration counts.
    const entry: Collector = (out) => collector(out);
    this.#collectors.add(entry);
    return () => {
      this.#collectors.delete(entry);
    };
  }

  /** Runs every collector and renders the document (ends with a line feed; empty if none). */
  render(): string {
    const scrape = new Scrape();
    for (const c of this.#collectors) c(scrape);
    return scrape.text();
  }
}
