/**
 * The relay's per-packet path allocates nothing: a member's wrap, the relay's check and forward
 * and the other member's unwrap run in a child process under `--trace-gc`, and the collections
 * V8 reports between the child's two time markers are counted. A control that allocates one
 * small buffer per round shows the counting works.
 */
import assert from "node:assert/strict";

const child = new URL("../../tests/fixtures/relay_alloc_child.ts", import.meta.url);

/**
 * The collections whose V8 timestamp (ms since the isolate started) falls between the child's
 * `MEASURE-START <ms>` and `MEASURE-END <ms>` (its `performance.now()`, from process start: the
 * two clocks differ by the few ms before the isolate exists, which only makes the window wider).
 */
async function collections(mode: string): Promise<{ count: number; text: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--trace-gc", child.pathname, mode],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, text.slice(-500));
  const start = Number(/MEASURE-START (\d+)/.exec(text)?.[1]);
  const end = Number(/MEASURE-END (\d+)/.exec(text)?.[1]);
  assert.ok(start > 0 && end > start, text.slice(-500));
  let count = 0;
  for (const m of text.matchAll(/\]\s+(\d+) ms: (Scavenge|Mark-Compact)/g)) {
    const at = Number(m[1]);
    if (at >= start && at <= end) count++;
  }
  return { count, text };
}

Deno.test("relay: wrap, forward and unwrap do not allocate per packet", async () => {
  assert.ok((await collections("allocating")).count > 0, "the control counted none");
  const { count, text } = await collections("relay");
  assert.equal(count, 0, text.split("\n").filter((l) => /Scavenge|MEASURE/.test(l)).join("\n"));
});
