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

Deno.test("parts: a view's change goes to the parts that heard the view it starts from; the others take it whole", async () => {
  const heard: string[] = [];
  const part = (name: string): MeshPart => ({
    viewChanged: (v, change) =>
      void heard.push(`${name}:${v.version}${change ? ` from ${change.from}` : " whole"}`),
    close: () => {},
  });
  const parts = [
    { name: "a", part: part("a") },
    // A part that starts while a view is applied: its first view after that is whole.
    { name: "b", part: { ...part("b"), start: () => list.viewChanged(view(2)) } },
    { name: "c", part: part("c") },
  ];
  const list: PartList = new PartList(parts, quiet);
  const change = (from: number) => ({ from, upsert: [], remove: [] });
  await list.start();
  list.viewChanged(view(3), change(2));
  list.viewChanged(view(4), change(3));
  // A change that starts elsewhere (a view was skipped): whole for every part.
  list.viewChanged(view(6), change(5));
  list.viewChanged(view(7), null);
  list.viewChanged(view(8), change(7));
  assert.deepEqual(heard, [
    "a:2 whole",
    "a:3 from 2",
    "b:3 whole",
    "c:3 whole",
    "a:4 from 3",
    "b:4 from 3",
    "c:4 from 3",
    "a:6 whole",
    "b:6 whole",
    "c:6 whole",
    "a:7 whole",
    "b:7 whole",
    "c:7 whole",
    "a:8 from 7",
    "b:8 from 7",
    "c:8 from 7",
  ]);
});

Deno.test("parts: a part that throws on a change takes the next view whole", async () => {
  const heard: string[] = [];
  let fail = true;
  const list = new PartList([{
    name: "a",
    part: {
      viewChanged: (v, change) => {
        heard.push(`${v.version}${change ? ` from ${change.from}` : " whole"}`);
        if (change !== null && fail) {
          fail = false;
          throw new Error("applied partway");
        }
      },
      close: () => {},
    },
  }], quiet);
  const change = (from: number) => ({ from, upsert: [], remove: [] });
  await list.start();
  list.viewChanged(view(1));
  assert.throws(() => list.viewChanged(view(2), change(1)), /partway/);
  list.viewChanged(view(3), change(2));
  list.viewChanged(view(4), change(3));
  assert.deepEqual(heard, ["1 whole", "2 from 1", "3 whole", "4 from 3"]);
});
