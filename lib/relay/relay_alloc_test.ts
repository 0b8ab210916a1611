/**
 * The relay's per-packet path allocates nothing: a member's wrap, the relay's check and forward
 * and the other member's unwrap run in a child process under `--trace-gc`, and the collections
 * V8 reports between the child's two time markers are counted. A control that allocates one
 * small buffer per round shows the counting works.
 */
import assert from "node:assert/strict";

const child = new URL("../../tests/fixtures/relay_alloc_child.ts", import.meta.url);

/**
 * The collections in the quietest of the child's windows: those whose V8 timestamp (ms since
 * the isolate started) falls between a `MEASURE-START <ms>` and the next `MEASURE-END <ms>` (its
 * `performance.now()`, from process start: the two clocks differ by a few ms, which a window of
 * hundreds of ms absorbs).
 */
async function collections(mode: string): Promise<{ count: number; text: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    // Optimised on the main thread, as tests/fixtures/gc_count.ts says why.
    args: [
      "run",
      "-A",
      "--v8-flags=--trace-gc,--no-concurrent-recompilation",
      child.pathname,
      mode,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, text.slice(-500));
  const starts = [...text.matchAll(/MEASURE-START (\d+)/g)].map((m) => Number(m[1]));
  const ends = [...text.matchAll(/MEASURE-END (\d+)/g)].map((m) => Number(m[1]));
  assert.ok(starts.length > 0 && starts.length === ends.length, text.slice(-500));
  const gcs = [...text.matchAll(/\]\s+(\d+) ms: (Scavenge|Mark-Compact)/g)].map((m) =>
    Number(m[1])
  );
  const counts = starts.map((s, i) => gcs.filter((at) => at >= s && at <= ends[i]).length);
  return { count: Math.min(...counts), text };
}

Deno.test("relay: wrap, forward and unwrap do not allocate per packet", async () => {
  assert.ok((await collections("allocating")).count > 0, "the control counted none");
  const { count, text } = await collections("relay");
  assert.equal(count, 0, text.split("\n").filter((l) => /Scavenge|MEASURE/.test(l)).join("\n"));
});

Deno.test("relay: the head-and-tag MAC form allocates nothing per packet either", async () => {
  const { count, text } = await collections("relay-ht");
  assert.equal(count, 0, text.split("\n").filter((l) => /Scavenge|MEASURE/.test(l)).join("\n"));
});
