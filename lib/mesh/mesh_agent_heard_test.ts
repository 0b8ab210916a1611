/**
 * A leader follows its members by their hellos, not by probing each (in-process mesh agents on
 * the memory network, tests/fixtures/memory_mesh.ts, hellos every 300 ms): an ordinary member's
 * health on the leader is judged from its hellos and the RTT it measured to the leader, a member
 * the leader keeps (a relay) is probed as before, a member that falls silent is probed from its
 * first hello missed, goes down, and comes back (unprobed) when heard again. A member judges its
 * leader by the probes its sync sends with each hello, not by health probes of its own.
 */
import assert from "node:assert/strict";
import { TEST, until as untilSoon, withLab } from "../../tests/fixtures/memory_mesh.ts";
import { HANG_GUARD_MS } from "../../tests/fixtures/netns.ts";
import type { MeshAgent } from "./mesh_agent.ts";

/** Waits for an event; the time is only a guard against a hang. */
const until = (what: string, check: () => boolean) => untilSoon(what, check, HANG_GUARD_MS);

const health = (a: MeshAgent, b: MeshAgent) => a.agent.peerHealth(b.agent.device.publicKey);

Deno.test({
  name:
    "mesh agent: a leader judges its members by their hellos, a member its leader by the sync's probes",
  ...TEST,
  fn: () =>
    withLab(async (lab) => {
      // Probes every second: a member gone quiet is found down sooner.
      const leader = await lab.startLeader({ health: { probeIntervalMs: 1000 } });
      const relay = await lab.start("relay", "192.0.2.20", { relay: true });
      const n1 = await lab.start("n1", "192.0.2.11");
      const key = (a: MeshAgent) => a.agent.device.publicKey;

      await until(
        "the leader has n1 up from its hellos, with the RTT n1 measured",
        () => /^heard from \(median rtt [\d.]+ ms, loss/.test(health(leader, n1)?.reason ?? ""),
      );
      assert.equal(health(leader, n1)?.state, "up");
      assert.ok(health(leader, n1)!.rttMs.last! >= 0);
      assert.equal(leader.agent.probing(key(n1)), false, "the leader does not probe n1");
      await until(
        "the leader probes the relay it keeps",
        () => /^probes answered/.test(health(leader, relay)?.reason ?? ""),
      );
      assert.equal(leader.agent.probing(key(relay)), true);
      // n1 judges the leader by its sync's probes (one a hello), not by probes of its own.
      assert.equal(n1.agent.probing(key(leader)), false, "no second probe of the leader");
      await until(
        "n1 has the leader up from its sync's probes",
        () => /^probes answered \(median rtt/.test(health(n1, leader)?.reason ?? ""),
      );

      // n1 falls silent (no bye): a hello missed has the leader probe it, and the probes lost
      // take it down.
      const unblock = lab.nats.block((from) => from.startsWith("192.0.2.11:"));
      await until("the leader probes n1, gone quiet", () => leader.agent.probing(key(n1)));
      await until("n1 down on the leader", () => health(leader, n1)?.state === "down");
      assert.match(health(leader, n1)!.reason, /^not heard from in 3 intervals in a row$/);
      assert.equal(health(leader, relay)?.state, "up", "the relay stays up");
      unblock();
      await until("n1 up again on the leader", () => health(leader, n1)?.state === "up");
      assert.match(health(leader, n1)!.reason, /^heard from/);
      await until("heard again, n1 is no longer probed", () => !leader.agent.probing(key(n1)));
    }),
});
