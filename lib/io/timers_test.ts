import assert from "node:assert/strict";
import { unrefTimer } from "./timers.ts";

Deno.test("unrefTimer: a program whose only timer is unref'd exits", async () => {
  // An interval of an hour would hold the program for good if it were not unref'd.
  const code = `import { unrefTimer } from ${JSON.stringify(import.meta.resolve("./timers.ts"))};
    unrefTimer(setInterval(() => {}, 3_600_000)); console.log("armed");`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdin: "null",
  }).output();
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "armed");
  assert.equal(out.code, 0);
});

Deno.test("unrefTimer: an unref'd timer still fires while something else keeps the program", async () => {
  let fired!: (v: string) => void;
  const done = new Promise<string>((r) => fired = r);
  unrefTimer(setTimeout(() => fired("fired"), 1));
  const keep = setTimeout(() => {}, 60_000);
  assert.equal(await done, "fired");
  clearTimeout(keep);
});
