/**
 * A node's change of what it advertises, told to a real leader's service over a fake channel that
 * loses the change's first hello: the node tells it again until its own record shows it, within a
 * few tries, not at its next hello of the interval (ten minutes here, past the tests' guard).
 */

import assert from "node:assert/strict";
import { HELLO_RATE } from "./leader/hello_rate.ts";
import { controlMesh, type Hello } from "./testing/control_mesh.ts";
import type { Member, MembershipView, ServiceSpec } from "../members/member.ts";
import { TELL_TRIES } from "./sync/tell_again.ts";
import { eventually, HANG_GUARD_MS } from "../../tests/fixtures/netns.ts";

/**
 * A leader's service and one joined node's sync, each message delivered on a later microtask;
 * the channel loses the node's first hello that `carries` the change.
 */
async function pair(carries: (h: Hello) => boolean) {
  const t = await controlMesh({ network: "10.6.0.0/24" });
  const hellos: Hello[] = [];
  let dropped = 0;
  const drop = (h: Hello) => dropped === 0 && carries(h);
  t.hooks.nodeSent = (_, to, msg) => {
    if (to === t.lead && msg.t === "hello") hellos.push(msg);
  };
  t.hooks.tamper = (_, msg) => {
    if (msg.t !== "hello" || !drop(msg)) return msg;
    dropped++;
    return null;
  };
  let lan: string[] = ["192.168.1.5:51820"];
  const { m, sync, held } = await t.node("n1", { held: "whole", deps: { lan: () => lan } });
  const own = (v: MembershipView): Member | undefined =>
    v.members.find((x) => x.publicKey === m.publicKey);
  return {
    service: t.service,
    sync,
    hellos,
    dropped: () => dropped,
    /** The node's record as the leader holds it, and as the node's view shows it. */
    atLeader: () => own(t.core.view())!,
    atNode: () => own(held()),
    setLan: (l: string[]) => lan = l,
    /** Waits for the node's own record in its view (the service and the sync are started). */
    up: async () => {
      assert.ok(
        await eventually(() => Promise.resolve(own(held()) !== undefined), HANG_GUARD_MS, 5),
      );
    },
    close: () => t.close(),
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
