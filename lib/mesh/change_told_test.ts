/**
 * A node's change of what it advertises, told to a real leader's service over a fake channel that
 * loses the change's first hello: the node tells it again until its own record shows it, within a
 * few tries, not at its next hello of the interval (ten minutes here, past the tests' guard).
 */

import assert from "node:assert/strict";
import { LeaderCore } from "./leader/core.ts";
import { LeaderService } from "./leader/service.ts";
import { HELLO_RATE } from "./leader/hello_rate.ts";
import { NodeSync } from "./sync/node_sync.ts";
import { type ControlMessage, parseMessage } from "./sync/protocol.ts";
import { generateKeyPair } from "../crypto/keys.ts";
import { nullLogger } from "../log/logger.ts";
import type { Device } from "../device/device.ts";
import type { Member, MembershipView, ServiceSpec } from "../members/member.ts";
import type { JoinRequest } from "./join/request.ts";
import { TELL_TRIES } from "./sync/tell_again.ts";
import { eventually, HANG_GUARD_MS } from "../../tests/fixtures/netns.ts";

type Hello = Extract<ControlMessage, { t: "hello" }>;

/**
 * A leader's service and one joined node's sync, each message delivered on a later microtask;
 * the channel loses the node's first hello that `carries` the change.
 */
async function pair(carries: (h: Hello) => boolean) {
  const key = generateKeyPair().publicKey;
  const core = await LeaderCore.open(null, {
    network: "10.6.0.0/24",
    hostname: "lead",
    publicKey: key,
    endpoints: ["192.0.2.1:51820"],
  });
  const token = await core.createToken({ ttlMs: 60_000, uses: null, labels: {} });
  const node = generateKeyPair().publicKey;
  const req: JoinRequest = {
    tokenId: token.id,
    secret: token.secret,
    publicKey: node,
    hostname: "n1",
    labels: {},
    services: [],
    endpoints: [],
    time: Date.now(),
  };
  const joined = await core.join(req, null);
  if (!joined.ok) throw new Error(joined.error);
  const me = joined.member.address;
  const lead = core.leader.address;
  let toLeader: ((msg: ControlMessage, from: string) => void) | null = null;
  let toNode: ((msg: ControlMessage, from: string) => void) | null = null;
  const later = (fn: () => void) => queueMicrotask(fn);
  const service = new LeaderService({
    core,
    device: { publicKey: key, peer: () => undefined } as unknown as Pick<
      Device,
      "publicKey" | "peer"
    >,
    channel: {
      send: (to, msg) => to === me && later(() => toNode?.(msg, lead)),
      sendEncoded: (to, bytes) => {
        const msg = parseMessage(bytes)!;
        if (to === me) later(() => toNode?.(msg, lead));
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
  });
  const hellos: Hello[] = [];
  let dropped = 0;
  const drop = (h: Hello) => dropped === 0 && carries(h);
  let held: MembershipView = core.view();
  let lan: string[] = ["192.168.1.5:51820"];
  const sync = new NodeSync({
    channel: {
      send: (to, msg) => {
        if (to !== lead) return;
        if (msg.t === "hello") {
          hellos.push(msg);
          if (drop(msg)) return void dropped++;
        }
        later(() => toLeader?.(msg, me));
      },
      listen: (h) => {
        toNode = h;
        return () => {};
      },
    },
    probe: () => Promise.resolve(1),
    state: { writeNode: () => Promise.resolve() },
    logger: nullLogger,
    publicKey: node,
    address: me,
    leader: { publicKey: key, address: lead, endpoints: ["192.0.2.1:51820"] },
    view: () => held,
    applyView: (v) => held = v,
    policy: () => null,
    usePolicy: () => true,
    advertise: { endpoints: [], services: [], labels: {} },
    lan: () => lan,
  }, { syncIntervalMs: 600_000, byeWaitMs: 50 });
  const own = (v: MembershipView): Member | undefined =>
    v.members.find((m) => m.publicKey === node);
  return {
    service,
    sync,
    hellos,
    dropped: () => dropped,
    /** The node's record as the leader holds it, and as the node's view shows it. */
    atLeader: () => own(core.view())!,
    atNode: () => own(held),
    setLan: (l: string[]) => lan = l,
    /** Starts both and waits for the node's own record in its view. */
    up: async () => {
      service.start();
      sync.start(null);
      assert.ok(await eventually(() => Promise.resolve(own(held) !== undefined), HANG_GUARD_MS, 5));
    },
    close: async () => {
      await sync.close();
      service.close();
    },
  };
}

const WEB: ServiceSpec[] = [{ name: "web", port: 80, protocol: "tcp" }];

Deno.test("a changed hello lost: the node tells it again until its record shows it, within a few tries", async () => {
  const p = await pair((h) => !!h.services?.length);
  try {
    await p.up();
    p.sync.setServices(WEB);
    const shown = () => JSON.stringify(p.atNode()?.services) === JSON.stringify(WEB);
    assert.ok(
      await eventually(() => Promise.resolve(shown()), HANG_GUARD_MS, 5),
      `the change never came: hellos ${p.hellos.length}, lost ${p.dropped()}`,
    );
    assert.deepEqual(p.atLeader().services, WEB);
    assert.equal(p.dropped(), 1);
    const told = p.hellos.filter((h) => h.services?.length).length;
    assert.ok(told >= 2 && told <= 1 + TELL_TRIES, `told ${told} times`);
  } finally {
    await p.close();
  }
});

Deno.test("a node's LAN candidates moved: a lost hello is told again until its record shows them", async () => {
  const moved = ["198.18.0.7:51820"];
  const p = await pair((h) => h.lan?.[0] === moved[0]);
  try {
    await p.up();
    await eventually(() => Promise.resolve(p.atLeader().lan !== undefined), HANG_GUARD_MS, 5);
    // As the node's paths do when its interfaces change: the new list read for a hello now.
    p.setLan(moved);
    p.sync.hello();
    assert.ok(
      await eventually(
        () => Promise.resolve(JSON.stringify(p.atNode()?.lan) === JSON.stringify(moved)),
        HANG_GUARD_MS,
        5,
      ),
      `the move never came: hellos ${p.hellos.length}, lost ${p.dropped()}`,
    );
    assert.deepEqual(p.atLeader().lan, moved);
    assert.equal(p.dropped(), 1);
  } finally {
    await p.close();
  }
});

Deno.test("a changed hello lost past the node's hello burst: the leader's rate holds the tries, never starves them", async () => {
  const p = await pair((h) => !!h.labels?.["node.weft/zone"]);
  try {
    await p.up();
    // More than a burst's worth of hellos (news asked for, say): the tries of the change come
    // over the rate.
    for (let i = 0; i <= HELLO_RATE.burst; i++) p.sync.hello();
    p.sync.setLabels({ "node.weft/zone": "b" });
    assert.ok(
      await eventually(
        () => Promise.resolve(p.atNode()?.nodeLabels?.["node.weft/zone"] === "b"),
        HANG_GUARD_MS,
        5,
      ),
      `the change never came: hellos ${p.hellos.length}, lost ${p.dropped()}`,
    );
    assert.equal(p.atLeader().nodeLabels?.["node.weft/zone"], "b");
    assert.equal(p.service.refusals().hello > 0, true, "hellos came over the rate");
  } finally {
    await p.close();
  }
});
