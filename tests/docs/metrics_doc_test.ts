/**
 * docs/http-api.md names every metric family the code declares, each with its labels, and no
 * family the code does not declare: the families are read from their declarations
 * (tests/docs/metric_families.ts), so a family added without a word in the doc, a label added or
 * renamed, or a family the doc still names after the code dropped it fails here.
 */
import assert from "node:assert/strict";
import {
  blankComments,
  declaredFamilies,
  familiesIn,
  mentions,
  pageProblems,
} from "./metric_families.ts";
import { ROOT_PATH } from "./programs.ts";

const PAGE = "docs/http-api.md";
const PREFIXES = ["weft_", "process_"];

Deno.test("metrics doc: http-api.md names every family the code declares, with its labels", async () => {
  const { families, problems } = await declaredFamilies(ROOT_PATH);
  assert.deepEqual(problems, [], "declarations the reader could not follow");
  // The agent's page has some 130 families: fewer means the reader missed declarations.
  assert.ok(families.length > 100, `only ${families.length} families found`);
  assert.ok(families.some((f) => f.type === "histogram" && f.labels.length > 0), "a histogram");
  const unprefixed = families.filter((f) => !PREFIXES.some((p) => f.name.startsWith(p)));
  assert.deepEqual(unprefixed.map((f) => f.name), [], `families named outside ${PREFIXES}`);
  const md = await Deno.readTextFile(`${ROOT_PATH}/${PAGE}`);
  assert.deepEqual(pageProblems(PAGE, families, mentions(md, PREFIXES)), []);
});

Deno.test("metrics doc: declarations are read from the code, not its comments", () => {
  const src = [
    'import { counter as c, gauge, type MetricFamily } from "../metrics/registry.ts";',
    'import { histogram } from "./elsewhere.ts";',
    '/** e.g. `c("in_a_comment_total", "x")` */',
    'const PEER = ["peer", "name"] as const;',
    'const A = c("a_total", "A, by reason.", ["reason"]); // c("b_total", "")',
    'const B = gauge<"peer" | "name" | "state">(\n  \'b\',\n  `B ${1 + 1}.`,\n  [...PEER, "state"],\n);',
    'const C = histogram("not_ours_seconds", "Another module\'s histogram.");',
    'const re = /counter\\("x"/; const D = gauge(`d_${re}`, "computed");',
    'const E = gauge("e", "e", LABELS);',
  ].join("\n");
  const got = familiesIn("x.ts", src, (s) => s.endsWith("metrics/registry.ts"));
  assert.deepEqual(got.families.map((f) => [f.name, f.type, f.labels, f.where]), [
    ["a_total", "counter", ["reason"], "x.ts:5"],
    ["b", "gauge", ["peer", "name", "state"], "x.ts:6"],
  ]);
  assert.deepEqual(got.problems, [
    "x.ts:12: a family whose name is not a string literal: `d_${re}`",
    "x.ts:13: e: labels this reader cannot resolve: LABELS",
  ]);
  const blanked = blankComments('a /* b */ "/* c */"; // d\n/x\\/*/.test(e)');
  assert.deepEqual(blanked.split("\n").map((l) => l.trimEnd()), [
    'a         "/* c */";',
    "/x\\/*/.test(e)",
  ]);
});

Deno.test("metrics doc: a page's names, labels and histogram series are checked", () => {
  const families = [
    { name: "weft_a_total", type: "counter" as const, labels: ["reason"], where: "a.ts:1" },
    { name: "weft_b_seconds", type: "histogram" as const, labels: ["peer"], where: "b.ts:1" },
    { name: "weft_c", type: "gauge" as const, labels: [], where: "c.ts:1" },
  ];
  const md = [
    '`weft_a_total{reason="x"|"y"}` and `weft_b_seconds` (`weft_b_seconds_bucket{le}`),',
    "`weft_gone_total`, `weft_b_seconds_count{node}`",
    "```sh no-test: an example",
    "curl -s /metrics | grep weft_c",
    "```",
  ].join("\n");
  const named = mentions(md, ["weft_"]);
  assert.deepEqual(named.map((m) => [m.name, m.labels, m.line]), [
    ["weft_a_total", ["reason"], 1],
    ["weft_b_seconds", null, 1],
    ["weft_b_seconds_bucket", ["le"], 1],
    ["weft_gone_total", null, 2],
    ["weft_b_seconds_count", ["node"], 2],
  ]);
  assert.deepEqual(pageProblems("p.md", families, named), [
    "p.md:2: `weft_gone_total` is no family the code declares",
    "p.md:2: weft_b_seconds_count{node}: weft_b_seconds has no label node (its labels: peer)",
    "weft_b_seconds (b.ts:1) is never written with its labels in p.md: `weft_b_seconds{peer}`",
    "weft_c (c.ts:1) is not named in p.md",
  ]);
});
