import assert from "node:assert/strict";
import { makeMesh, texts, udp } from "../../tests/fixtures/mesh.ts";
import { generatePresharedKey } from "../crypto/keys.ts";

const EXEMPT = 51824;

Deno.test("a preshared key switch in flight: the initiator's second key completes the handshake", () => {
  const k0 = new Uint8Array(32); // what both start with: none
  const k1 = generatePresharedKey();
  for (const initiator of [0, 1]) {
    const { nodes: [a, b], net } = makeMesh(2);
    // a took key 1 already; b made it but still answers with key 0 (its switch in flight).
    a.device.setPresharedKeys(b.publicKey, { key: k1, tag: 1 }, { key: k0, tag: 0 });
    b.device.setPresharedKeys(a.publicKey, { key: k0, tag: 0 }, { key: k1, tag: 1 });
    const [x, y] = initiator === 0 ? [a, b] : [b, a];
    x.packets.inject(udp(x.ip, y.ip, "across"));
    net.deliver();
    assert.deepEqual(texts(y), ["across"], `initiated by ${initiator === 0 ? "a" : "b"}`);
    // The responder's current key is the one the session was made with, on both sides.
    const tag = initiator === 0 ? 0 : 1;
    assert.equal(x.device.peer(y.publicKey)!.current!.presharedKeyTag, tag);
    assert.equal(y.device.peer(x.publicKey)!.current!.presharedKeyTag, tag);
    assert.equal(a.device.drops.total() + b.device.drops.total(), 0);
  }
});

Deno.test("without the other key held, the same switch in flight gets no session", () => {
  const { nodes: [a, b], net } = makeMesh(2);
  a.device.setPresharedKeys(b.publicKey, { key: generatePresharedKey(), tag: 1 }, null);
  a.packets.inject(udp(a.ip, b.ip, "x"));
  net.deliver();
  assert.deepEqual(texts(b), []);
  assert.equal(a.device.drops.get("handshake-invalid"), 1);
  // Counted for the peer too: it answered, with a key a does not hold.
  assert.equal(a.device.peer(b.publicKey)!.counters.rejectedResponses, 1);
});

Deno.test("a view's update of the peer keeps its preshared keys; the UAPI's own key replaces them", () => {
  const { nodes: [a, b], net } = makeMesh(2);
  const k = generatePresharedKey();
  for (const [x, y] of [[a, b], [b, a]]) {
    x.device.setPresharedKeys(y.publicKey, { key: k, tag: 7 }, null);
    // What a mesh's new view does: routes and endpoint again, no key.
    x.device.setPeer({
      publicKey: y.publicKey,
      endpoint: `192.0.2.${y === a ? 1 : 2}:51820`,
      allowedIps: [`${y.ip}/32`],
    });
  }
  a.packets.inject(udp(a.ip, b.ip, "kept"));
  net.deliver();
  assert.deepEqual(texts(b), ["kept"]);
  assert.equal(a.device.peer(b.publicKey)!.current!.presharedKeyTag, 7);
  // The key held given again (the UAPI repeats it) keeps the tag; another key is untagged.
  a.device.setPeer({ publicKey: b.publicKey, presharedKey: k });
  assert.equal(a.device.peer(b.publicKey)!.handshake.presharedKeyTag, 7);
  a.device.setPeer({ publicKey: b.publicKey, presharedKey: generatePresharedKey() });
  const hs = a.device.peer(b.publicKey)!.handshake;
  assert.equal(hs.presharedKeyTag, 0);
  assert.equal(hs.alternatePresharedKey, null);
});

Deno.test("required tagged sessions: data waits for one, the exempt port's datagrams pass", () => {
  const { nodes: [a, b], net, clock } = makeMesh(2);
  a.device.requireTaggedSessions(b.publicKey, true, [EXEMPT]);
  // No session yet: data is refused, but a handshake starts for it.
  a.packets.inject(udp(a.ip, b.ip, "data"));
  net.deliver();
  assert.equal(a.device.drops.get("pq-required"), 1);
  assert.deepEqual(texts(b), []);
  // The exchange's datagrams go on the untagged session.
  a.packets.inject(udp(a.ip, b.ip, "exchange", EXEMPT));
  b.packets.inject(udp(b.ip, a.ip, "answer", EXEMPT));
  net.deliver();
  assert.deepEqual(texts(b), ["exchange"]);
  assert.deepEqual(texts(a), ["answer"]);
  // b's data to a arrives on the untagged session: a drops it.
  b.packets.inject(udp(b.ip, a.ip, "untagged"));
  net.deliver();
  assert.deepEqual(texts(a), ["answer"]);
  assert.equal(a.device.drops.get("pq-required"), 2);

  // Both take a tagged key; the next session carries it and data flows both ways.
  const k = generatePresharedKey();
  a.device.setPresharedKeys(b.publicKey, { key: k, tag: 1 }, null);
  b.device.setPresharedKeys(a.publicKey, { key: k, tag: 1 }, null);
  clock.advance(1000); // past the responder's flood guard on initiations
  a.device.initiateHandshakeNow(b.publicKey);
  net.deliver();
  a.packets.inject(udp(a.ip, b.ip, "tagged"));
  b.packets.inject(udp(b.ip, a.ip, "back"));
  net.deliver();
  assert.deepEqual(texts(b), ["exchange", "tagged"]);
  assert.deepEqual(texts(a), ["answer", "back"]);
  assert.equal(a.device.drops.get("pq-required"), 2);
  // Turned off: any session carries data again.
  assert.ok(a.device.requireTaggedSessions(b.publicKey, false, [EXEMPT]));
  assert.equal(a.device.requireTaggedSessions("nope", true, [EXEMPT]), false);
});
