import assert from "node:assert/strict";
import { selfCommand } from "./self.ts";
import { VERSION } from "../version.ts";
import { JIT_V8_FLAGS_ARG } from "./jit.ts";

Deno.test("selfCommand: under deno, main.ts run again with all permissions", async () => {
  const cmd = selfCommand();
  // These tests run under `deno test`, so Deno.execPath() is deno itself.
  assert.equal(cmd[0], Deno.execPath());
  // The checkout's deno.json (its lock file) wherever the process is started from.
  const config = new URL("../../deno.json", import.meta.url).pathname;
  assert.deepEqual(cmd.slice(1, 7), [
    "run",
    "--config",
    config,
    "-A",
    "--unstable-net",
    JIT_V8_FLAGS_ARG,
  ]);
  assert.equal(cmd.length, 8);
  const main = new URL("../../main.ts", import.meta.url).pathname;
  assert.equal(cmd[7], main);
  assert.ok((await Deno.stat(cmd[7])).isFile);
});

Deno.test("selfCommand: the command starts weft, from any directory", async () => {
  const [exe, ...args] = selfCommand();
  const out = await new Deno.Command(exe, {
    args: [...args, "--version"],
    cwd: "/",
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout).trim(), VERSION);
});
