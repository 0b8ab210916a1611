import assert from "node:assert/strict";
import { member as record } from "../../../tests/fixtures/members.ts";
import { CallMe, recordCandidates } from "./callme.ts";
import type { ControlMessage } from "../sync/protocol.ts";
import { PATH_DROP_REASONS } from "./status.ts";
import { ReasonCounter } from "../../metrics/reasons.ts";

const member: typeof record = (name, address, extra = {}) =>
  record(name, address, { publicKey: `${name}-key`, ...extra });

Deno.test("call-me: the leader passes on the caller's record's candidates, never its own list", () => {
  const n1 = member("n1", "10.88.0.2", {
    endpoints: ["203.0.113.1:40001", "198.51.100.10:51820", "n1.example:51820"],
    lan: ["192.168.1.10:51820"],
  });
  const n2 = member("n2", "10.88.0.3");
  const sent: [string, ControlMessage][] = [];
  const drops = new ReasonCounter(PATH_DROP_REASONS);
  const c = new CallMe({
    role: "leader",
    channel: { send: (to, msg) => sent.push([to, msg]), listen: () => () => {} },
    me: "leader-key",
    leaderAddress: () => "10.88.0.1",
    members: new Map([[n1.publicKey, n1], [n2.publicKey, n2]]),
    candidates: () => [],
    drops,
    calledBy: () => true,
  });
  // n1 asks the leader to have n2 call it, listing addresses of its choosing (a victim's).
  c.handle({
    t: "callme",
    to: n2.publicKey,
    c: [{ k: "observed", e: "192.0.2.99:9" }, { k: "observed", e: "192.0.2.98:53" }],
  }, n1.address);
  assert.equal(sent.length, 1);
  const [to, msg] = sent[0];
  assert.equal(to, n2.address);
  assert.ok(msg.t === "callme");
  assert.deepEqual(msg.c, [
    { k: "advertised", e: "203.0.113.1:40001" },
    { k: "advertised", e: "198.51.100.10:51820" },
    { k: "lan", e: "192.168.1.10:51820" },
  ]);
  assert.deepEqual(recordCandidates(n2), []);
});

Deno.test("call-me: a node takes one from any of the mesh's leaders, from no other member", () => {
  const peer = member("peer", "10.88.0.3", { endpoints: ["203.0.113.3:51820"] });
  const drops = new ReasonCounter(PATH_DROP_REASONS);
  const called: string[] = [];
  const leaders = new Set(["10.88.0.1", "10.88.0.9"]);
  const c = new CallMe({
    role: "node",
    channel: { send: () => {}, listen: () => () => {} },
    me: "me-key",
    leaderAddress: () => "10.88.0.1",
    isLeader: (a) => leaders.has(a),
    members: new Map([[peer.publicKey, peer]]),
    candidates: () => [],
    drops,
    calledBy: (key) => {
      called.push(key);
      return true;
    },
  });
  const msg = { t: "callme" as const, from: peer.publicKey, c: [{ k: "lan", e: "192.0.2.3:1" }] };
  // The peer syncs with the other leader, which relays its call-me.
  c.handle(msg, "10.88.0.9");
  assert.deepEqual(called, [peer.publicKey]);
  c.handle(msg, "10.88.0.1");
  assert.equal(called.length, 2);
  // A member that is no leader cannot make this node punch anywhere.
  c.handle(msg, peer.address);
  assert.equal(called.length, 2);
  assert.equal(drops.get("callme-not-leader"), 1);
  assert.equal(c.counts.received, 2);
});

Deno.test("call-me: a leader takes one that another leader sends or passes on, from no node", () => {
  const other = member("lead2", "10.88.0.9", { role: "leader", endpoints: ["203.0.113.9:51820"] });
  const peer = member("peer", "10.88.0.3", { endpoints: ["203.0.113.3:51820"] });
  const drops = new ReasonCounter(PATH_DROP_REASONS);
  const called: string[] = [];
  const sent: [string, ControlMessage][] = [];
  const c = new CallMe({
    role: "leader",
    channel: { send: (to, msg) => sent.push([to, msg]), listen: () => () => {} },
    me: "leader-key",
    leaderAddress: () => "10.88.0.1",
    isLeader: (a) => a === other.address,
    members: new Map([[other.publicKey, other], [peer.publicKey, peer]]),
    candidates: () => [],
    drops,
    calledBy: (key) => {
      called.push(key);
      return true;
    },
  });
  const c1 = [{ k: "lan" as const, e: "192.0.2.3:1" }];
  // The other leader asks this one to punch to it, and passes on its member's call-me.
  c.handle({ t: "callme", from: other.publicKey, c: c1 }, other.address);
  c.handle({ t: "callme", from: peer.publicKey, c: c1 }, other.address);
  assert.deepEqual(called, [other.publicKey, peer.publicKey]);
  // A node naming a caller is no leader: dropped, nothing relayed.
  c.handle({ t: "callme", from: other.publicKey, c: c1 }, peer.address);
  assert.equal(called.length, 2);
  assert.equal(drops.get("callme-not-leader"), 1);
  assert.equal(sent.length, 0);
});

Deno.test("call-me: the leader passes none on between members whose views do not hold each other", () => {
  const n1 = member("n1", "10.88.0.2", { endpoints: ["203.0.113.1:40001"] });
  const n2 = member("n2", "10.88.0.3");
  const n3 = member("n3", "10.88.0.4");
  const sent: [string, ControlMessage][] = [];
  const drops = new ReasonCounter(PATH_DROP_REASONS);
  const c = new CallMe({
    role: "leader",
    channel: { send: (to, msg) => sent.push([to, msg]), listen: () => () => {} },
    me: "leader-key",
    leaderAddress: () => "10.88.0.1",
    members: new Map([[n1.publicKey, n1], [n2.publicKey, n2], [n3.publicKey, n3]]),
    // n1 and n3 may know of each other (a policy lets them talk); n2 is out of n1's scope.
    mayCall: (a, b) => [a, b].sort().join() === [n1.publicKey, n3.publicKey].sort().join(),
    candidates: () => [],
    drops,
    calledBy: () => true,
  });
  const c1 = [{ k: "lan" as const, e: "192.0.2.3:1" }];
  c.handle({ t: "callme", to: n2.publicKey, c: c1 }, n1.address);
  assert.equal(sent.length, 0, "n2 learns nothing of n1");
  assert.equal(drops.get("callme-not-member"), 1);
  c.handle({ t: "callme", to: n3.publicKey, c: c1 }, n1.address);
  assert.deepEqual(sent.map(([to]) => to), [n3.address]);
});
