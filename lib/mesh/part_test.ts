import assert from "node:assert/strict";
import { type MeshPart, PartList } from "./part.ts";
import type { MembershipView } from "../members/member.ts";
import { createLogger } from "../log/logger.ts";

const quiet = createLogger({ level: "error", sink: () => {} });
const view = (version: number): MembershipView => ({
  network: "10.0.0.0/24",
  version,
  members: [],
});

/** A part that records its calls as `name:event`. */
function recording(name: string, calls: string[], extra: Partial<MeshPart> = {}): MeshPart {
  return {
    start: () => void calls.push(`${name}:start`),
    viewChanged: (v) => void calls.push(`${name}:view ${v.version}`),
    close: () => void calls.push(`${name}:close`),
    ...extra,
  };
}

Deno.test("parts: start in order, views to the started ones in order, close in reverse", async () => {
  const calls: string[] = [];
  const parts = [
    { name: "a", part: recording("a", calls) },
    // A part that applies a view as it starts (the node's sync): only those before it hear it.
    {
      name: "b",
      part: recording("b", calls, {
        start: () => {
          calls.push("b:start");
          list.viewChanged(view(1)); // made below, before any part starts
        },
      }),
    },
    { name: "c", part: recording("c", calls) },
  ];
  const list: PartList = new PartList(parts, quiet);
  assert.deepEqual(list.names, ["a", "b", "c"]);
  list.viewChanged(view(0));
  assert.deepEqual(calls, [], "no part hears a view before it starts");
  await list.start();
  list.viewChanged(view(2));
  await list.close();
  await list.close();
  assert.deepEqual(calls, [
    "a:start",
    "b:start",
    "a:view 1",
    "c:start",
    "a:view 2",
    "b:view 2",
    "c:view 2",
    "c:close",
    "b:close",
    "a:close",
  ]);
});

Deno.test("parts: a failed close is logged, the rest still close, then it rethrows", async () => {
  const calls: string[] = [];
  const list = new PartList([
    { name: "a", part: recording("a", calls) },
    { name: "b", part: recording("b", calls, { close: () => Promise.reject(new Error("b")) }) },
    { name: "c", part: recording("c", calls) },
  ], quiet);
  await assert.rejects(list.close(), /b/);
  assert.deepEqual(calls, ["c:close", "a:close"]);
});

Deno.test("parts: a failed start stops there; closing then closes every part", async () => {
  const calls: string[] = [];
  const list = new PartList([
    { name: "a", part: recording("a", calls) },
    { name: "b", part: recording("b", calls, { start: () => Promise.reject(new Error("b")) }) },
    { name: "c", part: recording("c", calls) },
  ], quiet);
  await assert.rejects(list.start(), /b/);
  list.viewChanged(view(1));
  await list.close();
  assert.deepEqual(calls, ["a:start", "a:view 1", "c:close", "b:close", "a:close"]);
});
