import assert from "node:assert/strict";
import { encodeKey, generatePrivateKey } from "../crypto/keys.ts";
import { isRelayEndpoint, RelayEndpointTable, shortId, urlKey } from "./endpoint.ts";

const R = encodeKey(generatePrivateKey());
const A = encodeKey(generatePrivateKey());
const B = encodeKey(generatePrivateKey());

Deno.test("relay endpoint: relay://<relay>/<peer> with 8-character URL-safe ids", () => {
  const t = new RelayEndpointTable();
  const ep = t.get(R, A);
  assert.equal(ep.toString(), `relay://${shortId(R)}/${shortId(A)}`);
  assert.equal(String(ep), ep.toString());
  assert.match(ep.toString(), /^relay:\/\/[A-Za-z0-9_-]{8}\/[A-Za-z0-9_-]{8}$/);
  assert.equal(ep.proto, "relay");
  assert.equal(ep.port, 0);
  assert.equal(ep.address, `${urlKey(R)}/${urlKey(A)}`, "whole keys: unique per pair");
  assert.equal(ep.relayKey, R);
  assert.equal(ep.peerKey, A);
  assert.ok(isRelayEndpoint(ep));
  assert.ok(Object.isFrozen(ep));
});

Deno.test("relay endpoint: interned per relay and peer", () => {
  const t = new RelayEndpointTable();
  assert.equal(t.get(R, A), t.get(R, A));
  assert.notEqual(t.get(R, A), t.get(R, B));
  assert.notEqual(t.get(R, A), t.get(A, R));
  const before = t.get(R, A);
  t.forget(R, B);
  assert.equal(t.get(R, A), before, "forgetting another peer keeps it");
  t.forget(R);
  assert.notEqual(t.get(R, A), before, "forgetting the relay drops it");
});

Deno.test("relay endpoint: URL-safe keys have no / + or =", () => {
  const k = "ab+/cd" + "A".repeat(37) + "=";
  assert.equal(urlKey(k), "ab-_cd" + "A".repeat(37));
  assert.equal(shortId(k), "ab-_cdAA");
});

Deno.test("relay endpoint: parses short ids and whole keys among the keys known", () => {
  const t = new RelayEndpointTable();
  const ep = t.get(R, A);
  assert.equal(t.parse(ep.toString(), [R], [A, B]), ep);
  assert.equal(t.parse(`relay://${urlKey(R)}/${urlKey(A)}`, [R], [A, B]), ep);
  assert.equal(t.parse(`RELAY://${shortId(R)}/${shortId(A)}`, [R], [A]), ep);
  // Whole keys need no list: the integration can name a virtual endpoint before any grant.
  assert.equal(ep.fullText, `relay://${urlKey(R)}/${urlKey(A)}`);
  assert.equal(t.parse(ep.fullText, [], []), ep);
  assert.throws(
    () => t.parse(`relay://${urlKey(R).slice(0, 42)}B/${urlKey(A)}`, [], []),
    /not a key/,
  );
});

Deno.test("relay endpoint: malformed, unknown and ambiguous text is refused", () => {
  const t = new RelayEndpointTable();
  const ok = `relay://${shortId(R)}/${shortId(A)}`;
  for (
    const bad of [
      "",
      "1.2.3.4:5",
      `udp://${shortId(R)}/${shortId(A)}`,
      `relay://${shortId(R)}`,
      `relay://${shortId(R)}/${shortId(A)}/x`,
      `relay://${shortId(R)}/${shortId(A).slice(0, 7)}`,
      `relay://${shortId(R)}/a+b/cdef`,
      `relay:///${shortId(A)}`,
    ]
  ) {
    assert.throws(() => t.parse(bad, [R], [A]), /invalid relay endpoint/, bad);
  }
  assert.throws(() => t.parse(ok, [], [A]), /no known relay/);
  assert.throws(() => t.parse(ok, [R], [B]), /no known peer/);
  // Two keys sharing the first 8 characters cannot be told apart by a short id.
  const twin = A.slice(0, 8) + B.slice(8);
  assert.throws(() => t.parse(ok, [R], [A, twin]), /ambiguous/);
  assert.equal(t.parse(`relay://${shortId(R)}/${urlKey(A)}`, [R], [A, twin]).peerKey, A);
});
