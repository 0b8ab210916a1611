/**
 * Carried pushes end to end: a real leader's service (carrying from 3 members on) and real node
 * syncs over a fake channel (each datagram encoded, parsed and delivered on a later microtask,
 * member to member too). Nodes learn the leader's push key at their first hello and say its id
 * at the next; a change then reaches them through a carrier, the leader sending each carrier
 * its `carry` and the signed parts once, and the other nodes nothing of that push. A node that
 * does not say `ck` (an older one) is sent its delta directly; parts a carrier tampers with are
 * refused (`forged`), and the nodes get the change from the leader when they ask.
 */

import assert from "node:assert/strict";
import { pushKeyOf, unpackCarried } from "./sync/carried.ts";
import { controlMesh } from "./testing/control_mesh.ts";
import { eventually, HANG_GUARD_MS } from "../../tests/fixtures/netns.ts";

const until = async (what: string, fn: () => boolean) =>
  assert.ok(await eventually(() => Promise.resolve(fn()), HANG_GUARD_MS, 5), what);

async function mesh() {
  const t = await controlMesh({ network: "10.8.0.0/16", service: { carryMin: 3 } });
  // The push key the leader sent (its pushkey messages).
  let pushKey = "";
  t.hooks.leaderSent = (_, __, msg) => {
    if (msg?.t === "pushkey") pushKey = msg.k;
  };
  // The `ck` of each hello the leader took, by sender.
  const cks = new Map<string, (string | undefined)[]>();
  t.hooks.leaderTook = (from, msg) => {
    if (msg.t !== "hello") return;
    let l = cks.get(from);
    if (!l) cks.set(from, l = []);
    l.push(msg.ck);
  };
  // The members each node passed carried parts on to, by sender (before any tampering).
  const passed = new Map<string, string[]>();
  t.hooks.nodeSent = (from, to, msg) => {
    if (msg.t !== "carried") return;
    let l = passed.get(from);
    if (!l) passed.set(from, l = []);
    l.push(to);
  };
  /** A node joined and its sync started; `old`: its hellos do not say `ck`. */
  const node = async (name: string, old = false) => {
    const { m, sync, held, sent } = await t.node(name, old ? { drops: ["ck"] } : {});
    // Kept from its start: a part passed on before this line still counts.
    const mine = passed.get(m.address) ?? [];
    passed.set(m.address, mine);
    const n = {
      m,
      sync,
      old,
      // The carried parts this node sent, and to whom.
      passed: mine,
      version: () => held().version,
      /** What the leader sent this node, from `at` on. */
      sent: (at = 0) => sent().slice(at),
      mark: () => sent().length,
      /** The ck of this node's last hello the leader took. */
      lastCk: () => cks.get(m.address)?.at(-1),
    };
    await until(
      `${name} reaches the leader's view`,
      () => held().version === t.core.view().version,
    );
    return n;
  };
  return { ...t, node, pushKeyId: () => pushKeyOf(pushKey)?.id };
}

type TestNode = Awaited<ReturnType<Awaited<ReturnType<typeof mesh>>["node"]>>;

const count = (kinds: string[], k: string) => kinds.filter((x) => x === k).length;

Deno.test("carried pushes: a change reaches every node through carriers; old nodes get it directly; tampered parts are refused and asked for", async () => {
  const t = await mesh();
  try {
    const nodes: TestNode[] = [];
    for (let i = 0; i < 8; i++) nodes.push(await t.node(`n${i}`));
    const old = await t.node("old", true);
    const all = [...nodes, old];
    // Their first hellos said ck "" and got the push key; their next say its id.
    await until("the leader sent its push key", () => t.pushKeyId() !== undefined);
    const id = t.pushKeyId()!;
    for (const n of nodes) {
      assert.equal(n.sent().filter((k) => k === "pushkey").length, 1, n.m.name);
      n.sync.hello();
    }
    await until("every node says the key's id", () => nodes.every((n) => n.lastCk() === id));
    assert.equal(old.lastCk(), undefined);
    assert.equal(count(old.sent(), "pushkey"), 0, "an old node is not sent the key");
    // A change every node hears (warming the group's told version), then the one measured.
    const caughtUp = () => all.every((n) => n.version() === t.core.view().version);
    await t.join("warm");
    await until("every node hears of the first join", caughtUp);

    const marks = new Map(all.map((n) => [n.m.address, n.mark()]));
    // Earlier pushes may have been carried too (by nodes that said the id on their own).
    const passedAt = new Map(nodes.map((n) => [n.m.address, n.passed.length]));
    const countsAt = new Map(all.map((n) => [n.m.address, n.sync.carried()]));
    const before = t.service.carried();
    await t.join("x");
    await until("every node reaches the leader's version", caughtUp);
    const carried = t.service.carried();
    assert.equal(carried.pushes - before.pushes, 1);
    const carriers = nodes.filter((n) => n.sent(marks.get(n.m.address)).includes("carry"));
    assert.equal(carriers.length, carried.carriers - before.carriers);
    assert.ok(carriers.length >= 1);
    for (const c of carriers) {
      const s = c.sent(marks.get(c.m.address));
      assert.equal(count(s, "delta"), 0, `${c.m.name}: its parts came signed`);
      assert.ok(count(s, "carried") >= 1);
      assert.ok(
        c.sync.carried().passed > countsAt.get(c.m.address)!.passed,
        `${c.m.name} passed the parts on`,
      );
    }
    for (const n of nodes.filter((n) => !carriers.includes(n))) {
      const s = n.sent(marks.get(n.m.address));
      assert.equal(count(s, "delta") + count(s, "carried") + count(s, "carry"), 0, n.m.name);
      assert.ok(
        n.sync.carried().taken > countsAt.get(n.m.address)!.taken,
        `${n.m.name} took carried parts`,
      );
      assert.equal(n.passed.length, passedAt.get(n.m.address), `${n.m.name} passed nothing on`);
    }
    // Every able node told once: a carrier or in a carrier's list.
    assert.equal(
      carried.passed - before.passed + carried.carriers - before.carriers,
      nodes.length,
    );
    assert.equal(carried.direct - before.direct, 0);
    // The old node: its delta from the leader, nothing carried.
    assert.ok(count(old.sent(marks.get(old.m.address)), "delta") >= 1);
    // Every count of the old node's carrier is 0 (each named on failure; its fields are the
    // CarrierCounts type's).
    for (const [k, v] of Object.entries(old.sync.carried())) assert.equal(v, 0, `old: ${k}`);
    for (const n of nodes) {
      const c = n.sync.carried();
      assert.deepEqual([c.unknownKey, c.otherPolicy, c.forged, c.notDelta], [0, 0, 0, 0]);
    }

    // A carrier tampers with what it passes on: its receivers refuse it, and get the change
    // from the leader when they ask (their next hello).
    t.hooks.tamper = (from, msg) => {
      if (msg.t !== "carried" || from === t.core.leader.address) return msg;
      const bad = msg.c.bytes.slice();
      bad[bad.length - 1] ^= 0x01;
      return { t: "carried", c: unpackCarried(bad)! };
    };
    const countsBefore = new Map(nodes.map((n) => [n.m.address, n.sync.carried()]));
    const passedBefore = new Map(nodes.map((n) => [n.m.address, n.passed.length]));
    const cb = t.service.carried();
    await t.join("y");
    await until("a carried push went out", () => t.service.carried().pushes > cb.pushes);
    await until(
      "the carriers passed the push on",
      () => nodes.some((n) => n.passed.length > passedBefore.get(n.m.address)!),
    );
    const tampered = new Set(nodes.flatMap((n) => n.passed.slice(passedBefore.get(n.m.address))));
    const victims = nodes.filter((n) => tampered.has(n.m.address));
    assert.ok(victims.length > 0);
    await until(
      "the tampered parts are counted forged",
      () => victims.every((n) => n.sync.carried().forged > countsBefore.get(n.m.address)!.forged),
    );
    // Nothing forged was taken: a victim's only carried parts were the tampered ones.
    for (const n of victims) {
      assert.equal(n.sync.carried().taken, countsBefore.get(n.m.address)!.taken, n.m.name);
    }
    for (const n of victims) n.sync.hello();
    await until("every node reaches the leader's version after asking", caughtUp);
  } finally {
    await t.close();
  }
});
