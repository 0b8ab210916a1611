import assert from "node:assert/strict";
import { every, timeout } from "./cancelable.ts";

async function run(code: string): Promise<{ out: string; code: number }> {
  const head = `import { every, timeout } from ${
    JSON.stringify(import.meta.resolve("./cancelable.ts"))
  };`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", head + code],
    stdin: "null",
  }).output();
  return { out: new TextDecoder().decode(out.stdout).trim(), code: out.code };
}

Deno.test("timeout: fires once; the cancel returned stops one not fired yet", async () => {
  const fired: string[] = [];
  const cancel = timeout(() => fired.push("cancelled"), 1);
  cancel();
  // A timer due later fires after the cancelled one would have.
  await new Promise<void>((done) => timeout(() => done(), 5));
  assert.equal(fired.length, 0);
  await new Promise<void>((done) => timeout(() => (fired.push("kept"), done()), 1));
  assert.deepEqual(fired, ["kept"]);
});

Deno.test("every: calls again until stopped", async () => {
  let calls = 0;
  await new Promise<void>((done) => {
    const stop = every(() => {
      if (++calls < 3) return;
      stop();
      done();
    }, 1);
  });
  // Any call left would come before this one, later than the interval.
  await new Promise<void>((done) => timeout(() => done(), 10));
  assert.equal(calls, 3);
});

Deno.test("timeout, every: unref lets the program exit; by default the timer holds it", async () => {
  // Timers of an hour would hold the program for good if they were not unref'd.
  const unref = await run(
    `timeout(() => {}, 3_600_000, { unref: true }); every(() => {}, 3_600_000, { unref: true });
    console.log("armed");`,
  );
  assert.deepEqual(unref, { out: "armed", code: 0 });
  // A referenced timer keeps the program until it fires (and an interval until it is stopped).
  const held = await run(
    `timeout(() => console.log("fired"), 50);
    let n = 0; const stop = every(() => { if (++n === 3) { stop(); console.log("stopped"); } }, 20);`,
  );
  assert.deepEqual(
    held,
    { out: "fired\nstopped", code: 0 },
    "the timeout is due before the third call",
  );
});
