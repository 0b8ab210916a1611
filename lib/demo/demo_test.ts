/**
 * runDemo's failure path, the fast and deterministic part of it (the working mesh is exercised
 * by tests/integration): a start that fails stops what it started and removes its temporary
 * folder. To see that folder, the outer test re-runs this file in a child Deno whose $TMPDIR is
 * a fresh directory of its own (the "inside:" tests), never changing $TMPDIR under the other
 * files of a parallel run.
 */
import assert from "node:assert/strict";
import { runDemo } from "./demo.ts";
import { createLogger } from "../log/logger.ts";

const TMP = Deno.env.get("WEFT_DEMO_TEST_TMPDIR");
const CHILD = TMP !== undefined;

Deno.test({
  name: "demo: failing starts with a temporary folder of their own (runs the inside: tests)",
  ignore: CHILD,
  fn: async () => {
    const tmp = await Deno.makeTempDir({ prefix: "weft-demo-test-" });
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "test",
          "-A",
          "--unstable-net",
          "--filter",
          "inside:",
          new URL(import.meta.url).pathname,
        ],
        env: { TMPDIR: tmp, WEFT_DEMO_TEST_TMPDIR: tmp, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.ok(out.success, text);
      assert.match(text, /ok \| 3 passed \| 0 failed/, text);
      // Nothing of the demos is left behind.
      const left: string[] = [];
      for await (const e of Deno.readDir(tmp)) {
        if (e.name.startsWith("weft-demo-")) left.push(e.name);
      }
      assert.deepEqual(left, []);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

async function demoDirs(): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir(TMP!)) if (e.name.startsWith("weft-demo-")) found.push(e.name);
  return found;
}

/** Runs a demo expected to fail; returns its error, the log lines and what it printed. */
async function failingDemo(opts: { nodes?: number; basePort?: number }) {
  const lines: string[] = [];
  const printed: string[] = [];
  const logger = createLogger({ format: "json", sink: (l) => lines.push(l) });
  const err = await runDemo({ ...opts, logger, print: (l) => printed.push(l) }).then(
    () => assert.fail("the demo started"),
    (e: unknown) => e,
  );
  return { err, lines: lines.map((l) => JSON.parse(l).msg), printed };
}

Deno.test({
  name: "inside: a leader that exits during start fails the demo, and its folder is removed",
  ignore: !CHILD,
  fn: async () => {
    assert.deepEqual(await demoDirs(), []);
    // The status servers would listen from basePort + 100: past 65535, so the leader refuses
    // its arguments and exits at once.
    const { err, lines, printed } = await failingDemo({ basePort: 65500 });
    assert.ok(err instanceof Error);
    // The log's last words are in the message: the folder holding the log is gone.
    assert.match(err.message, /^agent for 127\.0\.0\.1:65600 exited during start: .*65600/);
    assert.deepEqual(lines, ["demo stopped"]);
    assert.deepEqual(printed, [], "nothing shown for a mesh that never came up");
    assert.deepEqual(await demoDirs(), []);
  },
});

Deno.test({
  name: "inside: a demo without nodes fails before starting anything, and removes its folder",
  ignore: !CHILD,
  fn: async () => {
    const { err, lines, printed } = await failingDemo({ nodes: 0 });
    assert.ok(err instanceof Error);
    assert.deepEqual(lines, ["demo stopped"]);
    assert.deepEqual(printed, []);
    assert.deepEqual(await demoDirs(), []);
  },
});

Deno.test({
  name: "inside: a port the demo needs in use fails before anything starts, naming it",
  ignore: !CHILD,
  fn: async () => {
    // Another server on the leader's status port: its /healthz must not pass for the leader's.
    const other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const base = other.addr.port - 100;
      const { err, lines, printed } = await failingDemo({ basePort: base });
      assert.ok(err instanceof Error);
      // (Another of the ports may happen to be taken too: the one held here must be named.)
      assert.match(
        err.message,
        new RegExp(
          `^ports the demo needs are in use \\((.*, )?tcp ${other.addr.port}(, .*)?\\): stop ` +
            "what holds them, or choose another --base-port$",
        ),
      );
      assert.deepEqual(lines, [], "nothing was started, so nothing stopped");
      assert.deepEqual(printed, []);
      assert.deepEqual(await demoDirs(), []);
    } finally {
      other.close();
    }
  },
});
