/**
 * The network benchmark's own logic (no lab, no root): statistics, the tables and ratios it
 * prints, and how it finds wireguard-go builds. Its figures are never asserted.
 */
import assert from "node:assert/strict";
import { type BuildFigures, type MeasureKey, MEASURES, medianFigures, tables } from "./net.ts";
import { findBuilds } from "./net_lab.ts";
import { counterDelta, median, percentile } from "./net_measure.ts";

Deno.test("median and nearest-rank percentile", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  const xs = Array.from({ length: 50 }, (_, i) => i + 1);
  assert.equal(percentile(xs, 99), 50);
  assert.equal(percentile(xs, 50), 25);
  assert.equal(percentile([7], 99), 7);
});

Deno.test("counterDelta keeps only what moved", () => {
  assert.deepEqual(counterDelta({ a: 1, b: 2 }, { a: 1, b: 5, c: 1 }), { b: 3, c: 1 });
});

function figures(v: number): Record<MeasureKey, number> {
  return Object.fromEntries(MEASURES.map(([k]) => [k, v])) as Record<MeasureKey, number>;
}

Deno.test("tables: a column per build, weft's ratio to each wireguard-go, failures shown", () => {
  const results: BuildFigures[] = [
    { build: { name: "weft", kind: "weft", version: "" }, figures: figures(2) },
    {
      build: { name: "wireguard-go", kind: "wireguard-go", version: "" },
      figures: { ...figures(4), udp1gLoss: 0 },
    },
    { build: { name: "other", kind: "wireguard-go", version: "" }, error: "would not start" },
  ];
  const t = tables(results);
  assert.equal(t.rows.length, MEASURES.length);
  assert.deepEqual(t.rows[0], {
    measure: MEASURES[0][1],
    weft: 2,
    "wireguard-go": 4,
    other: "failed",
  });
  const byMeasure = (label: string) => t.ratios.find((r) => r.measure === label)!;
  assert.equal(byMeasure("TCP 1 stream, Mbit/s")["weft / wireguard-go"], "0.50");
  // A ratio to a zero loss means nothing: said so, not printed as Infinity.
  assert.equal(byMeasure("UDP at 1G: loss %")["weft / wireguard-go"], "n/a");
  assert.equal(byMeasure("TCP 1 stream, Mbit/s")["weft / other"], "n/a");
  assert.equal(t.ratio, 0.5);
});

Deno.test("findBuilds: WG_GO paths, a folder's wireguard-go binaries, and what is missing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-netbench-test-" });
  try {
    const bin = `${dir}/wireguard-go-test`;
    await Deno.writeTextFile(bin, "#!/bin/sh\necho 'wireguard-go v9.9.9'\n", { mode: 0o755 });
    await Deno.writeTextFile(`${dir}/wireguard-go-test.LICENSE`, "MIT\n");
    const { builds, notes } = await findBuilds(`${dir}:${dir}/missing`);
    assert.equal(builds[0].kind, "weft");
    const found = builds.find((b) => b.binary === bin);
    assert.ok(found, JSON.stringify(builds));
    assert.equal(found.name, "wireguard-go-test");
    assert.equal(found.version, "wireguard-go v9.9.9");
    // The license beside it is not a build.
    assert.ok(!builds.some((b) => b.binary?.endsWith(".LICENSE")));
    assert.ok(notes.some((n) => n.includes(`${dir}/missing`)), notes.join("\n"));
    // An empty WG_GO measures no extra build.
    const none = await findBuilds("");
    assert.ok(!none.builds.some((b) => b.binary?.startsWith(dir)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("medianFigures: each measure's median over the rounds, failed rounds and unmeasured figures left out", () => {
  const quick = { ...figures(4), tcp4: NaN };
  const m = medianFigures([figures(1), undefined, figures(3), quick]);
  assert.equal(m.tcp1, 3);
  assert.equal(m.cpuPerGB, 3);
  // Measured in two rounds only (the third was quick): the mean of those two.
  assert.equal(m.tcp4, 2);
  assert.ok(Number.isNaN(medianFigures([undefined]).tcp1));
});
