import assert from "node:assert/strict";
import { CARRIED_PER_SECOND, Carrier } from "./carrier.ts";
import { type CarriedPart, PushSigner, unpackCarried } from "./carried.ts";
import { encodeMessage } from "./protocol.ts";
import { packBody, packedParts } from "./packed.ts";

const LEAD = "10.0.0.1";
const OTHER_LEAD = "10.0.0.2";
const PEER = "10.0.0.9";

/** A carrier over a recording `send`, with the policy version `pv` held. */
function carrier(pv = 0) {
  const sent: [string, CarriedPart][] = [];
  const c = new Carrier({ send: (to, part) => sent.push([to, part]), policyVersion: () => pv });
  return { c, sent };
}

/** The JSON parts of a delta from `from` to `v`, `parts` of them. */
function jsonDelta(from: number, v: number, parts = 1): Uint8Array[] {
  return Array.from({ length: parts }, (_, part) =>
    encodeMessage({
      t: "delta",
      from,
      v,
      network: "10.0.0.0/24",
      part,
      parts,
      members: [],
      remove: [`k${part}`],
    }));
}

/** The packed parts of a delta from `from` to `v`. */
function packedDelta(from: number, v: number): Uint8Array[] {
  return packedParts(
    { t: "delta", v, from, network: "10.0.0.0/24" },
    packBody({ members: [], remove: ["a", "b"] }),
  );
}

const sealed = (s: PushSigner, part: Uint8Array, pv = 0) => unpackCarried(s.seal(part, pv))!;

Deno.test("carrier: parts under no key held are dropped as unknown-key; a key makes them taken as the signer's", () => {
  const { c } = carrier();
  const s = new PushSigner();
  const part = sealed(s, jsonDelta(1, 2)[0]);
  assert.equal(c.take(part, LEAD), null);
  assert.equal(c.counts().unknownKey, 1);
  assert.equal(c.keyIdOf(LEAD), "");
  c.key(LEAD, s.publicKey);
  assert.equal(c.keyIdOf(LEAD), s.keyId);
  assert.equal(c.keyIdOf(OTHER_LEAD), "");
  // A JSON delta part, from the leader and from a peer: the signer's word either way.
  for (const from of [LEAD, PEER]) {
    const got = c.take(part, from)!;
    assert.ok(got, from);
    assert.equal(got.leader, LEAD);
    assert.equal(got.msg.t, "delta");
    assert.equal(got.msg.from, 1);
    assert.equal(got.msg.v, 2);
    assert.deepEqual(got.msg.remove, ["k0"]);
  }
  // A packed delta part.
  const packed = c.take(sealed(s, packedDelta(4, 5)[0]), PEER)!;
  assert.ok(packed);
  assert.equal(packed.leader, LEAD);
  assert.equal(packed.msg.from, 4);
  assert.equal(packed.msg.v, 5);
  assert.ok(packed.msg.z, "a packed part's chunk");
  assert.equal(c.counts().taken, 3);
  // A key that is no key is ignored: the one held stays.
  c.key(LEAD, "not a key");
  assert.equal(c.keyIdOf(LEAD), s.keyId);
  // A new key of the same leader replaces the old: parts under the old are unknown.
  const s2 = new PushSigner();
  c.key(LEAD, s2.publicKey);
  assert.equal(c.keyIdOf(LEAD), s2.keyId);
  assert.equal(c.take(sealed(s, jsonDelta(6, 7)[0]), PEER), null);
  assert.equal(c.counts().unknownKey, 2);
  assert.ok(c.take(sealed(s2, jsonDelta(6, 7)[0]), PEER));
});

Deno.test("carrier: another policy version, a forged signature and a signed non-delta are dropped and counted", () => {
  const { c } = carrier(3);
  const s = new PushSigner();
  c.key(LEAD, s.publicKey);
  const part = jsonDelta(1, 2)[0];
  assert.ok(c.take(sealed(s, part, 3), LEAD));
  for (const pv of [0, 2, 4]) assert.equal(c.take(sealed(s, part, pv), LEAD), null);
  assert.equal(c.counts().otherPolicy, 3);
  // A signature of another key under this key's id.
  const forged = s.seal(part, 3);
  forged.set(new PushSigner().seal(part, 3).subarray(13, 77), 13);
  assert.equal(c.take(unpackCarried(forged)!, PEER), null);
  assert.equal(c.counts().forged, 1);
  // Signed, but a pace message (or a view): not a delta.
  assert.equal(c.take(sealed(s, encodeMessage({ t: "pace", hi: 5000 }), 3), LEAD), null);
  assert.equal(
    c.take(
      sealed(
        s,
        encodeMessage({
          t: "view",
          v: 2,
          network: "10.0.0.0/24",
          part: 0,
          parts: 1,
          members: [],
        }),
        3,
      ),
      LEAD,
    ),
    null,
  );
  assert.equal(c.take(sealed(s, new TextEncoder().encode("not json"), 3), LEAD), null);
  assert.equal(c.counts().notDelta, 3);
  assert.equal(c.counts().taken, 1);
});

Deno.test("carrier: parts from the leader are passed to every member its carry names, n of them; from a peer, never", () => {
  const { c, sent } = carrier();
  const s = new PushSigner();
  c.key(LEAD, s.publicKey);
  const to = ["10.0.0.20", "10.0.0.21", "10.0.0.22"];
  const parts = jsonDelta(1, 2, 2).map((p) => sealed(s, p));
  c.carry({ t: "carry", f: 1, v: 2, n: 2, to }, LEAD);
  // The same part from a peer: taken, not passed.
  assert.ok(c.take(parts[0], PEER));
  assert.equal(sent.length, 0);
  assert.ok(c.take(parts[0], LEAD));
  assert.deepEqual(sent.map(([a]) => a), to);
  for (const [, p] of sent) assert.equal(p.bytes, parts[0].bytes, "the bytes as they came");
  assert.ok(c.take(parts[1], LEAD));
  assert.equal(sent.length, 6);
  assert.equal(sent[5][1].bytes, parts[1].bytes);
  assert.equal(c.counts().passed, 6);
  // After n parts, the carry is done: a third (a retry) is taken, not passed.
  assert.ok(c.take(parts[0], LEAD));
  assert.equal(sent.length, 6);
  assert.equal(c.counts().taken, 4);
  // Another push's part: no carry for it.
  c.carry({ t: "carry", f: 1, v: 2, n: 1, to }, LEAD);
  assert.ok(c.take(sealed(s, jsonDelta(2, 3)[0]), LEAD));
  assert.equal(sent.length, 6);
});

Deno.test("carrier: a carry from an address with no key, empty or for no part, is ignored", () => {
  const { c, sent } = carrier();
  const s = new PushSigner();
  c.key(LEAD, s.publicKey);
  const part = sealed(s, jsonDelta(1, 2)[0]);
  c.carry({ t: "carry", f: 1, v: 2, n: 1, to: ["10.0.0.20"] }, OTHER_LEAD);
  c.carry({ t: "carry", f: 1, v: 2, n: 1, to: [] }, LEAD);
  c.carry({ t: "carry", f: 1, v: 2, n: 0, to: ["10.0.0.21"] }, LEAD);
  assert.ok(c.take(part, LEAD));
  // A part signed by LEAD and sent by OTHER_LEAD: OTHER_LEAD's carry asks nothing of it.
  assert.ok(c.take(part, OTHER_LEAD));
  assert.equal(sent.length, 0);
  assert.equal(c.counts().passed, 0);
  // The same carry from LEAD: passed.
  c.carry({ t: "carry", f: 1, v: 2, n: 1, to: ["10.0.0.20"] }, LEAD);
  assert.ok(c.take(part, LEAD));
  assert.equal(sent.length, 1);
});

Deno.test("carrier: keep forgets the keys of addresses no longer leaders", () => {
  const { c } = carrier();
  const a = new PushSigner();
  const b = new PushSigner();
  c.key(LEAD, a.publicKey);
  c.key(OTHER_LEAD, b.publicKey);
  c.keep((address) => address === OTHER_LEAD);
  assert.equal(c.keyIdOf(LEAD), "");
  assert.equal(c.keyIdOf(OTHER_LEAD), b.keyId);
  assert.equal(c.take(sealed(a, jsonDelta(1, 2)[0]), PEER), null);
  assert.equal(c.counts().unknownKey, 1);
  const got = c.take(sealed(b, jsonDelta(1, 2)[0]), PEER)!;
  assert.equal(got.leader, OTHER_LEAD);
});

Deno.test("carrier: a checked signature is never taken again over other bytes", () => {
  const { c } = carrier();
  const s = new PushSigner();
  c.key(LEAD, s.publicKey);
  const good = s.seal(jsonDelta(1, 2)[0], 0);
  assert.ok(c.take(unpackCarried(good)!, PEER));
  // The same signature (now cached) over a changed part: forged, not taken.
  const bad = good.slice();
  const at = bad.indexOf("k".charCodeAt(0), 77);
  bad[at] = "x".charCodeAt(0);
  assert.equal(c.take(unpackCarried(bad)!, PEER), null);
  assert.equal(c.counts().forged, 1);
  // A part cut short under the same signature: forged too.
  assert.equal(c.take(unpackCarried(good.subarray(0, good.length - 1))!, PEER), null);
  assert.equal(c.counts().forged, 2);
  // The good bytes still hold; the cache keeps a copy, not a view of a buffer reused since.
  assert.ok(c.take(unpackCarried(good.slice())!, PEER));
  const buf = s.seal(jsonDelta(3, 4)[0], 0);
  assert.ok(c.take(unpackCarried(buf)!, PEER));
  const reused = buf.slice();
  reused[reused.indexOf("k".charCodeAt(0), 77)] = "x".charCodeAt(0);
  buf.set(reused);
  assert.equal(c.take(unpackCarried(reused.slice())!, PEER), null);
  assert.equal(c.counts().forged, 3);
  assert.equal(c.counts().taken, 3);
});

Deno.test("carrier: a part under another policy version is passed on as asked, not taken", () => {
  const { c, sent } = carrier(2);
  const s = new PushSigner();
  c.key(LEAD, s.publicKey);
  const to = ["10.0.0.20", "10.0.0.21"];
  c.carry({ t: "carry", f: 1, v: 2, n: 1, to }, LEAD);
  const part = sealed(s, jsonDelta(1, 2)[0], 3);
  assert.equal(c.take(part, LEAD), null);
  assert.deepEqual(sent.map(([a, p]) => [a, p.bytes]), to.map((a) => [a, part.bytes]));
  assert.equal(c.counts().otherPolicy, 1);
  assert.equal(c.counts().taken, 0);
  assert.equal(c.counts().passed, 2);
  // Forged under another policy version: neither passed nor counted as another policy.
  c.carry({ t: "carry", f: 2, v: 3, n: 1, to }, LEAD);
  const forged = s.seal(jsonDelta(2, 3)[0], 3);
  forged[forged.length - 2] ^= 1;
  assert.equal(c.take(unpackCarried(forged)!, LEAD), null);
  assert.equal(sent.length, 2);
  assert.equal(c.counts().forged, 1);
  assert.equal(c.counts().otherPolicy, 1);
});

Deno.test("carrier: a member sending carried parts past its rate has the rest dropped unchecked; the leader is not held to it", () => {
  let now = 0;
  const sent: unknown[] = [];
  const c = new Carrier({
    send: (to, part) => sent.push([to, part]),
    policyVersion: () => 0,
    now: () => now,
  });
  const s = new PushSigner();
  c.key(LEAD, s.publicKey);
  const part = unpackCarried(s.seal(jsonDelta(1, 2)[0], 0))!;
  for (let i = 0; i < CARRIED_PER_SECOND * 4; i++) c.take(part, PEER);
  const burst = c.counts();
  assert.ok(burst.rate > 0, "some dropped");
  assert.equal(burst.taken + burst.rate, CARRIED_PER_SECOND * 4);
  // From the leader: never held to it.
  for (let i = 0; i < CARRIED_PER_SECOND * 4; i++) c.take(part, LEAD);
  assert.equal(c.counts().rate, burst.rate);
  // A second later the member's rate allows some again.
  now += 1000;
  assert.ok(c.take(part, PEER) !== null);
});
