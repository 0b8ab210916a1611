/**
 * `weft wireguard`'s command line: the interface argument is checked before anything starts
 * (exit 2), `--print-wrapper` prints the script to name in WG_QUICK_USERSPACE_IMPLEMENTATION,
 * and the help says how it behaves. Starting an interface needs root: tests/e2e/wgquick_userspace_test.ts.
 */
import assert from "node:assert/strict";
import { weft } from "../tests/fixtures/procs.ts";
import { selfCommand } from "../lib/agent/mod.ts";

Deno.test("weft wireguard: a missing or bad interface name is refused (exit 2)", async () => {
  const missing = await weft(["wireguard"]);
  assert.equal(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /missing argument 'interface'/);
  for (const bad of ["bad name", "x".repeat(16), "../wg0"]) {
    const r = await weft(["wireguard", "-f", bad]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /invalid interface name/);
  }
  const extra = await weft(["wireguard", "wg0", "wg1"]);
  assert.equal(extra.code, 2, extra.stderr);
});

Deno.test("weft wireguard --print-wrapper: a script that runs this weft's wireguard", async () => {
  const r = await weft(["wireguard", "--print-wrapper"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^#!\/bin\/sh\n/);
  const exec = r.stdout.trimEnd().split("\n").at(-1)!;
  // Every word of the command that starts weft, then `wireguard "$@"`.
  assert.ok(exec.startsWith("exec "), exec);
  assert.ok(exec.endsWith(` wireguard "$@"`), exec);
  for (const word of selfCommand()) assert.ok(exec.includes(word), `${word} in ${exec}`);
});

Deno.test("weft wireguard --help: the foreground flag, LOG_LEVEL and the variable wg-quick reads", async () => {
  const r = await weft(["wireguard", "--help"]);
  assert.equal(r.code, 0);
  for (const text of ["-f, --foreground", "WG_QUICK_USERSPACE_IMPLEMENTATION", "LOG_LEVEL"]) {
    assert.ok(r.stdout.includes(text), `${text} in:\n${r.stdout}`);
  }
});
