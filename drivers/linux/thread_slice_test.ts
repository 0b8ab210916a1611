import assert from "node:assert/strict";
import { inChild as inChildOf } from "./testing/in_child.ts";

const MODULE = new URL("./thread_slice.ts", import.meta.url).href;

/** Runs `code` in a fresh Deno, this test's module imported as `m`. */
function inChild(code: string): Promise<unknown> {
  return inChildOf(MODULE, code);
}

/** The `se.slice` line of a thread's /proc sched file (ns), or null without one. */
const SLICE_OF = `(tid) => {
  const m = Deno.readTextFileSync("/proc/self/task/" + tid + "/sched").match(/^se\\.slice\\s*:\\s*(\\d+)/m);
  return m ? Number(m[1]) : null;
}`;

Deno.test({
  name: "thread slice: the calling thread's slice is set, clamped, and kept with its nice value",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const r = await inChild(`
      const sliceOf = ${SLICE_OF};
      const before = m.threadSchedAttr();
      const set = m.setThreadSlice(300_000);
      const after = m.threadSchedAttr();
      const proc = sliceOf(Deno.pid);
      const low = m.setThreadSlice(1);
      const clamped = m.threadSchedAttr();
      console.log(JSON.stringify({ before, set, after, proc, low, clamped }));
    `) as {
      before: { policy: number; nice: number; runtimeNs: number };
      set: number;
      after: { policy: number; nice: number; runtimeNs: number };
      proc: number | null;
      low: number;
      clamped: { runtimeNs: number };
    };
    assert.equal(r.set, 0, JSON.stringify(r));
    assert.equal(r.after.policy, 0);
    assert.equal(r.after.nice, r.before.nice);
    // A kernel without custom slices (before 6.12) takes the call and keeps its own.
    if (r.before.runtimeNs === 0) return;
    assert.equal(r.after.runtimeNs, 300_000, JSON.stringify(r));
    if (r.proc !== null) assert.equal(r.proc, 300_000, "the scheduler's own view");
    assert.equal(r.low, 0);
    assert.equal(r.clamped.runtimeNs, 100_000, "below the kernel's least: its least");
  },
});

Deno.test({
  name: "thread slice: only the asking thread changes; a thread it starts later inherits it",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const r = await inChild(`
      const sliceOf = ${SLICE_OF};
      const others = () => [...Deno.readDirSync("/proc/self/task")].map((e) => Number(e.name))
        .filter((t) => t !== Deno.pid);
      const old = new Set(others());
      const dflt = m.threadSchedAttr().runtimeNs;
      m.setThreadSlice(200_000);
      // A worker's thread is started now, by this one.
      const w = new Worker("data:text/javascript,postMessage(1)", { type: "module" });
      await new Promise((res) => w.onmessage = res);
      const born = others().filter((t) => !old.has(t)).map(sliceOf);
      const before = [...old].map(sliceOf);
      w.terminate();
      console.log(JSON.stringify({ dflt, main: sliceOf(Deno.pid), born, before }));
    `) as { dflt: number; main: number | null; born: (number | null)[]; before: (number | null)[] };
    if (r.dflt === 0 || r.main === null) return; // no custom slices, or no se.slice to read
    assert.equal(r.main, 200_000);
    assert.ok(r.before.length > 0 && r.before.every((s) => s !== 200_000), JSON.stringify(r));
    assert.ok(r.born.length > 0 && r.born.every((s) => s === 200_000), JSON.stringify(r));
  },
});
