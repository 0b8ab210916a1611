/**
 * scripts/weft-wireguard, the program to name in WG_QUICK_USERSPACE_IMPLEMENTATION: it runs
 * `$WEFT wireguard <args>` when WEFT is set, else this checkout's main.ts with the flags of
 * `deno task start` (from any directory), passing the arguments through.
 */
import assert from "node:assert/strict";

const WRAPPER = new URL("./weft-wireguard", import.meta.url).pathname;
const ROOT = new URL("../", import.meta.url);
const PATH = `${Deno.execPath().replace(/\/[^/]*$/, "")}:${Deno.env.get("PATH") ?? ""}`;

async function run(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(WRAPPER, {
    args,
    cwd: "/",
    env: { PATH, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("weft-wireguard: WEFT names the command, the arguments pass through", async () => {
  const r = await run(["wq0", "a b"], { WEFT: "printf [%s]" });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "[wireguard][wq0][a b]");
});

Deno.test("weft-wireguard: in a checkout, its main.ts with the flags of `deno task start`", async () => {
  const script = await Deno.readTextFile(WRAPPER);
  const start = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks
    .start as string;
  const flags = start.replace(/^deno run /, "").replace(/ main\.ts$/, "").split(" ");
  const line = script.replaceAll("\\\n", " ").split("\n").find((l) => l.includes("exec deno run"))!;
  for (const flag of flags) assert.ok(line.includes(` ${flag} `), `${flag} in: ${line}`);
  const r = await run(["--help"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: weft wireguard /);
});
