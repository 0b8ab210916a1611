import assert from "node:assert/strict";
import { objectList, objectSlots } from "./object_array.ts";

/** Runs `code` (JavaScript with V8's natives syntax) in a fresh process; its last line as JSON. */
async function withNatives(code: string): Promise<unknown> {
  const url = new URL("./object_array.ts", import.meta.url).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--ext=js",
      "--v8-flags=--allow-natives-syntax",
      `import { objectList, objectSlots } from ${JSON.stringify(url)}; ${code}`,
    ],
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0, "the child failed");
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

Deno.test("objectList: empty, with the map an array that was pushed an object has", async () => {
  const got = await withNatives(`
    const made = objectList();
    const pushed = []; pushed.push({});
    const fresh = [];
    console.log(JSON.stringify({
      length: made.length,
      sameAsPushed: %HaveSameMap(made, pushed),
      sameAsFresh: %HaveSameMap(made, fresh),
    }));`);
  assert.deepEqual(got, { length: 0, sameAsPushed: true, sameAsFresh: false });
});

Deno.test("objectSlots: n holes, with the map new Array(n) has once it held an object", async () => {
  const got = await withNatives(`
    const made = objectSlots(16);
    const stored = new Array(16); stored[3] = {};
    const fresh = new Array(16);
    console.log(JSON.stringify({
      length: made.length,
      own: Object.keys(made).length,
      sameAsStored: %HaveSameMap(made, stored),
      sameAsFresh: %HaveSameMap(made, fresh),
    }));`);
  assert.deepEqual(got, { length: 16, own: 0, sameAsStored: true, sameAsFresh: false });
});

Deno.test("objectList and objectSlots behave as plain arrays", () => {
  const list = objectList<{ n: number }>();
  list.push({ n: 1 }, { n: 2 });
  assert.deepEqual(list.map((x) => x.n), [1, 2]);
  const slots = objectSlots<{ n: number }>(4);
  assert.equal(slots.length, 4);
  assert.equal(slots.filter((x) => x !== undefined).length, 0);
  slots[2] = { n: 3 };
  assert.equal(slots[2]?.n, 3);
  assert.deepEqual(objectSlots(0), []);
});
