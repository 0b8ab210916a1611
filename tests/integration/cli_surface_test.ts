/**
 * The CLI is a thin layer over the library: `main.ts` imports the library only through
 * `mod.ts` (plus commander), as the README says, so whatever the CLI does a program can do too.
 */
import assert from "node:assert/strict";

Deno.test("main.ts imports only mod.ts and its command-line parser", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("../../main.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { specifier: string; dependencies?: { specifier: string }[] }[];
  };
  const main = info.modules.find((m) => m.specifier.endsWith("/main.ts"));
  assert.ok(main, "main.ts in the module graph");
  const deps = (main.dependencies ?? []).map((d) => d.specifier).sort();
  assert.deepEqual(deps, ["./mod.ts", "@commander-js/extra-typings"]);
});
