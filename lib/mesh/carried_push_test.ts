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
import { LeaderCore } from "./leader/core.ts";
import { LeaderService } from "./leader/service.ts";
import { NodeSync } from "./sync/node_sync.ts";
import { type ControlMessage, encodeMessage, parseMessage } from "./sync/protocol.ts";
import { CARRIED, pushKeyOf, unpackCarried } from "./sync/carried.ts";
import { PACKED } from "./sync/packed.ts";
import { generateKeyPair } from "../crypto/keys.ts";
import { joinRequest } from "./leader/testing/cores.ts";
import { nullLogger } from "../log/logger.ts";
import type { Device } from "../device/device.ts";
import type { Member, MembershipView } from "../members/member.ts";
import { eventually, HANG_GUARD_MS } from "../../tests/fixtures/netns.ts";

const dec = new TextDecoder();

/** What a datagram is: its kind for the counts below. */
function kind(bytes: Uint8Array): string {
  if (bytes[0] === CARRIED) return "carried";
  if (bytes[0] === PACKED) return parseMessage(bytes)?.t ?? "packed?";
  try {
    return JSON.parse(dec.decode(bytes)).t;
  } catch {
    return "?";
  }
}

const until = async (what: string, fn: () => boolean) =>
  assert.ok(await eventually(() => Promise.resolve(fn()), HANG_GUARD_MS, 5), what);

async function mesh() {
  const key = generateKeyPair().publicKey;
  const core = await LeaderCore.open(null, {
    network: "10.8.0.0/16",
    hostname: "lead",
    publicKey: key,
    endpoints: ["192.0.2.1:51820"],
  });
  const lead = core.leader.address;
  const token = await core.createToken({ ttlMs: 600_000, uses: null, labels: {} });
  const join = async (hostname: string): Promise<Member> => {
    const joined = await core.join(joinRequest(token, hostname, { time: Date.now() }), null);
    if (!joined.ok) throw new Error(joined.error);
    return joined.member;
  };
  // Every datagram the leader sent, by recipient (kinds), through send or sendEncoded.
  const fromLeader = new Map<string, string[]>();
  const heard = (to: string, k: string) => {
    let list = fromLeader.get(to);
    if (!list) fromLeader.set(to, list = []);
    list.push(k);
  };
  // The push key the leader sent (its pushkey messages).
  let pushKey = "";
  // The `ck` of each hello the leader took, by sender.
  const cks = new Map<string, (string | undefined)[]>();
  const nodes = new Map<string, (msg: ControlMessage, from: string) => void>();
  let toLeader: ((msg: ControlMessage, from: string) => void) | null = null;
  // Changes what a node sends before it goes (a tampering carrier); null: dropped.
  let tamper: (from: string, msg: ControlMessage) => ControlMessage | null = (_, m) => m;
  const deliver = (to: string, bytes: Uint8Array, from: string) => {
    const msg = parseMessage(bytes);
    if (!msg) return;
    queueMicrotask(() => {
      if (to !== lead) return nodes.get(to)?.(msg, from);
      toLeader?.(msg, from);
      if (msg.t === "hello") {
        let l = cks.get(from);
        if (!l) cks.set(from, l = []);
        l.push(msg.ck);
      }
    });
  };
  const service = new LeaderService({
    core,
    device: { publicKey: key, peer: () => undefined } as unknown as Pick<
      Device,
      "publicKey" | "peer"
    >,
    channel: {
      send: (to, msg) => {
        if (msg.t === "pushkey") pushKey = msg.k;
        heard(to, msg.t);
        deliver(to, encodeMessage(msg), lead);
      },
      sendEncoded: (to, bytes) => {
        heard(to, kind(bytes));
        deliver(to, bytes, lead);
      },
      listen: (h) => {
        toLeader = h;
        return () => {};
      },
    },
    logger: nullLogger,
    applyView: () => {},
    usePolicy: () => {},
    byeAnswerMs: () => 0,
    carryMin: 3,
  });
  service.start();
  const syncs: NodeSync[] = [];
  /** A node joined and its sync started; `old`: its hellos do not say `ck`. */
  const node = async (name: string, old = false) => {
    const m = await join(name);
    let held: MembershipView = {
      network: core.view().network,
      version: 0,
      members: core.view().members.filter((x) =>
        x.role === "leader" || x.publicKey === m.publicKey
      ),
    };
    // The carried parts this node sent, and to whom.
    const passed: string[] = [];
    const sync = new NodeSync({
      channel: {
        send: (to, msg) => {
          if (old && msg.t === "hello") {
            const { ck: _ck, ...rest } = msg;
            msg = rest;
          }
          if (msg.t === "carried") passed.push(to);
          const sent = tamper(m.address, msg);
          if (sent) deliver(to, encodeMessage(sent), m.address);
        },
        listen: (h) => {
          nodes.set(m.address, h);
          return () => {};
        },
      },
      probe: () => Promise.resolve(1),
      state: { writeNode: () => Promise.resolve() },
      logger: nullLogger,
      publicKey: m.publicKey,
      address: m.address,
      leader: { publicKey: key, address: lead, endpoints: ["192.0.2.1:51820"] },
      view: () => held,
      applyView: (v) => held = v,
      policy: () => null,
      usePolicy: () => true,
      advertise: { endpoints: [], services: [], labels: {} },
    }, { syncIntervalMs: 600_000, byeWaitMs: 50 });
    syncs.push(sync);
    sync.start(null);
    const n = {
      m,
      sync,
      old,
      passed,
      version: () => held.version,
      /** What the leader sent this node, from `at` on. */
      sent: (at = 0) => (fromLeader.get(m.address) ?? []).slice(at),
      mark: () => fromLeader.get(m.address)?.length ?? 0,
      /** The ck of this node's last hello the leader took. */
      lastCk: () => cks.get(m.address)?.at(-1),
    };
    await until(`${name} reaches the leader's view`, () => held.version === core.view().version);
    return n;
  };
  return {
    core,
    service,
    node,
    join,
    pushKeyId: () => pushKeyOf(pushKey)?.id,
    setTamper: (fn: typeof tamper) => tamper = fn,
    close: async () => {
      for (const s of syncs) await s.close();
      service.close();
    },
  };
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
    assert.deepEqual(old.sync.carried(), {
      taken: 0,
      passed: 0,
      unknownKey: 0,
      otherPolicy: 0,
      forged: 0,
      notDelta: 0,
    });
    for (const n of nodes) {
      const c = n.sync.carried();
      assert.deepEqual([c.unknownKey, c.otherPolicy, c.forged, c.notDelta], [0, 0, 0, 0]);
    }

    // A carrier tampers with what it passes on: its receivers refuse it, and get the change
    // from the leader when they ask (their next hello).
    t.setTamper((from, msg) => {
      if (msg.t !== "carried" || from === t.core.leader.address) return msg;
      const bad = msg.c.bytes.slice();
      bad[bad.length - 1] ^= 0x01;
      return { t: "carried", c: unpackCarried(bad)! };
    });
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
