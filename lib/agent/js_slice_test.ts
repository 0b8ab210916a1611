import assert from "node:assert/strict";
import { DEFAULT_JS_SLICE_US, jsSliceUs } from "./js_slice.ts";
import { childJson } from "../../drivers/linux/testing/in_child.ts";

const CHILD = new URL("../../tests/fixtures/js_slice_child.ts", import.meta.url).pathname;

/** The child agent's JS thread's slice before and after it started, ns. */
function childSlice(
  env: Record<string, string>,
  leader = false,
): Promise<{ before: number | null; after: number | null }> {
  return childJson(["run", "-A", CHILD, ...(leader ? ["leader"] : [])], env);
}

Deno.test("js slice: WEFT_JS_SLICE_US is read, clamped, and a leader's default is none", () => {
  const saved = Deno.env.get("WEFT_JS_SLICE_US");
  const cases: [string | undefined, boolean, number][] = [
    [undefined, false, DEFAULT_JS_SLICE_US],
    [undefined, true, 0],
    ["", false, DEFAULT_JS_SLICE_US],
    ["0", false, 0],
    ["250", true, 250],
    ["50", false, 100],
    ["1e9", false, 100_000],
    ["fast", false, DEFAULT_JS_SLICE_US],
    ["-5", true, 0],
  ];
  try {
    for (const [text, leader, want] of cases) {
      if (text === undefined) Deno.env.delete("WEFT_JS_SLICE_US");
      else Deno.env.set("WEFT_JS_SLICE_US", text);
      assert.equal(jsSliceUs(leader), want, `${text} (leader ${leader})`);
    }
  } finally {
    if (saved === undefined) Deno.env.delete("WEFT_JS_SLICE_US");
    else Deno.env.set("WEFT_JS_SLICE_US", saved);
  }
  assert.equal(DEFAULT_JS_SLICE_US, 100);
});

Deno.test({
  name: "js slice: an agent shortens its JS thread's slice; a leader's and `0` leave it",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const agent = await childSlice({ WEFT_JS_SLICE_US: "" });
    // A kernel without custom slices (before 6.12) reports none: nothing to see there.
    if (!agent.before) return;
    assert.equal(agent.after, DEFAULT_JS_SLICE_US * 1000, JSON.stringify(agent));
    const leader = await childSlice({ WEFT_JS_SLICE_US: "" }, true);
    assert.equal(leader.after, leader.before, `a leader's: ${JSON.stringify(leader)}`);
    const off = await childSlice({ WEFT_JS_SLICE_US: "0" });
    assert.equal(off.after, off.before, `off: ${JSON.stringify(off)}`);
    const asked = await childSlice({ WEFT_JS_SLICE_US: "300" }, true);
    assert.equal(asked.after, 300_000, `asked of a leader: ${JSON.stringify(asked)}`);
  },
});
