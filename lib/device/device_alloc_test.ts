/**
 * The device's transport path allocates nothing per packet: two devices push packets both ways
 * (several lengths) in a child process under `--trace-gc`, and the collections between two
 * markers are counted. A control that allocates one small buffer per round shows the counting
 * works. With a stand-in cipher that allocates nothing this measures the device's own code; with
 * libsodium, the path as the agent runs it when libsodium is installed. (node:crypto and noble
 * make cipher objects per packet; the device's doc says so.)
 */
import assert from "node:assert/strict";
import { loadSodium } from "../crypto/sodium.ts";
import { collectionsBetweenMarkers } from "../../tests/fixtures/gc_count.ts";

const child = new URL("../../tests/fixtures/device_alloc_child.ts", import.meta.url);
const collections = (mode: string) => collectionsBetweenMarkers(child, mode);

Deno.test("device: the transport path does not allocate per packet", async () => {
  assert.ok(await collections("allocating") > 0, "the control did not register any collection");
  assert.equal(await collections("stub"), 0, "the device's own code allocated");
});

Deno.test({
  name: "device: with libsodium, sealing and opening add no allocation either",
  ignore: loadSodium() === null,
  fn: async () => {
    assert.equal(await collections("sodium"), 0);
  },
});
