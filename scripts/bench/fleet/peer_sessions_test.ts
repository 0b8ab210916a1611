import assert from "node:assert/strict";
import { selectSuite } from "../../../lib/crypto/select.ts";
import { encodeKey } from "../../../lib/crypto/keys.ts";
import type { Endpoint } from "../../../lib/io/driver.ts";
import type { Member as MemberRecord } from "../../../lib/members/member.ts";
import { readU32 } from "../../../lib/protocol/bytes.ts";
import { MSG_INITIATION, MSG_RESPONSE } from "../../../lib/protocol/constants.ts";
import { Member, type Peer, type Sock } from "./member.ts";
import { PEER_IDLE_MS, PEER_SESSIONS, PeerSessions } from "./peer_sessions.ts";
import { Tunnel } from "./tunnel.ts";

const { dh, aead } = selectSuite();
const leader = dh.publicKey(dh.generatePrivate());
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Members up, each with its tunnel to the leader, and sessions between them over a fake wire. */
function fleet(n: number) {
  const members = Array.from({ length: n }, (_, i) => {
    const priv = dh.generatePrivate();
    const pub = dh.publicKey(priv);
    const m = new Member(i, priv, pub, new Tunnel(priv, pub, leader, dh, aead), {} as Sock);
    m.state = "up";
    m.address = `10.6.0.${i + 2}`;
    return m;
  });
  const byKey = new Map(members.map((m) => [m.key, m]));
  const wire: { from: Member; to: Member; data: Uint8Array }[] = [];
  const got: { m: Member; from: string; text: string }[] = [];
  const drops: string[] = [];
  let index = 1;
  const s = new PeerSessions({
    dh,
    aead,
    byKey: (key) => byKey.get(key),
    endpointOf: (_m, other) => other as unknown as Endpoint,
    sendTo: (m, to, data) =>
      wire.push({ from: m, to: to as unknown as Member, data: data.slice() }),
    nextIndex: () => index++,
    receive: (m, from, payload) => got.push({ m, from, text: dec.decode(payload) }),
    count: (kind) => drops.push(kind),
  });
  /** Delivers what is on the wire, as the fleet does: initiations answered by the member's key. */
  const deliver = () => {
    while (wire.length > 0) {
      const { to, data } = wire.shift()!;
      const type = readU32(data, 0);
      if (type === MSG_INITIATION) {
        assert.ok(to.tunnel.isFor(data));
        const idx = index++;
        let p: Peer | undefined;
        const res = to.tunnel.answerAny(data, idx, (key) => {
          const t = s.tunnelFor(to, encodeKey(key));
          p = t?.peer;
          return t?.tunnel;
        });
        assert.ok(res && p);
        s.answered(to, p, idx, res.response);
      } else {
        assert.ok(s.onDatagram(type === MSG_RESPONSE ? "response" : "transport", data));
      }
    }
  };
  const record = (m: Member) => ({ publicKey: m.key, address: m.address }) as MemberRecord;
  return { members, s, wire, got, drops, deliver, record };
}

Deno.test("fleet peer sessions: a payload waits for the session its first send starts, then both sides talk over it", () => {
  const { members: [a, b], s, wire, got, drops, deliver, record } = fleet(2);
  s.send(a, b.address, enc.encode("ask 1"), record(b));
  s.send(a, b.address, enc.encode("ask 2"));
  // One initiation for both: the second waited in the queue.
  assert.equal(wire.length, 1);
  assert.equal(readU32(wire[0].data, 0), MSG_INITIATION);
  deliver();
  assert.deepEqual(s.counts, { initiated: 1, answered: 1, evicted: 0, idled: 0 });
  assert.deepEqual(got.map((g) => [g.m.i, g.from, g.text]), [
    [1, a.address, "ask 1"],
    [1, a.address, "ask 2"],
  ]);
  // b answers over the session a's data confirmed: no handshake of its own.
  s.send(b, a.address, enc.encode("piece"));
  assert.equal(wire.length, 1);
  deliver();
  assert.deepEqual(got.at(-1), { m: a, from: b.address, text: "piece" });
  assert.deepEqual(drops, []);
  // Without a session or a record to start one, nothing goes: counted.
  const c = fleet(1).members[0];
  s.send(a, c.address, enc.encode("x"));
  assert.deepEqual(drops, ["peer-unknown"]);
  // A key that is no member's up is not answered.
  assert.equal(s.tunnelFor(b, c.key), undefined);
  assert.equal(s.tunnelFor(b, b.key), undefined);
});

Deno.test("fleet peer sessions: the least used goes past the limit, the idle ones after their time, all when a member leaves", () => {
  const { members, s, deliver, record } = fleet(PEER_SESSIONS + 2);
  const [a, ...others] = members;
  for (const o of others) {
    s.send(a, o.address, enc.encode("hi"), record(o));
    deliver();
  }
  assert.equal(s.counts.evicted, 1);
  assert.equal(a.peers!.size, PEER_SESSIONS);
  assert.equal(a.peers!.has(others[0].address), false);
  s.idle(a, performance.now() + PEER_IDLE_MS - 1000);
  assert.equal(a.peers!.size, PEER_SESSIONS);
  s.idle(a, performance.now() + PEER_IDLE_MS + 1);
  assert.equal(a.peers!.size, 0);
  assert.equal(s.counts.idled, PEER_SESSIONS);
  // The others' sessions with a go when they leave; a datagram on them is no session's then.
  const b = others.at(-1)!;
  assert.equal(b.peers!.size, 1);
  s.dropAll(b);
  assert.equal(b.peers!.size, 0);
});
