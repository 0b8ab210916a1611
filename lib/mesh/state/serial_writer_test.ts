import assert from "node:assert/strict";
import { SerialWriter } from "./serial_writer.ts";

/** A write whose completion the test controls. */
function gatedWriter() {
  const gates: (() => void)[] = [];
  const failures = new Set<number>();
  let active = 0;
  let maxActive = 0;
  let started = 0;
  const write = async () => {
    const n = ++started;
    active++;
    maxActive = Math.max(maxActive, active);
    await new Promise<void>((r) => gates.push(r));
    active--;
    if (failures.has(n)) throw new Error(`write ${n} failed`);
  };
  return {
    write,
    gates,
    failures,
    stats: () => ({ active, maxActive, started }),
  };
}

/** Lets pending promise callbacks run (no timers). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

Deno.test("SerialWriter: writes run one at a time, one per save, in order", async () => {
  const g = gatedWriter();
  const w = new SerialWriter(g.write);
  const done: number[] = [];
  const saves = [1, 2, 3].map((i) => w.save().then(() => done.push(i)));
  await settle();
  assert.deepEqual(g.stats(), { active: 1, maxActive: 1, started: 1 });
  g.gates.shift()!();
  await settle();
  assert.deepEqual(done, [1], "the first save resolves once its write is done");
  assert.equal(g.stats().started, 2, "the next write starts only then");
  g.gates.shift()!();
  await settle();
  g.gates.shift()!();
  await Promise.all(saves);
  assert.deepEqual(done, [1, 2, 3]);
  assert.deepEqual(g.stats(), { active: 0, maxActive: 1, started: 3 });
});

Deno.test("SerialWriter: a failed write rejects its save only; later writes still run", async () => {
  const g = gatedWriter();
  g.failures.add(2);
  const w = new SerialWriter(g.write);
  const results = [w.save(), w.save(), w.save()].map((p) =>
    p.then(() => "ok", (e: Error) => e.message)
  );
  for (let i = 0; i < 3; i++) {
    await settle();
    g.gates.shift()!();
  }
  assert.deepEqual(await Promise.all(results), ["ok", "write 2 failed", "ok"]);
  // And the writer keeps working after a failure.
  const after = w.save();
  await settle();
  g.gates.shift()!();
  await after;
  assert.equal(g.stats().started, 4);
});
