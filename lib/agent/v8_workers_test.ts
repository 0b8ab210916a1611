import assert from "node:assert/strict";
import {
  DEFAULT_V8_WORKER_NICE,
  isV8Worker,
  LEADER_V8_WORKER_NICE,
  v8WorkerNice,
} from "./v8_workers.ts";
import { SCHED_IDLE } from "../../drivers/linux/thread_nice.ts";
import { childJson } from "../../drivers/linux/testing/in_child.ts";

const CHILD = new URL("../../tests/fixtures/v8_workers_child.ts", import.meta.url).pathname;

interface Thread {
  name: string;
  nice: number | null;
  policy: number | null;
  main: boolean;
}

/** The child's threads after it started two agents (a mesh leader's with `leader`). */
function childThreads(env: Record<string, string> = {}, leader = false): Promise<Thread[]> {
  return childJson(["run", "-A", CHILD, ...(leader ? ["leader"] : [])], env);
}

/**
 * The child's own nice value (its JS thread's, inherited from whoever ran the tests): a runner
 * under `nice` starts every thread there, and a nice value asked for below it is left as it is.
 */
function baseNice(threads: Thread[]): number {
  const main = threads.find((t) => t.main);
  assert.ok(main && main.nice !== null, `the JS thread is listed: ${JSON.stringify(threads)}`);
  return main.nice;
}

Deno.test({
  name: "v8 workers: an agent leaves V8's workers at the process's priority, not SCHED_IDLE",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const threads = await childThreads({ WEFT_V8_WORKER_NICE: "" });
    const workers = threads.filter((t) => isV8Worker(t.name));
    assert.ok(workers.length > 0, `V8's workers are named as expected: ${JSON.stringify(threads)}`);
    // Under SCHED_IDLE on a busy machine the JS thread waited seconds for a worker (the module doc).
    const base = baseNice(threads);
    for (const t of threads) {
      assert.deepEqual([t.nice, t.policy], [base, 0], `${t.name}: ${JSON.stringify(threads)}`);
    }
  },
});

Deno.test({
  name: "v8 workers: a mesh leader's agent sets V8's workers to nice 10, not SCHED_IDLE",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const threads = await childThreads({ WEFT_V8_WORKER_NICE: "" }, true);
    assert.ok(threads.some((t) => isV8Worker(t.name)), JSON.stringify(threads));
    const base = baseNice(threads);
    assert.equal(typeof LEADER_V8_WORKER_NICE, "number");
    const nice = Math.max(base, LEADER_V8_WORKER_NICE as number);
    for (const t of threads) {
      assert.deepEqual(
        [t.nice, t.policy],
        [isV8Worker(t.name) ? nice : base, 0],
        `${t.name}: ${JSON.stringify(threads)}`,
      );
    }
  },
});

Deno.test({
  name: "v8 workers: WEFT_V8_WORKER_NICE=idle puts a leader's under SCHED_IDLE too",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const threads = await childThreads({ WEFT_V8_WORKER_NICE: "idle" }, true);
    assert.ok(threads.some((t) => isV8Worker(t.name)));
    for (const t of threads) {
      assert.equal(t.policy, isV8Worker(t.name) ? SCHED_IDLE : 0, t.name);
    }
  },
});

Deno.test({
  name: "v8 workers: WEFT_V8_WORKER_NICE=10 sets that nice value instead, the JS thread's stays",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const threads = await childThreads({ WEFT_V8_WORKER_NICE: "10" });
    assert.ok(threads.some((t) => isV8Worker(t.name)));
    const base = baseNice(threads);
    for (const t of threads) {
      assert.equal(t.nice, isV8Worker(t.name) ? Math.max(base, 10) : base, t.name);
      assert.equal(t.policy, 0, t.name);
    }
  },
});

Deno.test({
  name: "v8 workers: WEFT_V8_WORKER_NICE=0 leaves them alone",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const threads = await childThreads({ WEFT_V8_WORKER_NICE: "0" });
    const base = baseNice(threads);
    for (const t of threads) assert.deepEqual([t.nice, t.policy], [base, 0], t.name);
  },
});

Deno.test({
  name: "v8 workers: WEFT_V8_WORKER_NICE=idle puts them under SCHED_IDLE, the JS thread not",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const threads = await childThreads({ WEFT_V8_WORKER_NICE: "idle" });
    assert.ok(threads.some((t) => isV8Worker(t.name)));
    for (const t of threads) {
      assert.equal(t.policy, isV8Worker(t.name) ? SCHED_IDLE : 0, t.name);
    }
  },
});

Deno.test("v8 workers: the nice value asked for, else the default", () => {
  const saved = Deno.env.get("WEFT_V8_WORKER_NICE");
  try {
    for (
      const [text, want] of [
        ["19", 19],
        ["0", 0],
        ["idle", "idle"],
        ["", 0],
        ["20", 0],
        ["-1", 0],
        ["x", 0],
      ]
    ) {
      Deno.env.set("WEFT_V8_WORKER_NICE", String(text));
      assert.equal(v8WorkerNice(), want, String(text));
    }
    Deno.env.set("WEFT_V8_WORKER_NICE", "");
    assert.equal(v8WorkerNice(true), LEADER_V8_WORKER_NICE, "a leader's default");
    Deno.env.set("WEFT_V8_WORKER_NICE", "idle");
    assert.equal(v8WorkerNice(true), "idle", "a leader's, asked for");
    Deno.env.delete("WEFT_V8_WORKER_NICE");
    assert.equal(v8WorkerNice(), DEFAULT_V8_WORKER_NICE);
    assert.equal(v8WorkerNice(true), LEADER_V8_WORKER_NICE);
    assert.notEqual(LEADER_V8_WORKER_NICE, DEFAULT_V8_WORKER_NICE);
  } finally {
    saved === undefined
      ? Deno.env.delete("WEFT_V8_WORKER_NICE")
      : Deno.env.set("WEFT_V8_WORKER_NICE", saved);
  }
});

Deno.test("v8 workers: V8's worker names, not Deno's or the profiler's", () => {
  assert.ok(isV8Worker("V8 DefaultWorke"));
  for (const n of ["deno", "tokio-runtime-w", "v8:ProfEvntProc", "worker-1"]) {
    assert.ok(!isV8Worker(n), n);
  }
});
