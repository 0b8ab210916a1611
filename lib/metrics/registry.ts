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

import { giveAway } from "./given_bytes.ts";

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

/** Bytes of a chunk of the page {@linkcode MetricsRegistry.renderChunks} yields by default. */
export const METRICS_CHUNK_BYTES = 64 * 1024;

// A family's pending text is encoded once it reaches this many UTF-16 units: few encoder calls,
// and no family holds more than this as a string (a rope of small pieces) at a time.
const PENDING_UNITS = 8 * 1024;
// The page's bytes are written into blocks of this size, each family keeping its runs of them.
const BLOCK_BYTES = 64 * 1024;
const encoder = new TextEncoder();

/** A family on the page: its lines as runs of bytes, and text not yet encoded. */
interface FamilyEntry {
  readonly family: MetricFamily<string>;
  /** Runs of the scrape's blocks, in order. */
  readonly runs: Uint8Array[];
  pending: string;
}

/**
 * One scrape: the families in the order first written, each with its sample lines. Lines are
 * encoded to UTF-8 as they come, a few KiB at a time, into blocks shared by the families: the
 * page is held as bytes (about one byte a character), never as one string of millions of pieces
 * to flatten and encode again (at 10,000 peers that took about 180 MiB of heap per read).
 */
class Scrape implements MetricSink {
  readonly #families = new Map<string, FamilyEntry>();
  #block = new Uint8Array(BLOCK_BYTES);
  #used = 0;

  #entry(family: MetricFamily<string>): FamilyEntry {
    const e = this.#families.get(family.name);
    if (e === undefined) {
      const fresh: FamilyEntry = { family, runs: [], pending: "" };
      this.#families.set(family.name, fresh);
      return fresh;
    }
    if (e.family !== family) throw new Error(`metric family "${family.name}" declared twice`);
    return e;
  }

  #add(e: FamilyEntry, text: string): void {
    e.pending += text;
    if (e.pending.length >= PENDING_UNITS) this.#encode(e);
  }

  /** Moves a family's pending text into the blocks, growing its last run when it ends where the text goes. */
  #encode(e: FamilyEntry): void {
    let text = e.pending;
    e.pending = "";
    while (text.length > 0) {
      if (BLOCK_BYTES - this.#used < 4) this.#newBlock();
      const start = this.#used;
      const { read, written } = encoder.encodeInto(text, this.#block.subarray(start));
      this.#used += written;
      const last = e.runs.at(-1);
      if (
        last !== undefined && last.buffer === this.#block.buffer &&
        last.byteOffset + last.length === start
      ) {
        e.runs[e.runs.length - 1] = this.#block.subarray(last.byteOffset, start + written);
      } else if (written > 0) {
        e.runs.push(this.#block.subarray(start, start + written));
      }
      text = text.slice(read);
      if (text.length > 0) this.#newBlock();
    }
  }

  #newBlock(): void {
    this.#block = new Uint8Array(BLOCK_BYTES);
    this.#used = 0;
  }

  family(...families: MetricFamily<string>[]): void {
    for (const f of families) this.#entry(f);
  }

  sample<L extends string>(family: MetricFamily<L>, labels: LabelValues<L>, value: number): void {
    if (family.type === "histogram") throw new Error(`${family.name} is a histogram`);
    const e = this.#entry(family as MetricFamily<string>);
    this.#add(e, `${family.name}${family.labelText(labels)} ${formatValue(value)}\n`);
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
    this.#add(e, s);
  }

  /** The page in chunks of `size` bytes (the last one shorter), families in order. */
  *chunks(size: number): Generator<Uint8Array> {
    for (const e of this.#families.values()) if (e.pending !== "") this.#encode(e);
    let chunk = new Uint8Array(size);
    let used = 0;
    for (const e of this.#families.values()) {
      for (let run of [encoder.encode(e.family.head), ...e.runs]) {
        while (run.length > 0) {
          const n = Math.min(size - used, run.length);
          chunk.set(run.subarray(0, n), used);
          used += n;
          run = run.subarray(n);
          if (used === size) {
            // Never touched again here: the API front may move it to its worker, not copy it.
            yield giveAway(chunk);
            chunk = new Uint8Array(size);
            used = 0;
          }
        }
      }
      // The family's blocks are let go as soon as it is sent.
      e.runs.length = 0;
    }
    if (used > 0) yield chunk.subarray(0, used);
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

  /**
   * Runs every collector now and returns the document's UTF-8 bytes in chunks of at most
   * `chunkBytes` (every one that full but the last; none if no collector wrote anything).
   * A collector's error is thrown here, before any chunk.
   */
  renderChunks(chunkBytes: number = METRICS_CHUNK_BYTES): Iterable<Uint8Array> {
    if (!Number.isInteger(chunkBytes) || chunkBytes < 1) {
      throw new RangeError(`bad chunk size ${chunkBytes}`);
    }
    const scrape = new Scrape();
    for (const c of this.#collectors) c(scrape);
    return scrape.chunks(chunkBytes);
  }

  /** The document as a stream of chunks (see {@linkcode renderChunks}), for an HTTP body. */
  renderStream(chunkBytes: number = METRICS_CHUNK_BYTES): ReadableStream<Uint8Array> {
    const chunks = this.renderChunks(chunkBytes)[Symbol.iterator]();
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      cancel() {
        chunks.return?.();
      },
    }, { highWaterMark: 0 });
  }

  /** Runs every collector and renders the document (ends with a line feed; empty if none). */
  render(): string {
    const decoder = new TextDecoder();
    let out = "";
    for (const chunk of this.renderChunks()) out += decoder.decode(chunk, { stream: true });
    return out + decoder.decode();
  }
}
