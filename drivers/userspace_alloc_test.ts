/**
 * A leader's control datagrams allocate nothing each on their way from the control channel
 * through the control stack and the device into a transport's send slot: 300,000 sent in a child
 * under `--trace-gc` (tests/fixtures/control_send_alloc_child.ts), the collections between two
 * markers counted; a control that allocates one small buffer a datagram shows the counting works.
 */
import assert from "node:assert/strict";
import { collectionsBetweenMarkers } from "../tests/fixtures/gc_count.ts";

const child = new URL("../tests/fixtures/control_send_alloc_child.ts", import.meta.url);

Deno.test("userspace: a leader's control datagrams allocate nothing each from the channel to the send slot", async () => {
  assert.ok(
    await collectionsBetweenMarkers(child, "allocating") > 0,
    "the control did not register any collection",
  );
  assert.equal(await collectionsBetweenMarkers(child, "stack"), 0, "the path allocated");
});
