/**
 * The device's transport path allocates nothing per packet: two devices push packets both ways
 * (several lengths) in a child process under `--trace-gc`, and the collections between two
 * markers are counted. A control that allocates one small buffer per round shows the counting
 * works. With a stand-in cipher that allocates nothing this measures the device's own code; with
 * libsodium or OpenSSL, the path as the agent runs it when either is installed. (node:crypto and noble
 * make cipher objects per packet; the device's doc says so.)
 *
 * On Linux the same holds for the whole data path with the real drivers and no copies: a TUN read
 * cut and sealed straight into the UDP send queue, sendmmsg and recvmmsg over loopback, opened
 * straight into the TUN's write queue and coalesced, about a million packets both ways
 * (tests/fixtures/datapath_alloc_child.ts).
 */
import assert from "node:assert/strict";
import { loadSodium } from "../crypto/sodium.ts";
import { loadOpenssl } from "../crypto/openssl.ts";
import { collectionsBetweenMarkers, measureBetweenMarkers } from "../../tests/fixtures/gc_count.ts";

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

Deno.test({
  name: "device: with OpenSSL, sealing and opening add no allocation either",
  ignore: loadOpenssl() === null,
  fn: async () => {
    assert.equal(await collections("openssl"), 0);
  },
});

Deno.test({
  name: "device: with crypto workers, batching and handing batches to them allocate nothing",
  ignore: loadSodium() === null,
  fn: async () => {
    assert.equal(await collections("workers"), 0);
  },
});

const datapath = new URL("../../tests/fixtures/datapath_alloc_child.ts", import.meta.url);

/** The data path child's collections and figures; checks every packet went the zero-copy way. */
async function datapathRun(mode: string): Promise<number> {
  const { collections, report } = await measureBetweenMarkers(datapath, mode);
  const r = JSON.parse(report);
  assert.ok(r.read > 1_000_000, report);
  assert.equal(r.delivered, r.read, `every packet arrived: ${report}`);
  assert.equal(r.sentFromSlots, r.read, `every packet sealed into a send slot: ${report}`);
  assert.equal(r.openedIntoSlots, r.read, `every packet opened into a write slot: ${report}`);
  return collections;
}

Deno.test({
  name: "device: TUN read to UDP send and UDP receive to TUN write, zero-copy, allocate nothing",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    assert.ok(await datapathRun("allocating") > 0, "the control did not register any collection");
    assert.equal(await datapathRun("stub"), 0, "the data path's own code allocated");
  },
});

Deno.test({
  name: "device: the zero-copy data path with libsodium allocates nothing either",
  ignore: Deno.build.os !== "linux" || loadSodium() === null,
  fn: async () => {
    assert.equal(await datapathRun("sodium"), 0);
  },
});

Deno.test({
  name: "device: the zero-copy data path with OpenSSL allocates nothing either",
  ignore: Deno.build.os !== "linux" || loadOpenssl() === null,
  fn: async () => {
    assert.equal(await datapathRun("openssl"), 0);
  },
});
