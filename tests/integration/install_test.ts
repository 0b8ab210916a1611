/**
 * `deno task install`, as the README gives it: the `weft` command it writes into a temporary
 * `DENO_INSTALL_ROOT` runs from another folder (the temporary one, no deno.json there): `weft
 * --version` names deno.json's version, and `weft demo --once` brings up a mesh whose members
 * answer each other's pings.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { freeDemoBase } from "../fixtures/procs.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dec = new TextDecoder();

async function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: Record<string, string> },
) {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    env: { NO_COLOR: "1", ...opts.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("deno task install: weft on the PATH of DENO_INSTALL_ROOT runs --version and the demo", async () => {
  const root = await Deno.makeTempDir({ prefix: "weft-install-" });
  try {
    // The real task, from the repository, as a user runs it.
    const install = await run(Deno.execPath(), ["task", "install"], {
      cwd: ROOT,
      env: { DENO_INSTALL_ROOT: root },
    });
    assert.equal(install.code, 0, install.stderr);
    const bin = `${root}/bin/weft`;
    assert.ok((await Deno.stat(bin)).isFile, `${bin} written`);

    // On the PATH, from a folder with no deno.json: the command carries its own configuration.
    const env = { PATH: `${root}/bin:${Deno.env.get("PATH") ?? ""}` };
    const version = await run("weft", ["--version"], { cwd: root, env });
    assert.equal(version.code, 0, version.stderr);
    const cfg = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)) as { version: string };
    assert.equal(version.stdout.trim(), cfg.version);

    const nodes = 2;
    const demo = await run(
      "weft",
      ["demo", "--once", "--nodes", String(nodes), "--base-port", String(freeDemoBase(nodes))],
      { cwd: root, env },
    );
    assert.equal(demo.code, 0, demo.stdout + demo.stderr);
    assert.match(demo.stdout, /leader up; join token created/);
    assert.match(demo.stdout, /^leader\s+\S+\s+leader\s/m, demo.stdout);
    assert.match(demo.stdout, /^node-1\s+\S+\s+node\s/m, demo.stdout);
    // Every member pinged every other, and every ping was answered.
    const pings = demo.stdout.split("\n").filter((l) => l.startsWith("ping "));
    assert.equal(pings.length, nodes * (nodes - 1), demo.stdout);
    for (const p of pings) assert.match(p, /: \d+\.\d\d ms, \d+\.\d\d ms$/, p);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
