import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { acceptsGzip, gzipInSlices, peersJsonInSlices, statusBodyOf } from "./status_body.ts";

const doc = {
  node: { name: "leader", drops: { a: 1 } },
  peers: Array.from({ length: 1000 }, (_, i) => ({
    name: `n${i}`,
    publicKey: `key-${i}`,
    rttMs: i % 3 ? i / 7 : null,
    note: i % 5 ? undefined : "ünïcode \u2028",
  })),
};
const mesh = { members: [{ name: "n1" }], links: [] };

Deno.test("status body: the JSON made a slice of peers at a time is JSON.stringify's", async () => {
  let pauses = 0;
  const pause = () => (pauses++, Promise.resolve());
  const dec = new TextDecoder();
  // No time between looks at the clock: a pause after every slice of peers.
  const list = await peersJsonInSlices(doc.peers, pause, 0);
  assert.equal(list, JSON.stringify(doc.peers));
  assert.ok(pauses >= 10, `${pauses} pauses for 1,000 peers`);
  const { body, peers } = statusBodyOf(doc.node, list, mesh);
  assert.equal(dec.decode(body), JSON.stringify({ ...doc, mesh }));
  // The peers' part (served by `/peers`) is their JSON, in the same bytes.
  assert.equal(dec.decode(peers), JSON.stringify(doc.peers));
  assert.equal(peers.buffer, body.buffer);
  assert.equal(dec.decode(statusBodyOf(doc.node, list, null).body), JSON.stringify(doc));
  const none = statusBodyOf({}, await peersJsonInSlices([]), null);
  assert.equal(dec.decode(none.body), JSON.stringify({ node: {}, peers: [] }));
  assert.equal(dec.decode(none.peers), "[]");
});

Deno.test("status body: gzipped a slice at a time, the gzip of the whole", async () => {
  const bytes = new TextEncoder().encode(JSON.stringify({ ...doc, mesh }).repeat(8));
  let pauses = 0;
  const zipped = await gzipInSlices(bytes, () => (pauses++, Promise.resolve()), 0);
  assert.deepEqual(new Uint8Array(gunzipSync(zipped)), bytes);
  assert.ok(zipped.length < bytes.length / 4);
  assert.ok(pauses >= Math.floor(bytes.length / 65536), `${pauses} pauses`);
  assert.deepEqual(new Uint8Array(gunzipSync(await gzipInSlices(new Uint8Array(0)))).length, 0);
});

Deno.test("status body: Accept-Encoding takes gzip when listed or starred, not with q=0", () => {
  for (const yes of ["gzip", "gzip, br", "br;q=1, GZIP;q=0.5", "x-gzip", "*", "deflate, *;q=0.1"]) {
    assert.equal(acceptsGzip(yes), true, yes);
  }
  for (
    const no of [null, "", "br", "identity", "gzip;q=0", "gzip;q=0.0, br", "*;q=0", "gzip;q=0, *"]
  ) {
    assert.equal(acceptsGzip(no), false, String(no));
  }
});
