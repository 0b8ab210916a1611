/**
 * The TUN's offload paths allocate nothing per packet: cutting 64 KB reads, completing checksums,
 * queueing and coalescing writes run in a child process under `--trace-gc`, and the collections
 * between two markers are counted; a control that allocates once per round shows the counting
 * works.
 */
import assert from "node:assert/strict";
import { collectionsBetweenMarkers } from "../../tests/fixtures/gc_count.ts";

const child = new URL("../testing/tun_offload_alloc_child.ts", import.meta.url);

Deno.test("TUN offload: reads cut and writes coalesced without allocating per packet", async () => {
  assert.ok(
    await collectionsBetweenMarkers(child, "allocating") > 0,
    "the control did not register any collection",
  );
  assert.equal(await collectionsBetweenMarkers(child, "offload"), 0);
});
