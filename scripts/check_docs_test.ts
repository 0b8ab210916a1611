import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { exportPaths, lintDocs } from "./check_docs.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

Deno.test("docs: an undocumented export and a private type are found", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ exports: { ".": "./mod.ts" } }));
    await Deno.writeTextFile(
      `${dir}/mod.ts`,
      "/** A module. @module */\n" +
        "interface Hidden { a: number }\n" +
        "/** Documented, but its type is private. */\n" +
        "export function f(): Hidden { return { a: 1 }; }\n" +
        "export const undocumented = 1;\n",
    );
    assert.deepEqual(await exportPaths(dir), ["./mod.ts"]);
    const { problems, report } = await lintDocs(dir, ["./mod.ts"]);
    assert.equal(problems, 2, report);
    assert.match(report, /private-type-ref/);
    assert.match(report, /missing-jsdoc/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("docs: every entry the package exports passes deno doc --lint", async () => {
  const entries = await exportPaths(root);
  assert.ok(entries.includes("./mod.ts") && entries.length > 5, entries.join(" "));
  const { problems, report } = await lintDocs(root, entries);
  assert.equal(problems, 0, report);
});
