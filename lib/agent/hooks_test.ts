/**
 * wg-quick hooks through runHooks: how a failure is described (exit status, signal), what a hook
 * sees (bash, no stdin, weft's environment), what is logged (never the command), and an empty
 * stage needing no bash. The cases that need a different $PATH re-run this file in a child Deno
 * with WEFT_HOOKS_TEST_CHILD set (the "inside:" tests), so $PATH is never changed under the
 * other test files of a parallel run. (%i expansion and "the first failure stops" are in
 * wgquick_agent_test.ts.)
 */
import assert from "node:assert/strict";
import { HookError, type HookStage, runHooks } from "./hooks.ts";
import { findExecutable } from "./commands.ts";
import { createLogger, nullLogger } from "../log/logger.ts";
import { tempDirs } from "../../tests/fixtures/temp_dir.ts";

const CHILD = Deno.env.get("WEFT_HOOKS_TEST_CHILD") !== undefined;
const HAVE_BASH = findExecutable("bash") !== null;

const withDir = tempDirs("weft-hooks-");

/** The HookError a stage throws (fails the test if it does not). */
async function hookError(stage: HookStage, commands: string[]): Promise<HookError> {
  try {
    await runHooks(stage, commands, "wgh0", nullLogger);
  } catch (e) {
    assert.ok(e instanceof HookError, String(e));
    return e;
  }
  assert.fail("expected a HookError");
}

Deno.test({
  name: "hooks: a failure names the stage, the hook's number and its exit status or signal",
  ignore: CHILD || !HAVE_BASH,
  fn: async () => {
    const exit = await hookError("PostDown", ["true", "true", "exit 7"]);
    assert.equal(exit.name, "HookError");
    assert.equal(exit.stage, "PostDown");
    assert.equal(exit.message, "PostDown hook 3 of 3 failed (exit 7)");
    const killed = await hookError("PreDown", ["kill -TERM $$"]);
    assert.equal(killed.stage, "PreDown");
    assert.equal(killed.message, "PreDown hook 1 of 1 failed (killed by SIGTERM)");
    // Only the low 8 bits of an exit status reach the parent.
    assert.equal(
      (await hookError("PreUp", ["exit 300"])).message,
      "PreUp hook 1 of 1 failed (exit 44)",
    );
  },
});

Deno.test({
  name: "hooks: a hook has no stdin, weft's environment, and runs under bash with %i expanded",
  ignore: CHILD || !HAVE_BASH,
  fn: async () => {
    await withDir(async (dir) => {
      const out = `${dir}/out`;
      // A unique variable, so other tests in this process do not care that it is set.
      const name = `WEFT_HOOK_TEST_${crypto.randomUUID().slice(0, 8).toUpperCase()}`;
      Deno.env.set(name, "from weft");
      try {
        await runHooks(
          "PostUp",
          [
            // With stdin from /dev/null, cat sees end of file at once rather than waiting.
            `cat > ${out}.stdin`,
            `printf '%s' "$${name}" > ${out}.env`,
            // Bash-only syntax; %i inside quotes is replaced too.
            `[[ "%i" == wg* ]] && printf '%s' "%i" > ${out}.iface`,
          ],
          "wgh0",
          nullLogger,
        );
      } finally {
        Deno.env.delete(name);
      }
      assert.equal(await Deno.readTextFile(`${out}.stdin`), "");
      assert.equal(await Deno.readTextFile(`${out}.env`), "from weft");
      assert.equal(await Deno.readTextFile(`${out}.iface`), "wgh0");
    });
  },
});

Deno.test({
  name:
    "hooks: the log names stage, number and interface, never the command (it may hold a secret)",
  ignore: CHILD || !HAVE_BASH,
  fn: async () => {
    const lines: string[] = [];
    const logger = createLogger({ format: "json", sink: (l) => lines.push(l) });
    const secret = "s3cr3t-token-value";
    await runHooks("PreUp", [`true ${secret}`, `: ${secret}`], "wgh1", logger);
    assert.equal(lines.length, 2);
    const fields = lines.map((l) => JSON.parse(l));
    assert.deepEqual(
      fields.map((f) => [f.msg, f.stage, f.hook, f.interface]),
      [["hook", "PreUp", 1, "wgh1"], ["hook", "PreUp", 2, "wgh1"]],
    );
    for (const l of lines) assert.ok(!l.includes(secret), l);
    // An empty stage logs nothing.
    await runHooks("PostUp", [], "wgh1", logger);
    assert.equal(lines.length, 2);
  },
});

// ---- with $PATH changed, in a child process ----

Deno.test({
  name: "hooks: without bash on $PATH (runs the inside: tests in a child process)",
  ignore: CHILD,
  fn: async () => {
    await withDir(async (dir) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["test", "-A", "--filter", "inside:", new URL(import.meta.url).pathname],
        env: { WEFT_HOOKS_TEST_CHILD: "1", WEFT_HOOKS_TEST_EMPTY_PATH: dir, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.ok(out.success, text);
      assert.match(text, /ok \| 1 passed/, text);
    });
  },
});

Deno.test({
  name: "inside: no bash is a HookError for a stage with hooks, nothing for an empty one",
  ignore: !CHILD,
  fn: async () => {
    // Only this test runs in this process, so $PATH may change here.
    Deno.env.set("PATH", Deno.env.get("WEFT_HOOKS_TEST_EMPTY_PATH")!);
    assert.equal(findExecutable("bash"), null);
    await runHooks("PreUp", [], "wgh2", nullLogger);
    const e = await hookError("PostUp", ["true"]);
    assert.equal(e.stage, "PostUp");
    assert.equal(e.message, "PostUp hooks run with bash, which is not installed");
  },
});
