import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { summarizeHeap } from "./heapprofile.ts";

const frame = (functionName: string, url = "file:///w/lib/a.ts") => ({
  functionName,
  url,
  lineNumber: 0,
});

Deno.test("summarizeHeap: self bytes by function, totals with callees, counted once a node", () => {
  const s = summarizeHeap({
    head: {
      callFrame: frame("(root)", ""),
      selfSize: 0,
      children: [{
        callFrame: frame("outer"),
        selfSize: 100,
        children: [
          { callFrame: frame("inner", "file:///w/lib/b.ts"), selfSize: 300 },
          // Recursion: outer under outer counts once toward outer's total.
          { callFrame: frame("outer"), selfSize: 50 },
        ],
      }],
    },
  });
  assertEquals(s.bytes, 450);
  const fn = Object.fromEntries(s.byFunction.map((r) => [r.name, r]));
  assertEquals(fn["inner lib/b.ts:1"], {
    name: "inner lib/b.ts:1",
    selfBytes: 300,
    totalBytes: 300,
  });
  assertEquals(fn["outer lib/a.ts:1"].selfBytes, 150);
  assertEquals(fn["outer lib/a.ts:1"].totalBytes, 450);
  assertEquals(s.byFunction[0].name, "inner lib/b.ts:1");
  const file = Object.fromEntries(s.byFile.map((r) => [r.name, r]));
  assertEquals(file["lib/a.ts"].totalBytes, 450);
  assertEquals(file["lib/b.ts"].selfBytes, 300);
});
