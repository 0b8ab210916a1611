import assert from "node:assert/strict";
import { Outliers } from "./outliers.ts";

function clock() {
  let t = 1000;
  return { now: () => t, add: (ms: number) => (t += ms) };
}

Deno.test("outliers: five failures in a row eject; an answer between them resets the count", () => {
  const c = clock();
  const o = new Outliers({ now: c.now });
  for (let i = 0; i < 4; i++) assert.equal(o.failed("echo", "10.0.0.2"), false);
  o.succeeded("echo", "10.0.0.2");
  for (let i = 0; i < 4; i++) assert.equal(o.failed("echo", "10.0.0.2"), false);
  // Refusals that say nothing of its health neither count nor reset.
  o.neutral("echo", "10.0.0.2");
  assert.equal(o.state("echo", "10.0.0.2"), "in");
  assert.equal(o.failed("echo", "10.0.0.2"), true);
  assert.equal(o.state("echo", "10.0.0.2"), "ejected");
  assert.equal(o.available("echo", "10.0.0.2"), false);
  // Per service: the same node's other service is not affected.
  assert.equal(o.state("db", "10.0.0.2"), "in");
  // Calls that were under way and fail now do not extend it.
  assert.equal(o.failed("echo", "10.0.0.2"), false);
  assert.deepEqual(o.list(), [{
    service: "echo",
    address: "10.0.0.2",
    state: "ejected",
    remainingMs: 30_000,
    ejections: 1,
  }]);
});

Deno.test("outliers: after the back-off one probe goes; a failure doubles it, an answer ends it", () => {
  const c = clock();
  const o = new Outliers({ now: c.now, consecutive: 2, baseMs: 100, maxMs: 350 });
  o.failed("s", "a");
  assert.equal(o.failed("s", "a"), true);
  c.add(99);
  assert.equal(o.state("s", "a"), "ejected");
  c.add(1);
  assert.equal(o.state("s", "a"), "probing");
  assert.equal(o.available("s", "a"), true);
  o.sent("s", "a");
  // One probe at a time.
  assert.equal(o.available("s", "a"), false);
  assert.equal(o.failed("s", "a"), true, "a failed probe ejects at once");
  assert.deepEqual(o.list().map((e) => [e.state, e.remainingMs, e.ejections]), [
    ["ejected", 200, 2],
  ]);
  c.add(200);
  o.sent("s", "a");
  assert.equal(o.failed("s", "a"), true);
  assert.equal(o.list()[0].remainingMs, 350, "capped at maxMs");
  c.add(350);
  o.sent("s", "a");
  o.succeeded("s", "a");
  assert.equal(o.state("s", "a"), "in");
  assert.deepEqual(o.list(), []);
  // Ejected again soon: the back-off goes on growing; after maxMs in, it starts over.
  o.failed("s", "a");
  o.failed("s", "a");
  assert.equal(o.list()[0].ejections, 4);
  c.add(350);
  o.sent("s", "a");
  o.succeeded("s", "a");
  c.add(350);
  o.failed("s", "a");
  o.failed("s", "a");
  assert.deepEqual(o.list().map((e) => [e.remainingMs, e.ejections]), [[100, 1]]);
});

Deno.test("outliers: a probe that was refused neutrally lets the next call probe", () => {
  const c = clock();
  const o = new Outliers({ now: c.now, consecutive: 1, baseMs: 10 });
  o.failed("s", "a");
  c.add(10);
  o.sent("s", "a");
  assert.equal(o.available("s", "a"), false);
  o.neutral("s", "a");
  assert.equal(o.available("s", "a"), true);
});

Deno.test("outliers: bounded, former members forgotten, bad options refused", () => {
  const c = clock();
  const o = new Outliers({ now: c.now, consecutive: 1, max: 2 });
  o.failed("s", "a");
  o.failed("s", "b");
  o.failed("s", "c");
  assert.deepEqual(o.list().map((e) => e.address), ["b", "c"]);
  o.failed("s", "");
  o.retain((a) => a !== "c");
  // This node's own ("") is never a former member.
  assert.deepEqual(o.list().map((e) => e.address), [""]);
  assert.throws(() => new Outliers({ consecutive: 0 }), RangeError);
  assert.throws(() => new Outliers({ baseMs: 100, maxMs: 50 }), RangeError);
  assert.throws(() => new Outliers({ max: 0 }), RangeError);
});
