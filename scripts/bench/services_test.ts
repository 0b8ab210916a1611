import assert from "node:assert/strict";
import { callRows } from "./services.ts";
import { type CallFigures, measure } from "./services_node.ts";

const fig = (
  path: "mesh" | "http",
  concurrency: number,
  rps: number,
  p50Ms: number,
  p99Ms: number,
  errors: Record<string, number> = {},
): CallFigures => ({ path, concurrency, calls: rps * 5, errors, rps, p50Ms, p99Ms });

Deno.test("services bench: medians over rounds per path and concurrency, ratios, errors", () => {
  const { rows, ratios, errors } = callRows([
    fig("mesh", 1, 100, 2, 10),
    fig("http", 1, 50, 4, 20),
    fig("mesh", 16, 800, 20, 90, { timeout: 2 }),
    fig("http", 16, 1000, 16, 60),
    fig("mesh", 1, 300, 1, 30),
    fig("http", 1, 150, 2, 40),
    fig("mesh", 16, 1000, 16, 70, { timeout: 1, "no-instance": 4 }),
    fig("http", 16, 1000, 16, 60),
  ], [1, 16]);
  assert.deepEqual(rows, [
    { path: "mesh", concurrency: 1, rps: 200, p50Ms: 1.5, p99Ms: 20, calls: 2000, errors: 0 },
    { path: "mesh", concurrency: 16, rps: 900, p50Ms: 18, p99Ms: 80, calls: 9000, errors: 7 },
    { path: "http", concurrency: 1, rps: 100, p50Ms: 3, p99Ms: 30, calls: 1000, errors: 0 },
    { path: "http", concurrency: 16, rps: 1000, p50Ms: 16, p99Ms: 60, calls: 10000, errors: 0 },
  ]);
  assert.deepEqual(ratios, [
    { concurrency: 1, rps: 2, p50: 0.5, p99: 0.67 },
    { concurrency: 16, rps: 0.9, p50: 1.13, p99: 1.33 },
  ]);
  assert.deepEqual(errors, ["mesh x16: 3 × timeout", "mesh x16: 4 × no-instance"]);
});

Deno.test("services bench: a measurement counts answers and failures by code", async () => {
  const seen: number[] = [];
  const r = await measure(
    "mesh",
    (i) => {
      seen.push(i);
      if (i % 3 === 2) return Promise.reject(Object.assign(new Error("x"), { code: "timeout" }));
      if (i % 3 === 1) return Promise.reject(new Error("wrong answer"));
      return Promise.resolve();
    },
    4,
    0.05,
  );
  assert.equal(r.path, "mesh");
  assert.equal(r.concurrency, 4);
  assert.ok(seen.length >= 3, `${seen.length} calls`);
  // Every call is numbered once; each third answered, the others failed by kind.
  assert.deepEqual([...seen].sort((a, b) => a - b), seen.map((_, i) => i));
  const ok = seen.filter((i) => i % 3 === 0).length;
  assert.equal(r.calls, ok);
  assert.deepEqual(r.errors, {
    ...(seen.some((i) => i % 3 === 1)
      ? { "wrong answer": seen.filter((i) => i % 3 === 1).length }
      : {}),
    ...(seen.some((i) => i % 3 === 2) ? { timeout: seen.filter((i) => i % 3 === 2).length } : {}),
  });
  assert.ok(r.p50Ms >= 0 && r.p99Ms >= r.p50Ms);
});
