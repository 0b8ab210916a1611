/**
 * `ReasonCounter.add` allocates nothing (it runs on packet paths: a flood of forged packets is a
 * flood of drops): a child counts three million drops on three counters between two forced
 * collections, and the collections V8 reports between them are counted
 * (tests/fixtures/gc_count.ts). A control that allocates one small buffer per round shows the
 * counting works.
 */
import assert from "node:assert/strict";
import { collectionsBetweenMarkers } from "../../tests/fixtures/gc_count.ts";

const child = new URL("../../tests/fixtures/reasons_alloc_child.ts", import.meta.url);

Deno.test("ReasonCounter: add allocates nothing", async () => {
  assert.ok(await collectionsBetweenMarkers(child, "allocating") > 0, "the control counted none");
  assert.equal(await collectionsBetweenMarkers(child, "reasons"), 0);
});
