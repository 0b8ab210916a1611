import assert from "node:assert/strict";
import { selectSuite } from "../../../lib/crypto/select.ts";
import { MSG_COOKIE_REPLY, MSG_RESPONSE } from "../../../lib/protocol/constants.ts";
import { LeaderHandshakes } from "./leader_handshakes.ts";
import { Member, type Sock } from "./member.ts";
import { Tunnel } from "./tunnel.ts";

const { dh, aead } = selectSuite();

/** A member that joined (handshakes next), the leader's side of its tunnel, and the handshakes. */
function setup() {
  const leaderPriv = dh.generatePrivate();
  const leaderPub = dh.publicKey(leaderPriv);
  const priv = dh.generatePrivate();
  const pub = dh.publicKey(priv);
  const m = new Member(0, priv, pub, new Tunnel(priv, pub, leaderPub, dh, aead), {} as Sock);
  m.state = "joining";
  m.joinedAt = 1_000;
  // The leader answers as a peer holding the member's key.
  const leader = new Tunnel(leaderPriv, leaderPub, pub, dh, aead);
  const byIndex = new Map<number, Member>();
  const sent: Uint8Array[] = [];
  const events: string[] = [];
  let index = 1;
  let clock = 0;
  const hs = new LeaderHandshakes({
    byIndex,
    nextIndex: () => index++,
    send: (_m, data) => sent.push(data.slice()),
    up: (x) => events.push(`up ${x.state}`),
    rekeyed: () => events.push("rekeyed"),
    count: (kind) => events.push(kind),
    clock: () => clock,
  });
  let leaderIndex = 100;
  const answer = (init: Uint8Array) => leader.answerAny(init, leaderIndex++)!.response;
  return { m, hs, byIndex, sent, events, answer, tick: (ms: number) => clock += ms };
}

/**
 * Waits until an initiation's timestamp passes the one before it (the leader takes it only
 * then): timestamps are in steps of 2^24 ns (lib/protocol/tai64n.ts), about 17 ms.
 */
function nextStamp(): void {
  const t = Date.now();
  while (Date.now() - t < 20) { /* spin */ }
}

Deno.test("leader handshakes: a joined member's initiation answered makes its session; it is up once", () => {
  const { m, hs, byIndex, sent, events, answer } = setup();
  hs.initiate(m);
  assert.equal(m.state, "handshaking");
  assert.ok(hs.has(m));
  assert.equal(sent.length, 1);
  hs.onAnswer(MSG_RESPONSE, answer(sent[0]));
  assert.deepEqual(events, ["up up"]);
  assert.equal(m.state, "up");
  assert.equal(hs.has(m), false);
  assert.ok(m.tunnel.up);
  assert.equal(byIndex.get(m.tunnel.sessionIndex), m);
});

Deno.test("leader handshakes: a resend answered after the first ends on the last session, the first's index still known", () => {
  const { m, hs, byIndex, sent, events, answer, tick } = setup();
  hs.initiate(m);
  // Not due yet: nothing resent.
  assert.equal(hs.resend(0, 2_000, 120_000), null);
  assert.equal(sent.length, 1);
  nextStamp();
  tick(6_000);
  assert.equal(hs.resend(6_000, 7_000, 120_000), null);
  assert.equal(sent.length, 2);
  const [first, second] = m.tunnel.pendingIndexes;
  // The leader answered both: the member takes each, the older first.
  hs.onAnswer(MSG_RESPONSE, answer(sent[0]));
  hs.onAnswer(MSG_RESPONSE, answer(sent[1]));
  assert.deepEqual(events, ["up up", "rekeyed"]);
  assert.equal(m.tunnel.sessionIndex, second);
  // The leader may still send on the first until our first packet on the second.
  assert.equal(byIndex.get(first), m);
  assert.equal(byIndex.get(second), m);
  assert.equal(m.prevIndex, first);
});

Deno.test("leader handshakes: a new attempt forgets the initiations before it; a rekey forgets the session before the previous", () => {
  const { m, hs, byIndex, sent, answer } = setup();
  hs.initiate(m);
  const [a] = m.tunnel.pendingIndexes;
  hs.onAnswer(MSG_RESPONSE, answer(sent[0]));
  for (let k = 1; k <= 2; k++) {
    nextStamp();
    hs.initiate(m);
    hs.onAnswer(MSG_RESPONSE, answer(sent[k]));
  }
  // Sessions a, b, c: a (before the previous) is answered no more; b and c are.
  assert.equal(byIndex.get(a), undefined);
  assert.equal(byIndex.get(m.prevIndex), m);
  assert.equal(byIndex.get(m.tunnel.sessionIndex), m);
  assert.equal(byIndex.size, 2);
  // A new attempt's initiation drops the unanswered one before it.
  hs.initiate(m);
  const [pending] = m.tunnel.pendingIndexes;
  nextStamp();
  hs.initiate(m);
  assert.equal(byIndex.get(pending), undefined);
});

Deno.test("leader handshakes: an unanswered member past the timeout is said; one that left is dropped; bad answers counted", () => {
  const { m, hs, events } = setup();
  hs.initiate(m);
  assert.equal(hs.resend(0, 1_000 + 120_001, 120_000), m);
  m.state = "left";
  assert.equal(hs.resend(0, 1_000 + 120_001, 120_000), null);
  assert.equal(hs.has(m), false);
  const junk = new Uint8Array(92);
  junk[8] = 77;
  hs.onAnswer(MSG_RESPONSE, junk);
  hs.onAnswer(MSG_COOKIE_REPLY, new Uint8Array(64));
  assert.deepEqual(events, ["handshake-unknown-index", "handshake-unknown-index"]);
});

Deno.test("leader handshakes: an initiation is resent only once the member heard past its wait (its answer did not come)", () => {
  const { m, hs, sent, events, answer, tick } = setup();
  hs.initiate(m);
  tick(6_000);
  // Due, but the member's socket was read only up to 2 s: the answer may wait unread there.
  assert.equal(hs.resend(6_000, 7_000, 120_000, () => 2_000), null);
  assert.equal(sent.length, 1);
  // Read through to 6 s and nothing came: resent.
  assert.equal(hs.resend(6_000, 7_000, 120_000, () => 6_000), null);
  assert.equal(sent.length, 2);
  hs.onAnswer(MSG_RESPONSE, answer(sent[1]));
  assert.deepEqual(events, ["up up"]);
});
