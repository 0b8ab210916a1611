/**
 * Hand-written parts against the npm libraries that do the same, measured in one run: the DNS
 * codec (lib/dns/decode.ts, encode.ts) against `dns-packet`, the `/metrics` text writer
 * (lib/metrics/registry.ts) against `prom-client`, and did-you-mean (lib/text/did_you_mean.ts)
 * against `didyoumean2` (and the edit distances `leven`, `fastest-levenshtein`). Per part: speed
 * (operations per second, median of 7 rounds), bytes allocated per operation, the minified bundle
 * (`deno bundle --minify`), and for the DNS codec what each does with hostile messages. The
 * modules' headers quote these figures as the reason they are kept.
 *
 * Allocation is the heap's growth over a batch with no collection in it: this file runs itself
 * in a child with `--expose-gc` and 64 MB semi-spaces (`runLibsBench` does that).
 *
 *   deno run -A scripts/bench/libs.ts [--json]
 * @module
 */

import { Buffer } from "node:buffer";
import dnsPacketModule from "npm:dns-packet@^5.6.1";
import promClient from "npm:prom-client@^15.1.3";
import didYouMean2 from "npm:didyoumean2@^7.0.4";
import leven from "npm:leven@^4.1.0";
import { distance as fastestDistance } from "npm:fastest-levenshtein@^1.0.16";
import {
  decodeMessage,
  DnsClass,
  type DnsMessage,
  DnsType,
  DnsWriter,
  emptyMessage,
  encodeInto,
  encodeMessage,
} from "../../lib/dns/wire.ts";
import type {
  Collector,
  HistogramFigures,
  LabelValues,
  MetricFamily,
  MetricSink,
} from "../../lib/metrics/registry.ts";
import { didYouMean } from "../../lib/text/did_you_mean.ts";
import { MAX_TCP_QUERY } from "../../lib/dns/server.ts";
import { optionHelp } from "../../lib/config/help.ts";
import { meshPage } from "./metrics.ts";

/** The part of dns-packet's API measured here (the package ships no types). */
interface DnsPacketApi {
  decode(buf: Buffer): DnsPacketMessage;
  encode(msg: DnsPacketMessage, buf?: Buffer, offset?: number): Buffer;
  encodingLength(msg: DnsPacketMessage): number;
}
/** A dns-packet message, loosely. */
type DnsPacketMessage = {
  questions: { name: string; type: string }[];
  answers: unknown[];
  additionals: unknown[];
  [k: string]: unknown;
};
const dnsPacket = dnsPacketModule as unknown as DnsPacketApi;

/** Speed and allocation of one operation. */
export interface OpFigures {
  /** Operations per second, median of 7 rounds. */
  opsPerSec: number;
  /** Bytes allocated per operation. */
  bytesPerOp: number;
}

/** One row of a weft-against-library table. */
export interface VersusRow {
  /** What is measured. */
  op: string;
  /** weft's figures. */
  weft: OpFigures;
  /** The library's figures. */
  lib: OpFigures;
}

/** What one DNS codec does with one hostile message. */
export interface HostileRow {
  /** The message. */
  input: string;
  /** weft's decoder: `ok` or its reason. */
  weft: string;
  /** dns-packet: `accepts (...)` or what it throws. */
  lib: string;
}

/** Everything one run measured. */
export interface LibsBenchResult {
  /** When and where. */
  machine: { date: string; cpus: number; loadavg: number[]; deno: string };
  /** DNS: weft's codec against dns-packet. */
  dns: { rows: VersusRow[]; hostile: HostileRow[] };
  /** `/metrics`: weft's writer against prom-client, per page size. */
  metrics: VersusRow[];
  /** did-you-mean: agreement on typos and speed. */
  didYouMean: {
    cases: number;
    weftRight: number;
    libRight: number;
    weftWrongOnNoise: number;
    libWrongOnNoise: number;
    rows: VersusRow[];
  };
  /** Minified bundle bytes of each part and each library. */
  bundles: Record<string, number>;
}

const gc = (globalThis as { gc?: () => void }).gc;

/** Median operations per second over 7 rounds of `n` calls, after a warm-up. */
function speed(f: () => unknown, n: number): number {
  for (let i = 0; i < n; i++) f();
  const rates: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) f();
    rates.push(n / ((performance.now() - t0) / 1000));
  }
  rates.sort((a, b) => a - b);
  return Math.round(rates[3]);
}

/** Bytes the heap grew by per call over `n` calls (0 without `--expose-gc`). */
function allocated(f: () => unknown, n: number): number {
  if (gc === undefined) return 0;
  gc();
  gc();
  const before = Deno.memoryUsage().heapUsed;
  for (let i = 0; i < n; i++) f();
  const after = Deno.memoryUsage().heapUsed;
  return Math.max(0, Math.round((after - before) / n));
}

async function measure(f: () => unknown, n: number): Promise<OpFigures> {
  const opsPerSec = speed(f, n);
  // Let the previous batch's garbage go before counting.
  await new Promise((r) => setTimeout(r, 0));
  return { opsPerSec, bytesPerOp: allocated(f, Math.min(n, 2000)) };
}

async function measureAsync(f: () => Promise<unknown>, n: number): Promise<OpFigures> {
  for (let i = 0; i < n; i++) await f();
  const rates: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await f();
    rates.push(n / ((performance.now() - t0) / 1000));
  }
  rates.sort((a, b) => a - b);
  let bytesPerOp = 0;
  if (gc !== undefined) {
    gc();
    const before = Deno.memoryUsage().heapUsed;
    const m = Math.min(n, 200);
    for (let i = 0; i < m; i++) await f();
    bytesPerOp = Math.max(0, Math.round((Deno.memoryUsage().heapUsed - before) / m));
  }
  return { opsPerSec: Math.round(rates[3]), bytesPerOp };
}

// --- DNS ---------------------------------------------------------------------------------------

const NAME = "web-1.mesh.weft";

/** A typical answer: an A query with EDNS answered with `n` A records and one AAAA. */
function weftAnswer(n: number): DnsMessage {
  const m = emptyMessage();
  m.id = 0x1234;
  m.qr = m.aa = m.rd = true;
  m.questions.push({ name: NAME, type: DnsType.A, class: DnsClass.IN });
  for (let i = 0; i < n; i++) {
    m.answers.push({
      name: NAME,
      type: DnsType.A,
      class: DnsClass.IN,
      ttl: 60,
      data: { kind: "address", address: new Uint8Array([10, 200, i >> 8, i & 255]) },
    });
  }
  m.additional.push({
    name: NAME,
    type: DnsType.AAAA,
    class: DnsClass.IN,
    ttl: 60,
    data: { kind: "address", address: new Uint8Array(16).fill(0xfd, 0, 1) },
  });
  m.edns = { udpSize: 1232, version: 0, dnssecOk: false, options: [] };
  return m;
}

/** The same answer as dns-packet's objects. */
function libAnswer(n: number): DnsPacketMessage {
  return {
    type: "response",
    id: 0x1234,
    flags: (1 << 10) | (1 << 8), // AA, RD
    questions: [{ type: "A", name: NAME }],
    answers: Array.from({ length: n }, (_, i) => ({
      type: "A",
      name: NAME,
      ttl: 60,
      data: `10.200.${i >> 8}.${i & 255}`,
    })),
    additionals: [
      { type: "AAAA", name: NAME, ttl: 60, data: "fd00::" },
      { type: "OPT", name: ".", udpPayloadSize: 1232, flags: 0, options: [] },
    ],
  };
}

function header(qd: number, an = 0, ar = 0): number[] {
  return [0x12, 0x34, 1, 0, qd >> 8, qd & 255, an >> 8, an & 255, 0, 0, ar >> 8, ar & 255];
}

/** Messages a hostile sender can make, each as bytes. */
export function hostileMessages(): [string, Uint8Array][] {
  const q = [0, 1, 0, 1]; // type A, class IN
  const rr = (
    type: number,
    rdlen: number,
  ) => [0, type >> 8, type & 255, 0, 1, 0, 0, 0, 1, 0, rdlen];
  const chain = [...header(200), 1, 97, 0, ...q];
  for (let i = 1, prev = 12; i < 200; i++) {
    const at = chain.length;
    chain.push(1, 97, 0xc0 | (prev >> 8), prev & 255, ...q);
    prev = at;
  }
  const cases: [string, number[]][] = [
    ["11 bytes: no header", [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0]],
    ["question cut inside its name", [...header(1), 5, 97, 98]],
    ["65,535 questions announced, one there", [...header(65535), 0, ...q]],
    ["compression pointer to itself", [...header(1), 0xc0, 12, ...q]],
    ["two pointers to each other", [...header(1), 0xc0, 14, 0xc0, 12, ...q]],
    ["pointer forward", [...header(1), 0xc0, 18, ...q, 1, 97, 0]],
    ["200 labels inline (name > 255 bytes)", [
      ...header(1),
      ...Array(200).fill([1, 97]).flat(),
      0,
      ...q,
    ]],
    ["200 names each one label and a pointer back", chain],
    ["label type 0b01", [...header(1), 0x41, 0, ...q]],
    ["A record with 3 bytes of data", [...header(0, 1), ...rr(1, 3), 1, 2, 3]],
    ["record data length past the end", [...header(0, 1), ...rr(1, 200), 1, 2, 3, 4]],
    ["TXT string longer than its record", [...header(0, 1), ...rr(16, 2), 9, 97]],
    ["OPT in the answer section", [...header(0, 1), ...rr(41, 0)]],
    ["two OPT records", [...header(0, 0, 2), ...rr(41, 0), ...rr(41, 0)]],
    ["bytes after the last record", [...header(1), 0, ...q, 9, 9, 9]],
  ];
  return cases.map(([k, v]) => [k, new Uint8Array(v)]);
}

/** What dns-packet does with `bytes`: accepts (with what) or throws (what). */
export function dnsPacketVerdict(bytes: Uint8Array): string {
  try {
    const m = dnsPacket.decode(Buffer.from(bytes));
    const answers = JSON.stringify(m.answers, (_, v) => typeof v === "bigint" ? String(v) : v);
    return `accepts (${m.questions.length} q, ${m.answers.length} an, ${m.additionals.length} ar` +
      `${m.answers.length ? `: ${answers.slice(0, 60)}` : ""})`;
  } catch (err) {
    return `throws ${(err as Error).name}: ${(err as Error).message}`;
  }
}

async function dnsRows(): Promise<VersusRow[]> {
  const query = new Uint8Array(
    dnsPacket.encode({
      type: "query",
      id: 0x1234,
      flags: 1 << 8,
      questions: [{ type: "A", name: NAME }],
      answers: [],
      additionals: [{ type: "OPT", name: ".", udpPayloadSize: 1232, flags: 0, options: [] }],
    }),
  );
  const rows: VersusRow[] = [];
  const queryBuf = Buffer.from(query);
  rows.push({
    op: "decode an A query with EDNS (44 bytes)",
    weft: await measure(() => decodeMessage(query), 100_000),
    lib: await measure(() => dnsPacket.decode(queryBuf), 100_000),
  });
  for (const n of [2, 40]) {
    const w = weftAnswer(n);
    const l = libAnswer(n);
    const bytes = encodeMessage(w);
    const buf = Buffer.from(bytes);
    const writer = new DnsWriter(2);
    const reuse = Buffer.alloc(dnsPacket.encodingLength(l));
    const iterations = n > 10 ? 10_000 : 100_000;
    rows.push({
      op: `decode an answer, ${n} A + AAAA + OPT (${bytes.length} bytes)`,
      weft: await measure(() => decodeMessage(bytes), iterations),
      lib: await measure(() => dnsPacket.decode(buf), iterations),
    });
    rows.push({
      op: `encode that answer (weft: its reused writer; lib: a new Buffer)`,
      weft: await measure(() => encodeInto(writer, w, 1232), iterations),
      lib: await measure(() => dnsPacket.encode(l), iterations),
    });
    rows.push({
      op: `encode that answer (lib into a reused Buffer)`,
      weft: await measure(() => encodeInto(writer, w, 1232), iterations),
      lib: await measure(() => dnsPacket.encode(l, reuse, 0), iterations),
    });
  }
  // The largest query the server takes over TCP (MAX_TCP_QUERY, 8 KiB) and over UDP (a 64 KiB
  // datagram), filled with A records whose names are pointers to a 253-byte name: what decoding
  // costs when every name is at the length limit.
  const label = [62, ...Array(62).fill(97)];
  for (
    const [size, what] of [[MAX_TCP_QUERY, "8 KiB (TCP's limit)"], [65535, "64 KiB (UDP)"]] as const
  ) {
    const big = [...header(1), ...label, ...label, ...label, ...label, 0, 0, 1, 0, 1];
    const records = Math.floor((size - big.length) / 16);
    big[6] = records >> 8;
    big[7] = records & 255;
    for (let i = 0; i < records; i++) {
      big.push(0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1);
    }
    const bigBytes = new Uint8Array(big);
    const bigBuf = Buffer.from(bigBytes);
    if (!decodeMessage(bigBytes).ok) throw new Error("the large message does not decode");
    const n = size > 10_000 ? 20 : 200;
    rows.push({
      op: `decode ${what}: ${records} A records, names 253 bytes by pointer`,
      weft: await measure(() => decodeMessage(bigBytes), n),
      lib: await measure(() => dnsPacket.decode(bigBuf), n),
    });
  }
  return rows;
}

// --- /metrics ----------------------------------------------------------------------------------

/** One family as recorded from weft's collectors. */
export type Recorded =
  | { family: MetricFamily<string>; kind: "samples"; samples: [LabelValues<string>, number][] }
  | {
    family: MetricFamily<string>;
    kind: "histogram";
    series: [LabelValues<string>, HistogramFigures][];
  };

/** The families and samples weft's collectors write for a page of `peers` peers. */
export function recordPage(peers: number): Recorded[] {
  const collectors: Collector[] = [];
  meshPage(peers, { register: (c: Collector) => (collectors.push(c), () => {}) });
  const out = new Map<string, Recorded>();
  const entry = (f: MetricFamily<string>): Recorded => {
    let e = out.get(f.name);
    if (e === undefined) {
      e = f.type === "histogram"
        ? { family: f, kind: "histogram", series: [] }
        : { family: f, kind: "samples", samples: [] };
      out.set(f.name, e);
    }
    return e;
  };
  const sink: MetricSink = {
    family: (...fs) => {
      for (const f of fs) entry(f);
    },
    sample: (f, labels, value) => {
      const e = entry(f as MetricFamily<string>);
      if (e.kind === "samples") e.samples.push([labels, value]);
    },
    histogram: (f, labels, h) => {
      const e = entry(f as MetricFamily<string>);
      if (e.kind === "histogram") e.series.push([labels, h]);
    },
  };
  for (const c of collectors) c(sink);
  return [...out.values()];
}

/** prom-client's registry holding the same families, their values set at scrape time. */
export function promPage(recorded: Recorded[]): promClient.Registry {
  const reg = new promClient.Registry();
  for (const r of recorded) {
    const f = r.family;
    const labelNames = [...f.labels];
    if (r.kind === "histogram") {
      const first = r.series[0]?.[1];
      const h = new promClient.Histogram({
        name: f.name,
        help: f.help,
        labelNames,
        buckets: first ? [...first.buckets] : [1],
        registers: [reg],
      });
      // Histograms are filled once (prom-client keeps observations, it cannot take figures):
      // this favours prom-client, whose scrape then only renders them.
      for (const [labels, fig] of r.series) {
        let prev = 0;
        for (let i = 0; i < fig.buckets.length; i++) {
          for (let k = prev; k < fig.counts[i]; k++) h.observe(labels, fig.buckets[i]);
          prev = fig.counts[i];
        }
      }
    } else if (f.type === "counter") {
      new promClient.Counter({
        name: f.name,
        help: f.help,
        labelNames,
        registers: [reg],
        collect() {
          this.reset();
          for (const [labels, v] of r.samples) this.inc(labels, v);
        },
      });
    } else {
      new promClient.Gauge({
        name: f.name,
        help: f.help,
        labelNames,
        registers: [reg],
        collect() {
          for (const [labels, v] of r.samples) this.set(labels, v);
        },
      });
    }
  }
  return reg;
}

async function metricsRows(): Promise<VersusRow[]> {
  const rows: VersusRow[] = [];
  for (const peers of [50, 500]) {
    const weft = meshPage(peers);
    const recorded = recordPage(peers);
    const prom = promPage(recorded);
    const weftText = weft.render();
    const promText = await prom.metrics();
    const samples = (t: string) => t.split("\n").filter((l) => l && !l.startsWith("#")).length;
    const n = peers > 100 ? 50 : 500;
    rows.push({
      op: `render ${peers} peers: weft ${samples(weftText)} samples, prom-client ${
        samples(promText)
      }`,
      weft: await measure(() => weft.render(), n),
      lib: await measureAsync(() => prom.metrics(), n),
    });
  }
  return rows;
}

// --- did-you-mean ------------------------------------------------------------------------------

/** Typos of `name`: a letter dropped, two swapped, one doubled, camelCase, snake_case. */
function typos(name: string): string[] {
  const out = new Set<string>();
  const i = Math.floor(name.length / 2);
  out.add(name.slice(0, i) + name.slice(i + 1));
  if (name.length > 3) out.add(name.slice(0, i - 1) + name[i] + name[i - 1] + name.slice(i + 1));
  out.add(name.slice(0, i) + name[i] + name.slice(i));
  out.add(name.replace(/-([a-z])/g, (_, c) => c.toUpperCase()));
  out.add(name.replaceAll("-", "_"));
  out.delete(name);
  return [...out];
}

/** Words that are no configuration key's typo: a suggestion for one of them is wrong. */
export const NOISE: readonly string[] = [
  "banana",
  "x",
  "zzzz",
  "help-me",
  "1234",
  "colour",
  "network-poilcy-file-path",
  "foo",
  "name",
  "host",
  "tls",
  "ttl",
  "ipv6",
  "port",
  "verbose",
  "config",
];

async function didYouMeanRows(): Promise<LibsBenchResult["didYouMean"]> {
  // The configuration file's keys, as unknownKey (lib/config/combinators.ts) is given them.
  const known = optionHelp().flatMap((o) => o.yaml ? [o.yaml] : []);
  const lib = (w: string) => didYouMean2(w, known) ?? undefined;
  let cases = 0, weftRight = 0, libRight = 0;
  for (const k of known) {
    for (const t of typos(k)) {
      cases++;
      if (didYouMean(t, known) === k) weftRight++;
      if (lib(t) === k) libRight++;
    }
  }
  const weftWrongOnNoise = NOISE.filter((w) => didYouMean(w, known) !== undefined).length;
  const libWrongOnNoise = NOISE.filter((w) => lib(w) !== undefined).length;
  const word = "listen-prot";
  const a = known[3], b = known[7];
  return {
    cases,
    weftRight,
    libRight,
    weftWrongOnNoise,
    libWrongOnNoise,
    rows: [
      {
        op: `one suggestion among ${known.length} configuration keys`,
        weft: await measure(() => didYouMean(word, known), 2000),
        lib: await measure(() => lib(word), 2000),
      },
      {
        op: "one edit distance (weft's inside didYouMean; leven)",
        weft: await measure(() => didYouMean(a, [b]), 100_000),
        lib: await measure(() => leven(a, b), 100_000),
      },
      {
        op: "one edit distance (fastest-levenshtein)",
        weft: await measure(() => didYouMean(a, [b]), 100_000),
        lib: await measure(() => fastestDistance(a, b), 100_000),
      },
    ],
  };
}

// --- bundles -----------------------------------------------------------------------------------

/** The minified bundle of `source` (a module's text), in bytes; 0 when bundling fails. */
async function bundleBytes(source: string): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "weft-libs-" });
  try {
    await Deno.writeTextFile(`${dir}/entry.ts`, source);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--minify", "--platform=deno", "-o", `${dir}/out.js`, `${dir}/entry.ts`],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) return 0;
    return (await Deno.stat(`${dir}/out.js`)).size;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function bundles(): Promise<Record<string, number>> {
  const here = new URL("../../", import.meta.url).pathname;
  const sizes: Record<string, number> = {};
  const entries: Record<string, string> = {
    "weft DNS codec (lib/dns/wire.ts)": `export * from "${here}lib/dns/wire.ts";`,
    "dns-packet": `import p from "npm:dns-packet@^5.6.1"; export default p;`,
    "weft /metrics writer (lib/metrics/registry.ts)":
      `export * from "${here}lib/metrics/registry.ts";`,
    "prom-client": `export { Registry, Counter, Gauge, Histogram } from "npm:prom-client@^15.1.3";`,
    "weft did-you-mean (lib/text/did_you_mean.ts)":
      `export * from "${here}lib/text/did_you_mean.ts";`,
    "didyoumean2": `import d from "npm:didyoumean2@^7.0.4"; export default d;`,
    "leven": `import d from "npm:leven@^4.1.0"; export default d;`,
    "fastest-levenshtein": `export { distance } from "npm:fastest-levenshtein@^1.0.16";`,
  };
  for (const [k, src] of Object.entries(entries)) sizes[k] = await bundleBytes(src);
  return sizes;
}

/** Every measurement, in this process (run it with `--expose-gc` for allocations). */
export async function measureLibs(): Promise<LibsBenchResult> {
  const hostile = hostileMessages().map(([input, bytes]): HostileRow => {
    const r = decodeMessage(bytes);
    return { input, weft: r.ok ? "ok" : r.error, lib: dnsPacketVerdict(bytes) };
  });
  return {
    machine: {
      date: new Date().toISOString(),
      cpus: navigator.hardwareConcurrency,
      loadavg: Deno.loadavg(),
      deno: Deno.version.deno,
    },
    dns: { rows: await dnsRows(), hostile },
    metrics: await metricsRows(),
    didYouMean: await didYouMeanRows(),
    bundles: await bundles(),
  };
}

/** Runs the measurements in a child with the V8 flags allocation counting needs. */
export async function runLibsBench(): Promise<LibsBenchResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc,--min-semi-space-size=64,--max-semi-space-size=64",
      new URL(import.meta.url).pathname,
      "--json",
      "--child",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error("scripts/bench/libs.ts failed");
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** Prints one run's tables. */
export function printLibs(r: LibsBenchResult): void {
  const row = (x: VersusRow) => ({
    op: x.op,
    "weft ops/s": x.weft.opsPerSec,
    "lib ops/s": x.lib.opsPerSec,
    "weft/lib speed": +(x.weft.opsPerSec / x.lib.opsPerSec).toFixed(2),
    "weft heap B/op": x.weft.bytesPerOp,
    "lib heap B/op": x.lib.bytesPerOp,
  });
  console.log(
    `${r.machine.date}, ${r.machine.cpus} CPUs, load ${
      r.machine.loadavg.map((l) => l.toFixed(2)).join(" ")
    }, Deno ${r.machine.deno}`,
  );
  console.log("DNS codec: weft against dns-packet");
  console.table(r.dns.rows.map(row));
  console.log("DNS codec: hostile messages");
  console.table(r.dns.hostile);
  console.log("/metrics: weft's writer against prom-client");
  console.table(r.metrics.map(row));
  const d = r.didYouMean;
  console.log(
    `did-you-mean: ${d.cases} typos of configuration keys: weft right ${d.weftRight}, didyoumean2 ` +
      `right ${d.libRight}; ${NOISE.length} unrelated words given a suggestion: weft ` +
      `${d.weftWrongOnNoise}, didyoumean2 ${d.libWrongOnNoise}`,
  );
  console.table(d.rows.map(row));
  console.log("minified bundles (deno bundle --minify), bytes");
  console.table(r.bundles);
}

if (import.meta.main) {
  const r = Deno.args.includes("--child") ? await measureLibs() : await runLibsBench();
  if (Deno.args.includes("--json")) console.log(JSON.stringify(r));
  else printLibs(r);
}
