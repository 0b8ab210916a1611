import assert from "node:assert/strict";
import { COMPILE_FLAGS } from "./compile.ts";
import { JIT_V8_FLAGS_ARG } from "../lib/agent/jit.ts";

const root = new URL("../", import.meta.url);

Deno.test("compile: every build bakes in weft's V8 flags", () => {
  assert.ok(COMPILE_FLAGS.includes(JIT_V8_FLAGS_ARG));
});

Deno.test("compile: the release workflow compiles with the same flags", async () => {
  const yml = await Deno.readTextFile(new URL(".github/workflows/release.yml", root));
  const run = yml.slice(yml.indexOf("deno compile"));
  const words = run.slice(0, run.indexOf("main.ts")).split(/\s+/);
  for (const flag of COMPILE_FLAGS) assert.ok(words.includes(flag), `release.yml lacks ${flag}`);
});

Deno.test("compile: deno task start, demo and install run weft with its V8 flags", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).tasks;
  for (const name of ["start", "demo", "install"]) {
    assert.ok(tasks[name].split(" ").includes(JIT_V8_FLAGS_ARG), `task ${name}`);
  }
});

Deno.test("compile: V8 takes the flags (an unknown one stops deno)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", JIT_V8_FLAGS_ARG, "console.log('ok')"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const bad = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `${JIT_V8_FLAGS_ARG}x`, "console.log('ok')"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(bad.success, false);
});

Deno.test("compile: the install lines of the docs give weft's V8 flags", async () => {
  for (const file of ["README.md", "docs/getting-started.md"]) {
    const text = await Deno.readTextFile(new URL(file, root));
    const lines = text.split("\n").filter((l) => l.startsWith("V8="));
    assert.ok(lines.length > 0, `${file} gives the V8 flags`);
    for (const l of lines) assert.equal(l, `V8="${JIT_V8_FLAGS_ARG}"`, file);
  }
});
