import assert from "node:assert/strict";
import * as internal from "./internal.ts";

Deno.test("cli/internal.ts: what only the CLI needs is in no public entry", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url))) as {
    exports: Record<string, string>;
  };
  const names = Object.keys(internal);
  assert.ok(names.includes("StateDir") && names.includes("parseLogLevel"), names.join(" "));
  const leaked: string[] = [];
  for (const [entry, path] of Object.entries(config.exports)) {
    if (entry === "./cli") continue; // the executable itself, which exports no library
    const mod = await import(new URL(`../${path}`, import.meta.url).href);
    for (const n of names) if (n in mod) leaked.push(`${entry} exports ${n}`);
  }
  assert.deepEqual(leaked, []);
});
