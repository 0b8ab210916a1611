import assert from "node:assert/strict";
import { balance, type Candidate } from "./balancer.ts";

const c = (value: string, extra: Partial<Candidate<string>> = {}): Candidate<string> => ({
  value,
  local: false,
  available: true,
  outstanding: 0,
  ...extra,
});

Deno.test("balancer: local first, then fewest outstanding, then those out of the rotation", () => {
  const all = [
    c("a", { outstanding: 2 }),
    c("b", { outstanding: 1 }),
    c("self", { local: true, outstanding: 5 }),
    c("s", { available: false }),
    c("c", { outstanding: 1 }),
  ];
  assert.deepEqual(balance(all, 0), ["self", "b", "c", "a", "s"]);
  // Equal counts go round with the turn.
  assert.deepEqual(balance(all, 1), ["self", "b", "c", "a", "s"]);
  assert.deepEqual(balance(all, 2), ["self", "c", "b", "a", "s"]);
  // An ejected local instance comes after every available remote one.
  const out = [c("self", { local: true, available: false }), c("r")];
  assert.deepEqual(balance(out, 0), ["r", "self"]);
  assert.deepEqual(balance([], 3), []);
});

Deno.test("balancer: sequential calls (nothing outstanding) spread evenly", () => {
  const seen: Record<string, number> = {};
  for (let turn = 0; turn < 30; turn++) {
    const first = balance([c("a"), c("b"), c("c")], turn)[0];
    seen[first] = (seen[first] ?? 0) + 1;
  }
  assert.deepEqual(seen, { a: 10, b: 10, c: 10 });
});

/**
 * The measurement behind the choice (balancer.ts): a fast instance (10 ms a call) and a slow one
 * (100 ms), each serving one call at a time, calls arriving every 10 ms (nine tenths of their joint capacity). Round-robin gives the
 * slow one half of them, more than it can serve, so its queue and latency grow without end;
 * least outstanding requests follows the load with no weights; a weighted round-robin needs the
 * right weights (here the exact 10:1, known in advance) to do as well.
 */
Deno.test("balancer: least outstanding requests against round-robin and weighted round-robin", () => {
  const CALLS = 2000;
  const service = [10, 100];
  const simulate = (choose: (turn: number, outstanding: number[]) => number) => {
    // Per instance: the time it is free again, and its calls' end times (for the outstanding).
    const free = [0, 0];
    const ends: number[][] = [[], []];
    let total = 0;
    for (let i = 0; i < CALLS; i++) {
      const t = i * 10;
      for (const e of ends) while (e.length && e[0] <= t) e.shift();
      const k = choose(i, ends.map((e) => e.length));
      const start = Math.max(t, free[k]);
      free[k] = start + service[k];
      ends[k].push(free[k]);
      total += free[k] - t;
    }
    return total / CALLS;
  };
  const rr = simulate((turn) => turn % 2);
  const lor = simulate((turn, out) => {
    const order = balance(out.map((n, k) => c(String(k), { outstanding: n })), turn);
    return Number(order[0]);
  });
  const wrr = simulate((turn) => (turn % 11 === 10 ? 1 : 0));
  console.log(
    `mean latency, ms: round-robin ${rr.toFixed(0)}, least outstanding ${lor.toFixed(1)}, ` +
      `weighted round-robin with the exact weights ${wrr.toFixed(1)}`,
  );
  assert.ok(lor < rr / 10, `least outstanding ${lor} against round-robin ${rr}`);
  assert.ok(lor <= wrr * 1.5, `least outstanding ${lor} against weighted ${wrr}`);
});
