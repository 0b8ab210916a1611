import assert from "node:assert/strict";
import { threadTimes } from "./thread_times.ts";

Deno.test("threadTimes: this process's threads, its main thread among them, with ticks and switches", () => {
  const t = threadTimes(Deno.pid);
  const main = t.get(Deno.pid);
  assert.ok(main, `no main thread among ${[...t.keys()]}`);
  assert.ok(main.name.length > 0);
  for (const v of [main.utime, main.stime, main.voluntary, main.involuntary]) {
    assert.ok(Number.isInteger(v) && v >= 0, String(v));
  }
});

Deno.test("threadTimes: a process that is gone has no threads", () => {
  assert.equal(threadTimes(2 ** 22 + 1).size, 0);
});
