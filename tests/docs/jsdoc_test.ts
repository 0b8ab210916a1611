/**
 * The JSDoc examples JSR shows are tested as the Markdown docs' programs are (docs_test.ts): every
 * `@example` of an entry deno.json exports, of its module doc or of a symbol it exports, is a
 * `ts run` block, a complete program that starts what it needs (on loopback, in userspace mode),
 * closes it and says what it prints (`// prints: <line>`), or a `ts check: <reason>` block that
 * says why it cannot run here. The `ts run` ones are run, each by itself, in a network namespace of
 * its own (tests/docs/programs.ts): one that throws, prints other lines, or does not end fails.
 * Without namespaces they are skipped, saying so. All of them type-check (scripts/check_docs.ts,
 * which `deno task check` runs, holds that check and the marks).
 */
import assert from "node:assert/strict";
import {
  checkExamples,
  exampleMark,
  exportPaths,
  jsdocExamples,
  unmarkedJsdocExamples,
} from "../../scripts/check_docs.ts";
import { canUnshare, expectedPrints, ROOT_PATH, runProgram } from "./programs.ts";

const examples = await jsdocExamples(ROOT_PATH, await exportPaths(ROOT_PATH));

Deno.test("jsdoc: every example of the entries is `ts run` or `ts check: <reason>`", () => {
  assert.ok(examples.length > 10, `${examples.length} examples found`);
  assert.ok(examples.some((b) => b.file === "mod.ts"), "the root entry has an example");
  assert.deepEqual(unmarkedJsdocExamples(examples), [], "unmarked JSDoc examples");
  const run = examples.filter((b) => exampleMark(b)?.run === true);
  const silent = run.filter((b) => expectedPrints(b.body).length === 0)
    .map((b) => `${b.file}:${b.line}`);
  assert.deepEqual(silent, [], "`ts run` examples that do not say what they print (// prints:)");
  const declared = examples.filter((b) => /^\s*declare /m.test(b.body))
    .map((b) => `${b.file}:${b.line}`);
  assert.deepEqual(declared, [], "examples that declare what they use instead of making it");
});

Deno.test("jsdoc: the examples type-check", async () => {
  const files = [...new Set(examples.map((b) => b.file))];
  const failed = await checkExamples(ROOT_PATH, files);
  assert.equal(failed, null, failed ?? "");
});

const unshareOk = await canUnshare();
if (!unshareOk) {
  console.warn(
    "jsdoc: the `ts run` examples are skipped: no network namespace (needs root or " +
      "unprivileged user namespaces, and unshare from util-linux)",
  );
}

Deno.test({
  name: "jsdoc: a program that throws, prints other lines, or does not end fails",
  ignore: !unshareOk,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await runProgram("ok", 'console.log("a"); // prints: a');
    await assert.rejects(
      runProgram("throws", 'console.log("a"); // prints: a\nthrow new Error("boom");'),
      /throws: exit code 1[^]*boom/,
    );
    await assert.rejects(runProgram("other", 'console.log("b"); // prints: a'), /it printed:\nb\n/);
    await assert.rejects(
      runProgram("hangs", "setInterval(() => {}, 1000); // prints: nothing", 3000),
      /hangs: did not end within 3000 ms/,
    );
  },
});

for (const b of examples.filter((b) => exampleMark(b)?.run === true)) {
  Deno.test({
    name: `jsdoc: the example at ${b.file}:${b.line} runs, ends and prints what it says`,
    ignore: !unshareOk,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () => runProgram(`${b.file}:${b.line}`, b.body),
  });
}
