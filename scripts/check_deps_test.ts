import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { checkDeps, projectFiles, specifiers } from "./check_deps.ts";

// Fixture sources are arrays of lines so that this file's own lines do not start with an import.
const src = (...lines: string[]) => lines.join("\n");

Deno.test("deps: the import specifiers of a file, and only those", () => {
  const text = src(
    `import { a } from "./a.ts";`,
    `import {`,
    `  type B,`,
    `  c as d,`,
    `} from "npm:hono@^4.13.19/http-exception";`,
    `export * from "../e.ts";`,
    `import "side-effect";`,
    `const x = await ${"import"}("dyn");`, // split: this file's own text must pass the check
    `/**`,
    ` * import { Agent } from "@weft/weft";`,
    ` */`,
    `const y = Array.from("not an import");`,
    `const z = { "from": "nor this" };`,
    'const t = `import { q } from "${url}";`;',
  );
  assert.deepEqual(specifiers(text), [
    { line: 1, specifier: "./a.ts", inComment: false },
    { line: 5, specifier: "npm:hono@^4.13.19/http-exception", inComment: false },
    { line: 6, specifier: "../e.ts", inComment: false },
    { line: 7, specifier: "side-effect", inComment: false },
    { line: 10, specifier: "@weft/weft", inComment: true },
    { line: 8, specifier: "dyn", inComment: false },
  ]);
});

Deno.test("deps: bare specifiers fail; the package's own name passes in doc examples only", () => {
  const files = new Map([
    ["lib/a.ts", src(`import { Hono } from "hono";`, `import { x } from "node:fs";`)],
    ["lib/b.ts", src(`/**`, ` * import { Agent } from "@weft/weft/agent";`, ` */`)],
    ["lib/c.ts", src(`import { Agent } from "@weft/weft";`)],
  ]);
  assert.deepEqual(checkDeps(files, "@weft/weft"), [
    `lib/a.ts:1: bare specifier "hono": write it in full (npm:<package>@<range>/<path>, or a relative path)`,
    `lib/c.ts:1: bare specifier "@weft/weft": write it in full (npm:<package>@<range>/<path>, or a relative path)`,
  ]);
});

Deno.test("deps: one version range per package, and always one", () => {
  const files = new Map([
    ["lib/a.ts", src(`import { Hono } from "npm:hono@^4.13.19";`)],
    ["lib/b.ts", src(`import { x } from "npm:@noble/hashes@^2.4.0/hmac.js";`)],
    ["cli/c.ts", src(`import { bodyLimit } from "npm:hono@^4.12.0/body-limit";`)],
    ["cli/d.ts", src(`import { y } from "npm:@noble/hashes/sha2.js";`)],
    ["cli/e.ts", src(`import { z } from "npm:@noble/hashes@^2.4.0/sha2.js";`)],
  ]);
  assert.deepEqual(checkDeps(files, "@weft/weft"), [
    "cli/d.ts:1: npm:@noble/hashes has no version range",
    "npm:hono is named with 2 version ranges: ^4.13.19 (lib/a.ts:1), ^4.12.0 (cli/c.ts:1)",
  ]);
});

Deno.test("deps: the repository names every package in full, one range each", async () => {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const files = await projectFiles(root);
  assert.ok(files.has("mod.ts") && files.has("lib/crypto/blake2s.ts"), "the sources are scanned");
  assert.deepEqual(checkDeps(files, "@weft/weft"), []);
});
