import assert from "node:assert/strict";
import { makeMesh, type TestNode, texts, udp } from "../../../tests/fixtures/mesh.ts";
import type { UserspaceStack } from "../../../drivers/userspace.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { createLogger } from "../../log/logger.ts";
import { FAILED_HANDSHAKES_RESET, LOST_KEY_GRACE_MS, MeshPq, type PqOptions } from "./mesh_pq.ts";
import { parsePq, PQ_PORT } from "./wire.ts";
import { compare } from "./kem.ts";
import { parseKey } from "../../crypto/keys.ts";
import { viewChange, viewSteps } from "../../members/testing/view_change.ts";

/** `n` members' devices (makeMesh) with a MeshPq each; their exchange handed across directly. */
function pqMesh(n: number, optsOf: (i: number) => PqOptions = () => ({})) {
  const { nodes, clock, net } = makeMesh(n);
  const inbox: { to: number; data: Uint8Array; from: string }[] = [];
  // Every exchange message sent, by sender, in order.
  const sent: { from: number; data: Uint8Array }[] = [];
  const stack = (i: number) =>
    ({
      listen: (port: number) => {
        assert.equal(port, PQ_PORT);
        return {
          port,
          send: (to: { address: string }, data: Uint8Array) => {
            sent.push({ from: i, data: data.slice() });
            inbox.push({
              to: nodes.findIndex((n) => n.ip === to.address),
              data,
              from: nodes[i].ip,
            });
          },
          close: () => {},
        };
      },
    }) as unknown as UserspaceStack;
  const view: MembershipView = {
    network: "10.0.0.0/24",
    version: 1,
    members: nodes.map((n, i) =>
      ({ name: `n${i}`, publicKey: n.publicKey, address: n.ip, endpoints: [] }) as unknown as Member
    ),
  };
  const make = (i: number) =>
    new MeshPq({
      device: nodes[i].device,
      stack: stack(i),
      logger: createLogger({ level: "error" }),
      now: () => clock.now(),
      tickMs: 0,
    }, { pqRotateMs: 5000, ...optsOf(i) });
  const pqs = nodes.map((_, i) => make(i));
  for (const p of pqs) p.start(view);
  /** Node i's part made again (its agent restarted): the old one must be closed. */
  const restart = (i: number) => {
    pqs[i] = make(i);
    pqs[i].start(view);
  };
  const deliver = () => {
    while (inbox.length > 0) {
      const m = inbox.shift()!;
      pqs[m.to].receive(m.data, m.from);
      net.deliver();
    }
    net.deliver();
  };
  const round = (ms = 1000) => {
    clock.advance(ms);
    for (const n of nodes) n.device.tick();
    for (const p of pqs) p.tick();
    net.deliver();
    deliver();
  };
  return { nodes, clock, net, pqs, inbox, sent, deliver, round, restart };
}

/** Two members (pqMesh), the first with `opts`, the second with `optsB`. */
function pqPair(opts: PqOptions = {}, optsB: PqOptions = opts) {
  return pqMesh(2, (i) => i === 0 ? opts : optsB);
}

const psk = (a: TestNode, b: TestNode) => a.device.peer(b.publicKey)!.handshake.presharedKey;
const zero = (k: Uint8Array) => k.every((x) => x === 0);
const same = (a: Uint8Array, b: Uint8Array) => a.every((x, i) => x === b[i]);

Deno.test("two members: a session, then the same post-quantum key on both, and a session on it", () => {
  const { nodes: [a, b], net, pqs, round } = pqPair();
  // No session, no exchange.
  round();
  assert.ok(zero(psk(a, b)) && zero(psk(b, a)));
  a.packets.inject(udp(a.ip, b.ip, "hello"));
  net.deliver();
  round();
  assert.ok(!zero(psk(a, b)));
  assert.ok(same(psk(a, b), psk(b, a)));
  // The responder's handshake after the confirmation: the session in use carries the key.
  for (const [x, y] of [[a, b], [b, a]]) {
    const st = pqs[x === a ? 0 : 1].peerStatus(y.publicKey)!.pq;
    assert.equal(st.session, true, JSON.stringify(st));
    assert.equal(st.state, "pq");
    assert.equal(st.rotations, 1);
  }
  assert.equal(pqs[0].metrics().rotations + pqs[1].metrics().rotations, 2);
  assert.deepEqual(pqs[0].metrics().peers, { pq: 1, classical: 0 });
  // The next rotation: another key, the session still carries traffic.
  const before = psk(a, b).slice();
  for (let i = 0; i < 6; i++) round();
  assert.ok(!same(psk(a, b), before));
  assert.ok(same(psk(a, b), psk(b, a)));
  a.packets.inject(udp(a.ip, b.ip, "after"));
  net.deliver();
  assert.deepEqual(texts(b), ["hello", "after"]);
  for (const p of pqs) p.close();
});

Deno.test("offers one member starts together share an ML-KEM key pair; each pair's key is its own", () => {
  const { nodes, net, pqs, sent, round } = pqMesh(6);
  // The member with the smallest key initiates with every other (as a leader does with half of
  // its joiners), all in one tick.
  const bytes = nodes.map((n) => parseKey(n.publicKey, "key"));
  const lo = bytes.reduce((best, b, i) => compare(b, bytes[best]) < 0 ? i : best, 0);
  for (const [i, n] of nodes.entries()) {
    if (i !== lo) nodes[lo].packets.inject(udp(nodes[lo].ip, n.ip, "x"));
  }
  net.deliver();
  round();
  const offers = sent.filter((s) => s.from === lo).map((s) => parsePq(s.data)!)
    .filter((m) => m.t === "offer");
  assert.equal(offers.length, 5);
  const eks = new Set(offers.map((m) => m.t === "offer" ? m.ek.join() : ""));
  assert.equal(eks.size, 1, `${eks.size} key pairs made for ${offers.length} offers in one tick`);
  // Every pair rotated to a key both sides hold, and no two pairs hold the same key.
  const keys = new Set<string>();
  for (const [i, n] of nodes.entries()) {
    if (i === lo) continue;
    assert.ok(!zero(psk(nodes[lo], n)));
    assert.ok(same(psk(nodes[lo], n), psk(n, nodes[lo])));
    assert.equal(pqs[lo].peerStatus(n.publicKey)!.pq.state, "pq");
    keys.add(psk(nodes[lo], n).join());
  }
  assert.equal(keys.size, 5);
  for (const p of pqs) p.close();
});

Deno.test("a member's malformed message and a stranger's are counted drops, nothing changes", () => {
  const { nodes: [a, b], pqs, net, round } = pqPair();
  a.packets.inject(udp(a.ip, b.ip, "x"));
  net.deliver();
  round();
  const key = psk(b, a).slice();
  pqs[1].receive(new Uint8Array([1, 9, 0, 0]), a.ip);
  pqs[1].receive(new Uint8Array(1200), a.ip);
  pqs[1].receive(new Uint8Array([1, 1, 0, 0, 0, 1, 0, 0, 0, 1]), "10.0.0.77");
  const f = pqs[1].metrics().failures;
  assert.equal(f.malformed, 2);
  assert.equal(f["not-member"], 1);
  assert.ok(same(psk(b, a), key));
  for (const p of pqs) p.close();
});

Deno.test("a member without pq: offers go unanswered, the pair stays classical and shows it", () => {
  const { nodes: [a, b], pqs, net, round } = pqPair({}, { pq: false });
  a.packets.inject(udp(a.ip, b.ip, "x"));
  net.deliver();
  for (let i = 0; i < 40; i++) round();
  assert.ok(zero(psk(a, b)) && zero(psk(b, a)));
  const [initiator, responder] = pqs[0].peerStatus(b.publicKey)!.pq.state === "off"
    ? [pqs[1], pqs[0]]
    : [pqs[0], pqs[1]];
  assert.equal(responder.enabled, false);
  const st = initiator.peerStatus(responder === pqs[0] ? a.publicKey : b.publicKey)!.pq;
  assert.equal(st.session, false);
  // The smaller key initiates: unanswered when that is the side with pq on, else waiting.
  assert.ok(st.state === "unanswered" || st.state === "waiting", st.state);
  for (const p of pqs) p.close();
});

Deno.test("--require-pq: data waits for the post-quantum session, then flows", () => {
  const { nodes: [a, b], net, pqs, round } = pqPair({ requirePq: true }, {});
  a.packets.inject(udp(a.ip, b.ip, "early"));
  net.deliver();
  assert.equal(a.device.drops.get("pq-required"), 1);
  assert.deepEqual(texts(b), []);
  assert.equal(pqs[0].peerStatus(b.publicKey)!.pq.required, true);
  // The exchange itself flows on the classical session the refused packet started.
  round();
  round();
  a.packets.inject(udp(a.ip, b.ip, "late"));
  net.deliver();
  assert.deepEqual(texts(b), ["late"]);
  assert.throws(
    () =>
      new MeshPq({
        device: a.device,
        stack: {} as UserspaceStack,
        logger: createLogger({ level: "error" }),
      }, { pq: false, requirePq: true }),
    /require-pq needs pq/,
  );
  for (const p of pqs) p.close();
});

Deno.test("a member that lost its keys (a restart without bye): both start again from none", () => {
  const { nodes: [a, b], net, pqs, round, clock, restart } = pqPair();
  a.packets.inject(udp(a.ip, b.ip, "x"));
  net.deliver();
  round();
  assert.ok(!zero(psk(a, b)));
  // b "restarts": its keys for a are gone, as its sessions.
  pqs[1].close();
  b.device.setPresharedKeys(a.publicKey, { key: new Uint8Array(32), tag: 0 }, null);
  b.device.resetPeer(a.publicKey);
  clock.advance(LOST_KEY_GRACE_MS + 1000);
  // a's next handshake gets through on its alternate, the base key (a classical session)...
  a.device.initiateHandshakeNow(b.publicKey);
  net.deliver();
  b.packets.inject(udp(b.ip, a.ip, "from the restarted"));
  net.deliver();
  assert.deepEqual(texts(a), ["from the restarted"]);
  assert.equal(a.device.peer(b.publicKey)!.current!.presharedKeyTag, 0);
  // ...which tells a that b lost its keys: a gives them up too.
  pqs[0].tick();
  const who = pqs[0].metrics().failures;
  assert.equal(who["peer-lost-keys"] + who["handshake-failed"], 1);
  // b's new run: a key again, on both sides.
  restart(1);
  for (let i = 0; i < 3; i++) round();
  assert.ok(!zero(psk(a, b)));
  assert.ok(same(psk(a, b), psk(b, a)));
  for (const p of pqs) p.close();
});

Deno.test("handshakes that fail with the keys held: given up after a few attempts", () => {
  const { nodes: [a, b], net, pqs, round, clock } = pqPair();
  a.packets.inject(udp(a.ip, b.ip, "x"));
  net.deliver();
  round();
  for (let i = 0; i < 6; i++) round(); // a second rotation: neither side's alternate is none
  assert.ok(!zero(psk(a, b)));
  pqs[1].close();
  b.device.setPresharedKeys(a.publicKey, { key: new Uint8Array(32).fill(7), tag: 0 }, null);
  b.device.resetPeer(a.publicKey);
  a.device.resetPeer(b.publicKey);
  for (let i = 0; i < FAILED_HANDSHAKES_RESET; i++) {
    clock.advance(6000);
    a.device.initiateHandshakeNow(b.publicKey);
    net.deliver();
    pqs[0].tick();
  }
  assert.equal(pqs[0].metrics().failures["handshake-failed"], 1);
  assert.ok(zero(psk(a, b)));
  pqs[0].close();
});

Deno.test("a member that does not answer at all keeps the pair's keys for when it is back", () => {
  const { nodes: [a, b], net, pqs, round, clock } = pqPair();
  a.packets.inject(udp(a.ip, b.ip, "x"));
  net.deliver();
  round();
  const key = psk(a, b).slice();
  // b is cut off: a's initiations go unanswered, again and again.
  b.device.removePeer(a.publicKey);
  for (let i = 0; i < 10; i++) {
    clock.advance(6000);
    a.device.initiateHandshakeNow(b.publicKey);
    net.deliver();
    pqs[0].tick();
  }
  assert.ok(same(psk(a, b), key));
  assert.equal(pqs[0].metrics().failures["handshake-failed"], 0);
  for (const p of pqs) p.close();
});

Deno.test("a part given each view's change ends where one given the whole views does", () => {
  // Two meshes alike: member 0 of one takes whole views, of the other each view's change.
  const meshes = [pqMesh(4), pqMesh(4)];
  const stepsOf = (nodes: TestNode[]) => {
    const rec = (i: number, name = `n${i}`) =>
      ({
        name,
        publicKey: nodes[i].publicKey,
        address: nodes[i].ip,
        endpoints: [],
      }) as unknown as Member;
    return viewSteps({
      network: "10.0.0.0/24",
      version: 1,
      members: [0, 1, 2, 3].map((i) => rec(i)),
    }, [
      (v) => v.members.filter((m) => m.publicKey !== nodes[2].publicKey), // 2 removed
      (v) => v.members.map((m) => m.publicKey === nodes[1].publicKey ? rec(1, "renamed") : m),
      (v) => [...v.members, rec(2)], // 2 joins again
      (v) => v.members.filter((m) => m.publicKey !== nodes[3].publicKey), // 3 removed
    ]);
  };
  const views = meshes.map((m) => stepsOf(m.nodes));
  const state = (k: number) => {
    const { nodes, pqs } = meshes[k];
    // A datagram from each member's address: a member's is malformed, a stranger's not one.
    for (const n of nodes) pqs[0].receive(new Uint8Array([0xff]), n.ip);
    return {
      pairs: nodes.map((n) => pqs[0].peerStatus(n.publicKey) !== undefined),
      failures: pqs[0].metrics().failures,
    };
  };
  try {
    for (let i = 1; i < views[0].length; i++) {
      meshes[0].pqs[0].viewChanged(views[0][i]);
      meshes[1].pqs[0].viewChanged(views[1][i], viewChange(views[1][i - 1], views[1][i]));
      assert.deepEqual(state(1), state(0), `after step ${i}`);
    }
    assert.deepEqual(state(0).pairs, [false, true, true, false]);
  } finally {
    for (const m of meshes) for (const p of m.pqs) p.close();
  }
});
