import assert from "node:assert/strict";
import { inChild as inChildOf } from "./testing/in_child.ts";
import { niceOwnThreads, ownThreads, threadNice } from "./thread_nice.ts";

const MODULE = new URL("./thread_nice.ts", import.meta.url).href;

/** Runs `code` in a fresh Deno, this test's module imported as `m`. */
function inChild(code: string): Promise<unknown> {
  return inChildOf(MODULE, code);
}

Deno.test({
  name: "thread nice: only the named threads go down, never up, and the JS thread stays",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const r = await inChild(`
      const w = (n) => n.startsWith("V8 DefaultWork");
      const first = m.niceOwnThreads(w, 12);
      const again = m.niceOwnThreads(w, 5);
      console.log(JSON.stringify({
        first: first.niced.length, failed: first.failed.length, again: again.niced.length,
        threads: m.ownThreads().map((t) => ({ name: t.name, nice: m.threadNice(t.tid), main: t.tid === Deno.pid })),
      }));
    `) as {
      first: number;
      failed: number;
      again: number;
      threads: { name: string; nice: number; main: boolean }[];
    };
    assert.ok(r.first > 0 && r.failed === 0, JSON.stringify(r));
    assert.equal(r.again, r.first, "a thread at 12 counts as done for 5");
    // Against the child's own nice, not 0: the suite may run under `nice`.
    const base = r.threads.find((t) => t.main)!.nice;
    for (const t of r.threads) {
      const worker = t.name.startsWith("V8 DefaultWork");
      assert.equal(
        t.nice,
        worker ? Math.max(12, base) : base,
        `${t.name} (never raised back to 5)`,
      );
    }
  },
});

Deno.test({
  name: "thread nice: this process's threads are listed with their nice values",
  ignore: Deno.build.os !== "linux",
  fn: () => {
    const threads = ownThreads();
    const main = threads.find((t) => t.tid === Deno.pid);
    assert.ok(main, "the main thread is listed");
    assert.equal(typeof threadNice(main.tid), "number");
    assert.equal(threadNice(2 ** 30), null, "no such thread");
  },
});

Deno.test("thread nice: a nice value outside 1 to 19 is refused", () => {
  for (const n of [0, 20, -5, 1.5]) {
    assert.throws(() => niceOwnThreads(() => false, n), RangeError, String(n));
  }
});
