/**
 * The CLI is a thin layer over the library: `main.ts` runs `cli/main.ts`, and the modules under
 * `cli/` import the library only through its public entries (the files deno.json exports: `mod.ts`
 * and the `mod.ts` of each part), plus their command-line parser, so whatever the CLI does a
 * program can do too. The exceptions are the CLI's internal entries, `cli/internal.ts` and
 * `cli/internal_<part>.ts` beside it: what only the CLI needs (state files, flag parsing) and no
 * embedding program should see, the latter for the one-shot commands, from modules that load little.
 */
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url);

Deno.test("main.ts imports only cli/main.ts; cli/ only the public entries, cli/internal*.ts and commander", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("main.ts", root).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { specifier: string; dependencies?: { specifier: string }[] }[];
  };
  const main = info.modules.find((m) => m.specifier === new URL("main.ts", root).href);
  assert.ok(main, "main.ts in the module graph");
  assert.deepEqual((main.dependencies ?? []).map((d) => d.specifier), ["./cli/main.ts"]);

  const exports = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))).exports as Record<
    string,
    string
  >;
  const entries = new Set(Object.values(exports).map((e) => new URL(e, root).href));
  const cli = new URL("cli/", root).href;
  const modules = info.modules.filter((m) => m.specifier.startsWith(cli));
  assert.ok(modules.length > 5, "the cli/ modules in the module graph");
  const internal = (s: string) => /^internal(_[a-z]+)?\.ts$/.test(s.slice(cli.length));
  const internals = modules.filter((m) => internal(m.specifier)).map((m) => m.specifier);
  assert.ok(internals.length >= 2, `the CLI's internal entries in the module graph: ${internals}`);
  for (const m of modules) {
    if (internal(m.specifier)) continue;
    for (const d of m.dependencies ?? []) {
      const url = d.specifier.startsWith(".") ? new URL(d.specifier, m.specifier).href : undefined;
      if (url === undefined) {
        assert.match(
          d.specifier,
          /^npm:@commander-js\/extra-typings@/,
          `${m.specifier} imports it`,
        );
        continue;
      }
      assert.ok(
        url.startsWith(cli) || entries.has(url),
        `${m.specifier.slice(cli.length)} imports ${d.specifier}, not a public entry`,
      );
    }
  }
});
