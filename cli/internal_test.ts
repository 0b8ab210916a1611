import assert from "node:assert/strict";
import * as internal from "./internal.ts";
import * as client from "./internal_client.ts";
import * as options from "./internal_options.ts";

/** Every public entry's module: deno.json's exports but the executable, which exports none. */
async function publicEntries(): Promise<[string, Record<string, unknown>][]> {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url))) as {
    exports: Record<string, string>;
  };
  const out: [string, Record<string, unknown>][] = [];
  for (const [entry, path] of Object.entries(config.exports)) {
    if (entry === "./cli") continue;
    out.push([entry, await import(new URL(`../${path}`, import.meta.url).href)]);
  }
  return out;
}

Deno.test("cli/internal.ts: what only the CLI needs is in no public entry", async () => {
  const names = Object.keys(internal);
  assert.ok(names.includes("StateDir") && names.includes("bindControl"), names.join(" "));
  const leaked: string[] = [];
  for (const [entry, mod] of await publicEntries()) {
    for (const n of names) if (n in mod) leaked.push(`${entry} exports ${n}`);
  }
  assert.deepEqual(leaked, []);
});

Deno.test("cli/internal_*.ts: a name a public entry exports too is the same value", async () => {
  const light = { ...client, ...options } as Record<string, unknown>;
  assert.ok("parseLogLevel" in light && "optionHelp" in light, Object.keys(light).join(" "));
  const differ: string[] = [];
  for (const [entry, mod] of await publicEntries()) {
    for (const n of Object.keys(light)) {
      if (n in mod && mod[n] !== light[n]) differ.push(`${entry} ${n}`);
    }
  }
  assert.deepEqual(differ, []);
  // Each name in one internal entry only: a command imports it from one place.
  const twice = Object.keys(internal).filter((n) => n in light);
  assert.deepEqual(twice, []);
});
