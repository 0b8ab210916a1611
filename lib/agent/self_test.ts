import assert from "node:assert/strict";
import { selfCommand } from "./self.ts";
import { VERSION } from "../version.ts";
import { JIT_V8_FLAGS_ARG } from "../agent/jit.ts";

Deno.test("selfCommand: under deno, main.ts run again with all permissions", async () => {
  const cmd = selfCommand();
  // These tests run under `deno test`, so Deno.execPath() is deno itself.
  assert.equal(cmd[0], Deno.execPath());
  assert.deepEqual(cmd.slice(1, 5), ["run", "-A", "--unstable-net", JIT_V8_FLAGS_ARG]);
  assert.equal(cmd.length, 6);
  const main = new URL("../../main.ts", import.meta.url).pathname;
  assert.equal(cmd[5], main);
  assert.ok((await Deno.stat(cmd[5])).isFile);
});

Deno.test("selfCommand: the command starts weft", async () => {
  const [exe, ...args] = selfCommand();
  const out = await new Deno.Command(exe, {
    args: [...args, "--version"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout).trim(), VERSION);
});
