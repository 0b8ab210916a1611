import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  exportPaths,
  jsdocExamples,
  lintDocs,
  lintEachAlone,
  unmarkedJsdocExamples,
} from "./check_docs.ts";

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

Deno.test("docs: a type another entry exports is a problem for the entry linted alone", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/types.ts`,
      "/** A type. */\nexport interface T {\n  /** A. */\n  a: number;\n}\n",
    );
    await Deno.writeTextFile(
      `${dir}/a.ts`,
      '/** A. @module */\nimport type { T } from "./types.ts";\n' +
        "/** Refers to T, which only b exports. */\nexport function f(): T { return { a: 1 }; }\n",
    );
    await Deno.writeTextFile(
      `${dir}/b.ts`,
      '/** B. @module */\nexport type { T } from "./types.ts";\n',
    );
    assert.equal((await lintDocs(dir, ["./a.ts", "./b.ts"])).problems, 0);
    const alone = await lintEachAlone(dir, ["./a.ts", "./b.ts"]);
    assert.deepEqual(alone.map((l) => [l.entry, l.problems]), [["./a.ts", 1], ["./b.ts", 0]]);
    assert.match(alone[0].report, /private-type-ref/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("docs: every entry the package exports passes deno doc --lint alone", async () => {
  const entries = await exportPaths(root);
  assert.ok(entries.includes("./mod.ts") && entries.length > 5, entries.join(" "));
  for (const l of await lintEachAlone(root, entries)) assert.equal(l.problems, 0, l.report);
});

Deno.test("docs: the JSDoc examples of an entry and of what it re-exports are found, each once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify({ exports: { ".": "./mod.ts", "./b": "./b.ts" } }),
    );
    await Deno.writeTextFile(
      `${dir}/mod.ts`,
      "/**\n * A module.\n *\n * @example Title\n * ```ts run\n * console.log(1); // prints: 1\n" +
        ' * ```\n * @module\n */\nexport { f } from "./a.ts";\n',
    );
    await Deno.writeTextFile(
      `${dir}/a.ts`,
      "/** Internal. */\nexport const x = 1;\n\n/**\n * F.\n *\n * @example\n * ```ts\n" +
        " * f();\n * ```\n */\nexport function f(): void {}\n",
    );
    await Deno.writeTextFile(`${dir}/b.ts`, '/** B. @module */\nexport { f } from "./a.ts";\n');
    const found = await jsdocExamples(dir, await exportPaths(dir));
    assert.deepEqual(
      found.map((b) => [b.file, b.line, b.lang, b.info, b.body]),
      [["a.ts", 8, "ts", "", "f();"], [
        "mod.ts",
        5,
        "ts",
        "run",
        "console.log(1); // prints: 1",
      ]],
    );
    assert.deepEqual(unmarkedJsdocExamples(found), ["a.ts:8: ```ts"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
