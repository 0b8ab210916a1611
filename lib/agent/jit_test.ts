import assert from "node:assert/strict";
import { JIT_V8_FLAGS_ARG } from "./jit.ts";

const CHILD = new URL("../../tests/fixtures/jit_tier_child.ts", import.meta.url).pathname;

Deno.test("jit: with weft's V8 flags a function called once runs baseline code, not bytecode", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", `${JIT_V8_FLAGS_ARG},--allow-natives-syntax`, CHILD],
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0, "the child ran");
  const tier = JSON.parse(new TextDecoder().decode(out.stdout).trim());
  assert.deepEqual(tier, { sparkplug: true, ignition: false });
});
