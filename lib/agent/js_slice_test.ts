import assert from "node:assert/strict";
import { DEFAULT_JS_SLICE_US, jsSliceUs } from "./js_slice.ts";

const CHILD = new URL("../../tests/fixtures/v8_workers_child.ts", import.meta.url).pathname;

interface Thread {
  name: string;
  sliceUs: number | null;
  policy: number | null;
  main: boolean;
}

/** The threads of a child process that started two agents (tests/fixtures/v8_workers_child.ts). */
async function childThreads(env: Record<string, string>): Promise<Thread[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD],
    env,
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0, "the child ran");
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

/** Whether this kernel reports slices (EEVDF: Linux 6.6 and later). */
function kernelHasSlices(): boolean {
  try {
    return /^se\.slice/m.test(Deno.readTextFileSync("/proc/thread-self/sched"));
  } catch {
    return false;
  }
}

Deno.test({
  name: "js slice: an agent gives its JavaScript thread the short slice, its other threads not",
  ignore: Deno.build.os !== "linux" || !kernelHasSlices(),
  fn: async () => {
    const threads = await childThreads({ WEFT_JS_SLICE_US: "" });
    const main = threads.find((t) => t.main)!;
    assert.equal(main.sliceUs, DEFAULT_JS_SLICE_US, JSON.stringify(threads));
    const others = threads.filter((t) => !t.main);
    assert.ok(others.length > 0);
    for (const t of others) assert.notEqual(t.sliceUs, DEFAULT_JS_SLICE_US, t.name);
  },
});

Deno.test({
  name: "js slice: WEFT_JS_SLICE_US=0 leaves the JavaScript thread the kernel's slice",
  ignore: Deno.build.os !== "linux" || !kernelHasSlices(),
  fn: async () => {
    const threads = await childThreads({ WEFT_JS_SLICE_US: "0" });
    const main = threads.find((t) => t.main)!;
    // A thread at the normal policy (V8's workers are under SCHED_IDLE, which has no slice).
    const other = threads.find((t) => !t.main && t.policy === 0)!;
    assert.equal(main.sliceUs, other.sliceUs, JSON.stringify(threads));
    assert.notEqual(main.sliceUs, DEFAULT_JS_SLICE_US);
  },
});

Deno.test("js slice: the slice asked for, else the default", () => {
  const saved = Deno.env.get("WEFT_JS_SLICE_US");
  try {
    for (
      const [text, want] of [
        ["500", 500],
        ["0", 0],
        ["100000", 100_000],
        ["99", DEFAULT_JS_SLICE_US],
        ["100001", DEFAULT_JS_SLICE_US],
        ["1.5", DEFAULT_JS_SLICE_US],
        ["fast", DEFAULT_JS_SLICE_US],
        ["", DEFAULT_JS_SLICE_US],
      ] as const
    ) {
      Deno.env.set("WEFT_JS_SLICE_US", text);
      assert.equal(jsSliceUs(), want, text);
    }
    Deno.env.delete("WEFT_JS_SLICE_US");
    assert.equal(jsSliceUs(), DEFAULT_JS_SLICE_US);
  } finally {
    saved === undefined
      ? Deno.env.delete("WEFT_JS_SLICE_US")
      : Deno.env.set("WEFT_JS_SLICE_US", saved);
  }
});
