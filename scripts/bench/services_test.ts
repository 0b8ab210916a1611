import assert from "node:assert/strict";
import { callRows } from "./services.ts";
import { type CallFigures, measure } from "./services_node.ts";

/** A round's figures: `n` calls, latencies base, base+1, ... ms. */
const fig = (
  path: "mesh" | "local" | "http",
  concurrency: number,
  rps: number,
  base: number,
  n: number,
  errors: Record<string, number> = {},
): CallFigures => ({
  path,
  concurrency,
  payloadBytes: 100,
  calls: n,
  errors,
  rps,
  latMs: Array.from({ length: n }, (_, i) => base + i),
});

Deno.test("services bench: rates are medians of rounds, latencies over every call; ratios", () => {
  const { rows, ratios, errors } = callRows([
    fig("mesh", 1, 100, 1, 50), // 1..50
    fig("http", 1, 50, 101, 100), // 101..200
    fig("mesh", 16, 800, 1, 100, { timeout: 2 }),
    fig("http", 16, 1000, 1, 100),
    fig("mesh", 1, 300, 51, 50), // 51..100
    fig("http", 1, 150, 1, 100), // 1..100
    fig("mesh", 16, 1000, 101, 100, { timeout: 1, "no-instance": 4 }),
    fig("http", 16, 1000, 1, 100),
    { ...fig("mesh", 1, 10, 1, 10), payloadBytes: 1 << 20 },
    { ...fig("local", 1, 20, 1, 10), payloadBytes: 1 << 20 },
    { ...fig("http", 1, 20, 1, 10), payloadBytes: 1 << 20 },
  ], [1, 16]);
  const small = rows.filter((r) => r.payloadBytes === 100).map(({ payloadBytes: _, ...r }) => r);
  assert.deepEqual(small, [
    { path: "mesh", concurrency: 1, rps: 200, p50Ms: 50, p99Ms: 99, calls: 100, errors: 0 },
    { path: "mesh", concurrency: 16, rps: 900, p50Ms: 100, p99Ms: 198, calls: 200, errors: 7 },
    { path: "local", concurrency: 1, rps: NaN, p50Ms: NaN, p99Ms: NaN, calls: 0, errors: 0 },
    { path: "local", concurrency: 16, rps: NaN, p50Ms: NaN, p99Ms: NaN, calls: 0, errors: 0 },
    { path: "http", concurrency: 1, rps: 100, p50Ms: 100, p99Ms: 198, calls: 200, errors: 0 },
    { path: "http", concurrency: 16, rps: 1000, p50Ms: 50, p99Ms: 99, calls: 200, errors: 0 },
  ]);
  const big = rows.filter((r) => r.payloadBytes === 1 << 20 && r.concurrency === 1);
  assert.deepEqual(big.map((r) => [r.path, r.rps]), [["mesh", 10], ["local", 20], ["http", 20]]);
  assert.deepEqual(ratios.filter((r) => r.payloadBytes === 100), [
    { payloadBytes: 100, concurrency: 1, rps: 2, p50: 0.5, p99: 0.5 },
    { payloadBytes: 100, concurrency: 16, rps: 0.9, p50: 2, p99: 2 },
  ]);
  assert.equal(ratios.find((r) => r.payloadBytes === 1 << 20 && r.concurrency === 1)!.rps, 0.5);
  assert.deepEqual(errors, [
    "mesh x16 100 B: 3 × timeout",
    "mesh x16 100 B: 4 × no-instance",
  ]);
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
  assert.equal(r.latMs.length, ok);
  assert.ok(r.latMs.every((x) => x >= 0));
});
