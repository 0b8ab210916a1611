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
      assert.match(text, /ok \| 4 passed \| 0 failed/, text);
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
    // A port past 65535: the leader refuses its arguments and exits at once.
    const { err, lines, printed } = await failingDemo({ basePort: 65536 });
    assert.ok(err instanceof Error);
    // The log's last words are in the message: the folder holding the log is gone.
    assert.match(err.message, /^agent leader exited during start: .*65536/);
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
    // Another server on the leader's port (its TCP side): the range the user chose is refused.
    const other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const base = other.addr.port;
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

Deno.test({
  name: "inside: the default port range taken, the demo moves to the next one and comes up",
  ignore: !CHILD,
  fn: async () => {
    // The default range's first port held (its TCP side), as another program or test would.
    let held: Deno.Listener | null = null;
    try {
      held = Deno.listen({ hostname: "127.0.0.1", port: 52820 });
    } catch { /* held already by someone else: the demo must move on all the same */ }
    const lines: string[] = [];
    const logger = createLogger({ format: "json", sink: (l) => void lines.push(l) });
    try {
      const demo = await runDemo({ nodes: 2, logger, print: () => {} });
      try {
        assert.equal(demo.statusAddresses.length, 2);
        for (const a of demo.statusAddresses) assert.match(a, /^127\.0\.0\.1:\d+$/);
        const moved = lines.map((l) => JSON.parse(l)).filter((l) =>
          l.msg === "demo ports taken: trying the next range"
        );
        assert.ok(moved.length >= 1, lines.join("\n"));
        assert.equal(moved[0].base, 52820);
      } finally {
        await demo.stop();
      }
    } finally {
      held?.close();
    }
    assert.deepEqual(await demoDirs(), []);
  },
});
