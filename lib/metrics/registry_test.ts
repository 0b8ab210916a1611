import assert from "node:assert/strict";
import {
  counter,
  escapeHelp,
  escapeLabelValue,
  formatValue,
  gauge,
  histogram,
  MetricsRegistry,
  sampleCounts,
} from "./registry.ts";
import { Histogram } from "../health/histogram.ts";
import { parsePrometheus } from "../../tests/fixtures/prom_parse.ts";

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
