import assert from "node:assert/strict";
import { COMPILE_FLAGS } from "./compile.ts";
import { JIT_V8_FLAGS_ARG } from "../lib/agent/jit.ts";

const root = new URL("../", import.meta.url);

Deno.test("compile: every build bakes in weft's V8 flags", () => {
  assert.ok(COMPILE_FLAGS.includes(JIT_V8_FLAGS_ARG));
});

Deno.test("compile: builds type-check, so the CLI's lazily imported commands are embedded", async () => {
  // deno compile builds a code-only graph under --no-check, and with deno.json's
  // lazy-dynamic-imports that graph leaves out every `import("./x.ts")` of cli/main.ts.
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  assert.ok(config.unstable.includes("lazy-dynamic-imports"));
  assert.ok(!COMPILE_FLAGS.some((f) => f.startsWith("--no-check")), COMPILE_FLAGS.join(" "));
  const yml = await Deno.readTextFile(new URL(".github/workflows/release.yml", root));
  assert.ok(!yml.includes("--no-check"), "release.yml compiles with --no-check");
});

Deno.test("compile: the release workflow compiles with the same flags", async () => {
  const yml = await Deno.readTextFile(new URL(".github/workflows/release.yml", root));
  const run = yml.slice(yml.indexOf("deno compile"));
  const words = run.slice(0, run.indexOf("main.ts")).split(/\s+/);
  for (const flag of COMPILE_FLAGS) assert.ok(words.includes(flag), `release.yml lacks ${flag}`);
});

/** The modules a file of the program starts as Workers: `new URL("./x.ts", import.meta.url)`. */
async function workerEntries(): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: URL): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const at = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
      if (e.isDirectory) {
        if (e.name !== "testing") await walk(at);
        continue;
      }
      if (!e.name.endsWith(".ts") || e.name.endsWith("_test.ts")) continue;
      const text = await Deno.readTextFile(at);
      if (!text.includes("new Worker(")) continue;
      for (const m of text.matchAll(/new URL\("(\.\.?\/[^"]+\.ts)", import\.meta\.url\)/g)) {
        found.push(new URL(m[1], at).href.slice(root.href.length));
      }
    }
  };
  for (const top of ["lib/", "cli/"]) await walk(new URL(top, root));
  return found.sort();
}

Deno.test("compile: every Worker the program starts is in the binary (--include)", async () => {
  const entries = await workerEntries();
  // The three known ones at least: a pattern that stopped matching would pass an empty list.
  for (
    const known of [
      "lib/control/api_worker.ts",
      "lib/crypto/pool_worker.ts",
      "lib/mesh/plugins/worker.ts",
    ]
  ) {
    assert.ok(entries.includes(known), `${known} not found among ${entries}`);
  }
  const included = COMPILE_FLAGS.flatMap((f, i) => COMPILE_FLAGS[i - 1] === "--include" ? [f] : []);
  for (const entry of entries) {
    assert.ok(included.includes(entry), `deno compile would leave out the worker ${entry}`);
  }
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
