import assert from "node:assert/strict";
import type { Endpoint } from "../io/driver.ts";
import { RelayClient, type RelayClientOptions } from "./client.ts";
import { RelayServer } from "./server.ts";
import type { RelaySession } from "./messages.ts";
import {
  MSG_RELAY_FROM_RELAY,
  MSG_RELAY_TO_RELAY,
  MSG_RELAY_TO_RELAY_HT,
  relayId,
  relayType,
} from "./wire.ts";
import { shortId } from "./endpoint.ts";
import { dataMessage, ep, inner, newKey, sessionFor } from "../../tests/fixtures/relay.ts";

const A = newKey();
const B = newKey();
const C = newKey();
const R1 = newKey();
const R2 = newKey();
const R3 = newKey();
const ER1 = ep("192.0.2.101:51820");
const ER2 = ep("192.0.2.102:51820");
const ER3 = ep("192.0.2.103:51820");
const EA = ep("198.51.100.1:51820");
const EB = ep("198.51.100.2:51820");

interface Sent {
  data: Uint8Array;
  to: Endpoint;
}

/** A relay server that members A, B and C can use, with its own key. */
function relay(key: string) {
  const sent: Sent[] = [];
  const clock = { t: 0 };
  const server = new RelayServer({
    now: () => clock.t,
    send: (data, to) => sent.push({ data: data.slice(), to }),
    isMember: (k) => [A, B, C, R1, R2, R3].includes(k),
    selfKey: key,
  });
  server.setEndpoint(A, EA);
  server.setEndpoint(B, EB);
  return { key, server, sent, clock };
}

function client(self: string, opts: Partial<RelayClientOptions> = {}) {
  const clock = { t: 0 };
  const c = new RelayClient({ now: () => clock.t, selfKey: self, ...opts });
  c.setRelay(R1, ER1);
  c.setRelay(R2, ER2);
  c.setRelay(R3, ER3);
  // These tests are about sessions once granted: every relay was asked about every member.
  for (const r of [R1, R2, R3]) for (const p of [A, B, C]) c.asked(r, p);
  return { c, clock };
}

/** A opens a session with B at `r`; both clients take their grants. */
function grant(r: ReturnType<typeof relay>, a: RelayClient, b: RelayClient) {
  const res = r.server.open(A, B);
  assert.equal(res.refused, null);
  assert.equal(a.onSession(sessionFor(res.send, A), r.key), null);
  assert.equal(b.onSession(sessionFor(res.send, B), r.key), null);
  return { a: sessionFor(res.send, A), b: sessionFor(res.send, B) };
}

Deno.test("relay client: wrap, relay, unwrap: B gets A's message from A's virtual endpoint", () => {
  const r = relay(R1);
  const { c: a } = client(A);
  const { c: b } = client(B);
  grant(r, a, b);
  const msg = inner(1452, 3);
  const w = a.wrap(B, msg)!;
  assert.ok(w);
  assert.equal(w.relayEndpoint, ER1);
  assert.equal(w.relayKey, R1);
  assert.equal(relayType(w.bytes), MSG_RELAY_TO_RELAY);
  assert.equal(w.bytes.length, 1468);
  assert.equal(r.server.forward(w.bytes.slice(), EA), null);
  const out = r.sent[0];
  assert.equal(out.to, EB);
  const u = b.unwrap(out.data, ER1);
  assert.ok(typeof u !== "string", String(u));
  assert.equal(u.peerKey, A);
  assert.equal(u.relayKey, R1);
  assert.deepEqual(u.inner, msg);
  assert.equal(u.virtualEndpoint, b.endpoint(R1, A));
  assert.equal(u.virtualEndpoint.toString(), `relay://${shortId(R1)}/${shortId(A)}`);
  // And back.
  const back = b.wrap(A, inner(92))!;
  assert.equal(r.server.forward(back.bytes.slice(), EB), null);
  const v = a.unwrap(r.sent[1].data, ER1);
  assert.ok(typeof v !== "string");
  assert.equal(v.peerKey, B);
  assert.deepEqual(a.stats.wrapped, { packets: 1, bytes: 1468 });
  assert.deepEqual(a.stats.unwrapped, { packets: 1, bytes: 108 });
});

Deno.test("relay client: results are reused objects (nothing allocated per packet)", () => {
  const r = relay(R1);
  const { c: a } = client(A);
  const { c: b } = client(B);
  grant(r, a, b);
  const w1 = a.wrap(B, inner(100))!;
  const bytes1 = w1.bytes;
  const w2 = a.wrap(B, inner(100))!;
  assert.equal(w1, w2);
  assert.equal(w2.bytes, bytes1, "the same view for the same length");
  const p = w2.bytes.slice();
  r.server.forward(p, EA);
  const pkt = r.sent[0].data;
  const u1 = b.unwrap(pkt, ER1);
  const u2 = b.unwrap(pkt, ER1);
  assert.equal(u1, u2);
  assert.ok(typeof u1 !== "string" && typeof u2 !== "string");
  assert.equal(u1.inner, u2.inner, "the same view of the same packet buffer");
});

Deno.test("relay client: tampered, unknown and malformed packets are dropped and counted", () => {
  const r = relay(R1);
  const { c: a } = client(A);
  const { c: b } = client(B);
  grant(r, a, b);
  r.server.forward(a.wrap(B, inner(200))!.bytes.slice(), EA);
  const good = r.sent[0].data;
  for (let i = 4; i < good.length; i++) {
    const p = good.slice();
    p[i] ^= 0x20;
    const why = b.unwrap(p, ER1);
    assert.ok(why === "mac" || why === "unknown-session", `byte ${i}: ${String(why)}`);
  }
  const notFromRelay = good.slice();
  notFromRelay[0] = MSG_RELAY_TO_RELAY;
  assert.equal(b.unwrap(notFromRelay, ER1), "malformed");
  assert.equal(b.unwrap(good.subarray(0, 47), ER1), "malformed");
  // A's own grant does not let anyone send to A as if from B: A's packets to B are B's to read.
  assert.equal(a.unwrap(good, ER1), "unknown-session");
  const d = b.stats.drops;
  assert.equal(d.mac + d["unknown-session"], good.length - 4);
  assert.equal(d.malformed, 2);
  assert.ok(typeof b.unwrap(good, ER1) !== "string", "the original still opens");
});

Deno.test("relay client: no session, no relay endpoint or too large: nothing to send", () => {
  const { c: a } = client(A, { maxPacket: 200 });
  assert.equal(a.wrap(B, inner()), null);
  assert.equal(a.stats.drops["no-session"], 1);
  const { c: b } = client(B);
  const r = relay(R1);
  grant(r, a, b);
  assert.equal(a.wrap(B, inner(185)), null);
  assert.equal(a.stats.drops["too-large"], 1);
  assert.ok(a.wrap(B, inner(184)));
  a.setRelay(R1, null);
  assert.equal(a.wrap(B, inner(100)), null, "its only relay has no endpoint");
  a.setRelay(R1, ER1);
  assert.ok(a.wrap(B, inner(100)));
});

Deno.test("relay client: grants from unknown relays, naming us, or reusing an id are refused", () => {
  const { c: a } = client(A);
  const r = relay(R1);
  const res = r.server.open(A, B);
  const s = sessionFor(res.send, A);
  assert.equal(a.onSession(s, newKey()), "unknown-relay");
  assert.equal(a.onSession({ ...s, peer: A }, R1), "self");
  assert.equal(a.onSession(s, R1), null);
  // Another relay handing out the receive id we already use for B through R1.
  const clash: RelaySession = { ...s, peer: C, send: { ...s.send, id: s.send.id ^ 1 || 2 } };
  assert.equal(a.onSession(clash, R2), "id-collision");
  assert.deepEqual(a.stats.refusals, {
    "unknown-relay": 1,
    self: 1,
    "id-collision": 1,
    "not-asked": 0,
    "too-many": 0,
  });
  // The same relay granting the same peer again replaces the session, ids and all.
  assert.equal(a.onSession(s, R1), null);
  assert.equal(a.stats.sessions, 1);
});

Deno.test("relay client: the lowest RTT wins; a small gain does not move a peer, a large one does", () => {
  const { c: a } = client(A);
  const { c: b } = client(B);
  const r1 = relay(R1);
  const r2 = relay(R2);
  grant(r1, a, b);
  grant(r2, a, b);
  assert.equal(a.relayFor(B), R1, "no RTT yet: the first granted");
  a.setRtt(R1, 40);
  a.setRtt(R2, 20);
  assert.equal(a.relayFor(B), R2, "half the RTT");
  a.setRtt(R1, 18);
  assert.equal(a.relayFor(B), R2, "2 ms better is within the margin: no flapping");
  a.setRtt(R1, 10);
  assert.equal(a.relayFor(B), R1, "10 ms and half: clearly better");
  a.setRtt(R2, 9);
  assert.equal(a.relayFor(B), R1);
  assert.equal(a.stats.switches, 2);
  // wrap goes where relayFor says.
  assert.equal(a.wrap(B, inner())!.relayEndpoint, ER1);
});

Deno.test("relay client: a failed relay is left at once; all failed: the best is still tried", () => {
  const { c: a } = client(A);
  const { c: b } = client(B);
  const r1 = relay(R1);
  const r2 = relay(R2);
  grant(r1, a, b);
  grant(r2, a, b);
  a.setRtt(R1, 5);
  a.setRtt(R2, 50);
  assert.equal(a.relayFor(B), R1);
  a.relayFailed(R1);
  assert.equal(a.relayFor(B), R2);
  assert.equal(a.wrap(B, inner())!.relayKey, R2);
  a.relayFailed(R2);
  assert.equal(a.relayFor(B), R1, "both failed: the lowest RTT of them, rather than nothing");
  a.setRtt(R2, 60);
  assert.equal(a.relayFor(B), R2, "R2 answers again");
  a.setRtt(R1, 5);
  assert.equal(a.relayFor(B), R1, "R1 too, and it is far faster");
  const info = a.relays().find((r) => r.key === R1)!;
  assert.deepEqual(info, {
    key: R1,
    endpoint: ER1.toString(),
    rttMs: 5,
    failed: false,
    peers: [B],
  });
});

Deno.test("relay client: a new grant from a failed relay clears its failure", () => {
  const { c: a } = client(A);
  const { c: b } = client(B);
  const r1 = relay(R1);
  grant(r1, a, b);
  a.relayFailed(R1);
  assert.equal(a.relays()[0].failed, true);
  grant(r1, a, b);
  assert.equal(a.relays()[0].failed, false);
});

Deno.test("relay client: closed sessions, closed peers and removed relays are forgotten", () => {
  const { c: a } = client(A);
  const { c: b } = client(B);
  const r1 = relay(R1);
  const r2 = relay(R2);
  grant(r1, a, b);
  grant(r2, a, b);
  a.onNotice({ t: "relay-closed", peer: B }, R1);
  assert.equal(a.relayFor(B), R2, "what R1 closed is not used");
  // B still holds its R1 session: what it sends that way is no longer A's to take.
  r1.server.close(B, A);
  b.onClosed({ t: "relay-closed", peer: A }, R1);
  assert.equal(b.relayFor(A), R2);
  a.removeRelay(R2);
  assert.equal(a.hasSession(B), false);
  assert.equal(a.relayFor(B), null);
  assert.equal(a.wrap(B, inner()), null);
  a.setRelay(R2, ER2);
  a.asked(R2, B); // a relay added anew has not been asked anything
  grant(r1, a, b);
  grant(r2, a, b);
  assert.deepEqual(a.closePeer(B).sort(), [R1, R2].sort(), "the relays to send relay-close to");
  assert.equal(a.hasSession(B), false);
  assert.equal(a.stats.sessions, 0);
  assert.deepEqual(a.closePeer(B), []);
});

Deno.test("relay client: the sweep forgets sessions idle as long as the relay keeps them", () => {
  const { c: a, clock } = client(A, { idleMs: 120_000 });
  const { c: b } = client(B);
  const r1 = relay(R1);
  grant(r1, a, b);
  clock.t = 100_000;
  a.wrap(B, inner());
  clock.t = 219_999;
  assert.deepEqual(a.sweep(), []);
  clock.t = 220_000;
  assert.deepEqual(a.sweep(), [{ relay: R1, peer: B }]);
  assert.equal(a.hasSession(B), false);
});

Deno.test("relay client: virtual endpoints are interned and parse back from their text", () => {
  const { c: a } = client(A);
  const { c: b } = client(B);
  grant(relay(R1), a, b);
  const v = a.endpoint(R1, B);
  assert.equal(a.endpoint(R1, B), v);
  assert.equal(a.parseEndpoint(v.toString()), v);
  assert.throws(() => a.parseEndpoint(`relay://${shortId(R1)}/${shortId(C)}`), /no known peer/);
});

Deno.test("relay client: the session ids in wrapped packets are the ones granted", () => {
  const { c: a } = client(A);
  const { c: b } = client(B);
  const g = grant(relay(R1), a, b);
  assert.equal(relayId(a.wrap(B, inner())!.bytes), g.a.send.id);
  assert.equal(relayId(b.wrap(A, inner())!.bytes), g.b.send.id);
});

Deno.test("relay client: a grant is taken only from the relay asked, for the peer asked, lately", () => {
  const clock = { t: 0 };
  const a = new RelayClient({ now: () => clock.t, selfKey: A, askWindowMs: 30_000 });
  a.setRelay(R1, ER1);
  a.setRelay(R2, ER2);
  const r = relay(R1);
  const s = sessionFor(r.server.open(A, B).send, A);
  assert.equal(a.onSession(s, R1), "not-asked", "nobody asked");
  assert.equal(a.asked(R2, B), true);
  assert.equal(a.onSession(s, R1), "not-asked", "another relay was asked");
  assert.equal(a.asked(newKey(), B), false, "not a relay the client knows");
  a.asked(R1, C);
  assert.equal(a.onSession(s, R1), "not-asked", "asked about another peer");
  a.asked(R1, B);
  clock.t = 30_001;
  assert.equal(a.onSession(s, R1), "not-asked", "the ask is too old");
  a.asked(R1, B);
  clock.t += 1_000;
  assert.equal(a.onSession(s, R1), null);
  assert.equal(a.stats.refusals["not-asked"], 4);
  assert.equal(a.stats.sessions, 1);
  // The sweep drops old asks; a peer that leaves takes its asks and endpoints along.
  clock.t += 60_000;
  a.sweep();
  assert.equal(a.onSession(s, R1), "not-asked");
});

Deno.test("relay client: a relay holds at most its share of sessions", () => {
  const a = new RelayClient({ now: () => 0, selfKey: A, maxSessionsPerRelay: 3 });
  a.setRelay(R1, ER1);
  const r = relay(R1);
  const peers = [newKey(), newKey(), newKey(), newKey()];
  const grants = peers.map((p) => {
    a.asked(R1, p);
    return { ...sessionFor(r.server.open(A, B).send, A), peer: p };
  });
  // Distinct receive ids, as a relay hands out.
  grants.forEach((g, i) => (g.recv = { ...g.recv, id: 1000 + i }));
  for (const g of grants.slice(0, 3)) assert.equal(a.onSession(g, R1), null);
  assert.equal(a.onSession(grants[3], R1), "too-many");
  // A grant replacing a session it holds is no more.
  assert.equal(a.onSession({ ...grants[0], recv: { ...grants[0].recv, id: 2000 } }, R1), null);
  assert.equal(a.stats.sessions, 3);
});

Deno.test("relay client: 100,000 grants no one asked for leave nothing behind", () => {
  const a = new RelayClient({ now: () => 0, selfKey: A });
  a.setRelay(R1, ER1);
  const r = relay(R1);
  const s = sessionFor(r.server.open(A, B).send, A);
  for (let i = 0; i < 100_000; i++) {
    const peer = newKey();
    assert.equal(a.onSession({ ...s, peer, recv: { ...s.recv, id: i + 1 } }, R1), "not-asked");
  }
  assert.equal(a.stats.sessions, 0);
  assert.equal(a.stats.refusals["not-asked"], 100_000);
  assert.deepEqual(a.relays().map((x) => x.peers.length), [0]);
});

Deno.test("relay client: a peer that leaves takes its virtual endpoints along", () => {
  const { c: a } = client(A);
  const { c: b } = client(B);
  const r1 = relay(R1);
  grant(r1, a, b);
  const before = a.endpoint(R1, B);
  assert.equal(a.endpoint(R1, B), before, "interned while the peer is there");
  a.closePeer(B);
  assert.notEqual(a.endpoint(R1, B), before, "a new object once it left");
  assert.equal(a.onSession(sessionFor(r1.server.open(A, B).send, A), R1), "not-asked");
});

/** A and B both ask `r` with `ht`; both clients take the grants (the second open's). */
function grantHeadTag(r: ReturnType<typeof relay>, a: RelayClient, b: RelayClient) {
  r.server.open(A, B, true);
  const res = r.server.open(B, A, true);
  assert.equal(a.onSession(sessionFor(res.send, A), r.key), null);
  assert.equal(b.onSession(sessionFor(res.send, B), r.key), null);
}

Deno.test("relay client: a grant offering the head-and-tag form is used; B opens it", () => {
  const r = relay(R1);
  const { c: a } = client(A);
  const { c: b } = client(B);
  grantHeadTag(r, a, b);
  const msg = dataMessage(1452, 5);
  const w = a.wrap(B, msg)!;
  assert.equal(relayType(w.bytes), MSG_RELAY_TO_RELAY_HT);
  assert.equal(r.server.forward(w.bytes.slice(), EA), null);
  const u = b.unwrap(r.sent[0].data, ER1);
  assert.ok(typeof u !== "string", String(u));
  assert.deepEqual(u.inner, msg);
  // A header or tag byte changed on the way: B's check fails too (not only the relay's).
  const bad = r.sent[0].data.slice();
  bad[bad.length - 3] ^= 1;
  assert.equal(b.unwrap(bad, ER1), "mac");
  assert.equal(b.stats.drops.mac, 1);
});

Deno.test("relay client: a grant without `ht` (an older relay or peer) keeps the whole form", () => {
  const r = relay(R1);
  const { c: a } = client(A);
  const { c: b } = client(B);
  // As from an older relay: it does not know `ht` and leaves it out of every grant.
  grant(r, a, b);
  const w = a.wrap(B, dataMessage(800))!;
  assert.equal(relayType(w.bytes), MSG_RELAY_TO_RELAY);
  assert.equal(r.server.forward(w.bytes.slice(), EA), null);
  // What an older receiver checks for: type 0x16 exactly.
  assert.equal(relayType(r.sent[0].data), MSG_RELAY_FROM_RELAY);
  assert.ok(typeof b.unwrap(r.sent[0].data, ER1) !== "string");
});

Deno.test("relay client: either form is taken on any session (a grant may reach the peer first)", () => {
  const r = relay(R1);
  const { c: a } = client(A);
  const { c: b } = client(B);
  grant(r, a, b); // no `ht`: B holds the whole-form grant
  // Both ask again with `ht`: the session moves to the head-and-tag form, and A takes the new
  // grant before B does.
  r.server.open(A, B, true);
  const res = r.server.open(B, A, true);
  assert.equal(sessionFor(res.send, A).send.ht, true);
  assert.equal(a.onSession(sessionFor(res.send, A), R1), null);
  const w = a.wrap(B, dataMessage(300))!;
  assert.equal(relayType(w.bytes), MSG_RELAY_TO_RELAY_HT);
  assert.equal(r.server.forward(w.bytes.slice(), EA), null);
  assert.ok(typeof b.unwrap(r.sent[0].data, ER1) !== "string", "B still on its older grant");
});

Deno.test("relay client: reserve and sealReserved build in place what wrap builds", () => {
  for (const ht of [false, true]) {
    const r = relay(R1);
    const { c: a } = client(A);
    const { c: b } = client(B);
    if (ht) grantHeadTag(r, a, b);
    else grant(r, a, b);
    const msg = dataMessage(1000, 9);
    const wrapped = a.wrap(B, msg)!.bytes.slice();
    assert.equal(a.reserve(B, msg.length), ER1);
    const slot = new Uint8Array(2048);
    slot.set(msg, 16);
    assert.equal(a.sealReserved(slot, msg.length), wrapped.length);
    assert.deepEqual(slot.subarray(0, wrapped.length), wrapped);
    assert.deepEqual(a.stats.wrapped, { packets: 2, bytes: 2 * wrapped.length });
    assert.throws(() => a.sealReserved(slot, msg.length), /without reserve/);
    assert.equal(a.reserve(C, 100), null, "no session with C");
    assert.equal(a.reserve(B, 70_000), null, "too large");
  }
});
