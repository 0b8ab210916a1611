import assert from "node:assert/strict";
import {
  counter,
  escapeHelp,
  escapeLabelValue,
  formatValue,
  gauge,
  histogram,
  MetricFamily,
  type MetricSink,
  MetricsRegistry,
  sampleCounts,
} from "./registry.ts";
import { Histogram } from "../health/histogram.ts";
import { parsePrometheus } from "../../tests/fixtures/prom_parse.ts";
import { takeGiven } from "./given_bytes.ts";

Deno.test("metrics registry: escaping and number formatting", () => {
  assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  assert.equal(escapeLabelValue("plain"), "plain");
  assert.equal(escapeHelp('say "hi"\\\nbye'), 'say "hi"\\\\\\nbye');
  assert.equal(formatValue(Infinity), "+Inf");
  assert.equal(formatValue(-Infinity), "-Inf");
  assert.equal(formatValue(NaN), "NaN");
  assert.equal(formatValue(-0), "0");
  assert.equal(formatValue(1.5e21), "1.5e+21");
  assert.equal(formatValue(123), "123");
  const g = gauge("g", "line one\nline two \\ end", ["l"]);
  const r = new MetricsRegistry();
  r.register((out) => out.sample(g, { l: "x\ny" }, 2));
  const text = r.render();
  assert.equal(
    text,
    '# HELP g line one\\nline two \\\\ end\n# TYPE g gauge\ng{l="x\\ny"} 2\n',
  );
  const doc = parsePrometheus(text);
  assert.equal(doc.families.get("g")!.help, "line one\nline two \\ end");
  assert.equal(doc.samples[0].labels.l, "x\ny");
});

Deno.test("metrics registry: refuses bad names, families declared twice and le on histograms", () => {
  assert.throws(() => gauge("1bad", "x"), /bad metric name/);
  assert.throws(() => gauge("ok", "x", ["bad-label"]), /label/);
  assert.throws(() => gauge("ok2", "x", ["__reserved"]), /label/);
  assert.throws(() => gauge("ok3", "x", ["a", "a"]), /twice/);
  assert.throws(() => histogram("h", "x", ["le"]), /le/);
  const a = counter("c_total", "x");
  const b = counter("c_total", "x");
  const r = new MetricsRegistry();
  r.register((out) => out.sample(a, {}, 1));
  r.register((out) => out.sample(b, {}, 1));
  assert.throws(() => r.render(), /twice/);
  const h = histogram("h", "x");
  const bad = new MetricsRegistry();
  bad.register((out) => out.histogram(h, {}, { buckets: [1, 2], counts: [1], sum: 1, count: 1 }));
  assert.throws(() => bad.render(), /differ in length/);
  const missing = new MetricsRegistry();
  const l = gauge("l", "x", ["a", "b"]);
  missing.register((out) => out.sample(l, { a: "1" } as { a: string; b: string }, 1));
  assert.throws(() => missing.render(), /label "b" has no value/);
  assert.throws(() => new Histogram([2, 1]), /ascending/);
});

Deno.test("metrics registry: HELP and TYPE once per family, whichever collectors write it", () => {
  const drops = counter("x_drops_total", "Drops, by side and reason.", ["side", "reason"]);
  const up = gauge("x_up", "Up.");
  const empty = gauge("x_empty", "Shown without samples.");
  const r = new MetricsRegistry();
  r.register((out) => sampleCounts(out, drops, "reason", { b: 2, a: 1 }, { side: "server" }));
  r.register((out) => {
    out.family(empty);
    out.sample(up, {}, 1);
    out.sample(drops, { side: "client", reason: "c" }, 3);
  });
  const h = new Histogram([1]);
  h.observe(0.5);
  const lat = histogram("x_seconds", "Latency.", ["op"]);
  const off = r.register((out) => out.histogram(lat, { op: "get" }, h.snapshot()));
  assert.equal(
    r.render(),
    [
      "# HELP x_drops_total Drops, by side and reason.",
      "# TYPE x_drops_total counter",
      'x_drops_total{side="server",reason="a"} 1',
      'x_drops_total{side="server",reason="b"} 2',
      'x_drops_total{side="client",reason="c"} 3',
      "# HELP x_empty Shown without samples.",
      "# TYPE x_empty gauge",
      "# HELP x_up Up.",
      "# TYPE x_up gauge",
      "x_up 1",
      "# HELP x_seconds Latency.",
      "# TYPE x_seconds histogram",
      'x_seconds_bucket{op="get",le="1"} 1',
      'x_seconds_bucket{op="get",le="+Inf"} 1',
      'x_seconds_sum{op="get"} 0.5',
      'x_seconds_count{op="get"} 1',
      "",
    ].join("\n"),
  );
  off();
  assert.ok(!r.render().includes("x_seconds"), "unregistered");
  assert.equal(new MetricsRegistry().render(), "");
  // A counter takes no histogram series, and a histogram no plain sample.
  const wrong = new MetricsRegistry();
  wrong.register((out) => out.sample(lat, { op: "x" }, 1));
  assert.throws(() => wrong.render(), /is a histogram/);
});

/** The page as the registry rendered it as one string (one scrape's sink, kept here to compare). */
function referencePage(collectors: ((out: MetricSink) => void)[]): string {
  const families = new Map<string, { family: MetricFamily<string>; lines: string }>();
  const entry = (f: MetricFamily<string>) => {
    let e = families.get(f.name);
    if (e === undefined) families.set(f.name, e = { family: f, lines: "" });
    return e;
  };
  const sink: MetricSink = {
    family: (...fs) => fs.forEach(entry),
    sample: (f, labels, v) => {
      entry(f as MetricFamily<string>).lines += `${f.name}${f.labelText(labels)} ${
        formatValue(v)
      }\n`;
    },
    histogram: (f, labels, h) => {
      const e = entry(f as MetricFamily<string>);
      h.buckets.forEach((b, i) => {
        e.lines += `${f.name}_bucket${f.labelText(labels, formatValue(b))} ${h.counts[i]}\n`;
      });
      e.lines += `${f.name}_bucket${f.labelText(labels, "+Inf")} ${h.count}\n`;
      e.lines += `${f.name}_sum${f.labelText(labels)} ${formatValue(h.sum)}\n`;
      e.lines += `${f.name}_count${f.labelText(labels)} ${h.count}\n`;
    },
  };
  for (const c of collectors) c(sink);
  let out = "";
  for (const { family, lines } of families.values()) out += family.head + lines;
  return out;
}

Deno.test("metrics registry: the page comes in chunks of a bound whose bytes are the page", () => {
  // Families written interleaved, peer by peer, with labels of 2-, 3- and 4-byte characters, so
  // runs cross blocks and characters cross chunks.
  const rx = counter("t_rx_bytes_total", "Bytes in.", ["peer", "name"]);
  const up = gauge("t_up", "Up.", ["peer", "name"]);
  const rtt = histogram("t_rtt_seconds", "RTT.", ["peer"]);
  const idle = gauge("t_idle", "Never written.");
  const h = new Histogram();
  for (let i = 0; i < 30; i++) h.observe(i / 1000);
  const figures = h.snapshot();
  const peers = Array.from({ length: 3000 }, (_, i) => ({
    peer: `peer-${i}-${"é日🙂".repeat(i % 4)}`,
    name: `n"${i}\\\n`,
  }));
  const collectors = [
    (out: MetricSink) => {
      out.family(idle);
      for (const [i, { peer, name }] of peers.entries()) {
        out.sample(rx, { peer, name }, i * 1e6);
        out.sample(up, { peer, name }, i % 2);
        out.histogram(rtt, { peer }, figures);
      }
    },
    (out: MetricSink) => out.sample(up, { peer: "late", name: "x" }, NaN),
  ];
  const r = new MetricsRegistry();
  for (const c of collectors) r.register(c);
  const want = new TextEncoder().encode(referencePage(collectors));
  assert.ok(want.length > 1024 * 1024, `a page of ${want.length} bytes`);
  for (const size of [5, 4096, 65536]) {
    const chunks = [...r.renderChunks(size)];
    chunks.slice(0, -1).forEach((c) => assert.equal(c.length, size));
    // Each full chunk is given away whole: the API front moves it to its worker, not a copy.
    chunks.slice(0, -1).forEach((c) => assert.equal(takeGiven(c), c.buffer));
    assert.ok(chunks.at(-1)!.length <= size && chunks.at(-1)!.length > 0);
    const got = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) got.set(c, at), at += c.length;
    assert.equal(got.length, want.length, `chunks of ${size}`);
    assert.ok(got.every((b, i) => b === want[i]), `chunks of ${size}`);
  }
  assert.equal(r.render(), new TextDecoder().decode(want));
  assert.deepEqual([...new MetricsRegistry().renderChunks()], []);
  assert.throws(() => r.renderChunks(0), RangeError);
});

Deno.test("metrics registry: the stream carries the page chunk by chunk", async () => {
  const g = gauge("t_g", "G.", ["i"]);
  const r = new MetricsRegistry();
  r.register((out) => {
    for (let i = 0; i < 5000; i++) out.sample(g, { i: String(i) }, i);
  });
  const sizes: number[] = [];
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of r.renderStream(1000)) {
    sizes.push(chunk.length);
    text += decoder.decode(chunk, { stream: true });
  }
  assert.ok(sizes.length > 50 && sizes.slice(0, -1).every((n) => n === 1000), String(sizes));
  assert.equal(text, r.render());
  assert.match(text, /^t_g\{i="4999"\} 4999$/m);
});
