/** How the dashboard writes figures and names; anything not a number is shown as a dash. */
import assert from "node:assert/strict";
import {
  ago,
  bytes,
  duration,
  health,
  loss,
  peerAddress,
  peerName,
  pqCell,
  rate,
  rtt,
  sortedPeers,
} from "./format.ts";

Deno.test("dashboard format: sizes, rates, RTTs, loss, ages and uptimes", () => {
  assert.deepEqual([bytes(0), bytes(1023), bytes(1536), bytes(5 * 1024 ** 4 * 1024)], [
    "0 B",
    "1023 B",
    "1.5 KiB",
    "5120.0 TiB",
  ]);
  assert.deepEqual([bytes(NaN), bytes("12"), rate(2048), rate(undefined)], [
    "–",
    "–",
    "2.0 KiB/s",
    "–",
  ]);
  assert.deepEqual([rtt(0.842), rtt(23.44), rtt(123.6), rtt(null)], [
    "0.84 ms",
    "23.4 ms",
    "124 ms",
    "–",
  ]);
  assert.deepEqual([loss(0.02), loss(0), loss(null)], ["2%", "0%", "–"]);
  assert.deepEqual([ago(5), ago(125), ago(7322), ago(null)], [
    "5s ago",
    "2m 5s ago",
    "2h 2m ago",
    "never",
  ]);
  assert.deepEqual([duration(42), duration(125), duration(7322), duration(90061), duration("x")], [
    "42s",
    "2m 5s",
    "2h 2m",
    "1d 1h",
    "",
  ]);
});

Deno.test("dashboard format: a peer's name, address and health, from what the document has", () => {
  const key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
  assert.equal(peerName({ publicKey: key, name: "bravo" }), "bravo");
  assert.equal(peerName({ publicKey: key }), "xTIBA5rb…");
  assert.equal(peerAddress({ address: "10.9.0.2", allowedIps: ["10.9.0.9/32"] }), "10.9.0.2");
  assert.equal(peerAddress({ allowedIps: ["fd00::2/128", "10.0.0.0/24"] }), "fd00::2");
  assert.equal(peerAddress({ allowedIps: ["10.0.0.0/24"] }), "10.0.0.0/24");
  assert.equal(peerAddress({}), "");
  assert.equal(health({ health: "degraded" }), "degraded");
  // Only the states the stylesheet knows become a class: anything else, inherited names too, is
  // unknown.
  for (const odd of ["evil", "constructor", "toString", 3, null]) {
    assert.equal(health({ health: odd }), "unknown", String(odd));
  }
  assert.deepEqual(
    sortedPeers([{ name: "c" }, { name: "a" }, { name: "b" }]).map((p) => p.name),
    ["a", "b", "c"],
  );
  assert.deepEqual(sortedPeers(undefined), []);
});

Deno.test("pqCell: yes with the key's age, no with why, – for a peer that is no member", () => {
  assert.deepEqual(pqCell({ pq: { session: true, state: "pq", keyAgeSeconds: 12.7 } }), {
    text: "yes 12s",
    pq: "yes",
  });
  assert.deepEqual(pqCell({ pq: { session: false, state: "waiting", required: true } }), {
    text: "no (held, waiting)",
    pq: "no",
  });
  assert.deepEqual(
    pqCell({ pq: { session: false, state: "off", required: false } }).text,
    "no (off)",
  );
  assert.deepEqual(pqCell({}), { text: "–", pq: "" });
  assert.deepEqual(pqCell({ pq: null }).text, "–");
});
