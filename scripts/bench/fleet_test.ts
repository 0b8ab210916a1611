/**
 * The fleet bench run for real at a tiny size: a `weft --leader` process and 20 simulated members
 * in another process. Checks what it reports is whole and sane (every member joined, every change
 * reached every member, the leader's figures read), not how fast: figures are for the bench.
 */
import assert from "node:assert/strict";
import { runFleetBench } from "./fleet.ts";
import { SimProcess, startLeader } from "./fleet/leader.ts";

Deno.test({
  name: "fleet bench: --profile writes the leader's and the simulator's profiles of each phase",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-fleet-profile-" });
    try {
      await runFleetBench({ members: 8, sockets: 2, churnSeconds: 1, profileDir: dir });
      const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      const want = ["leader", "sim"].flatMap((who) =>
        ["changes", "churn", "joins"].flatMap((phase) => [
          `${who}-${phase}.cpuprofile`,
          `${who}-${phase}.heapprofile`,
        ])
      ).sort();
      assert.deepEqual(names, want);
      const profile = JSON.parse(await Deno.readTextFile(`${dir}/sim-joins.cpuprofile`));
      assert.ok(profile.nodes.length > 0 && profile.samples.length > 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "fleet bench: 20 simulated members join a real leader and hear every change",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const r = await runFleetBench({ members: 20, sockets: 4, churnSeconds: 1 });
    assert.equal(r.members, 20);
    assert.ok(r.joinsPerSecond > 0 && r.joinSeconds > 0, JSON.stringify(r));
    assert.ok(r.viewsSeconds >= r.joinSeconds, "views come after the join answers");
    // The removed member is not waited for; every other one got each change.
    assert.equal(r.changes.remove.members, 19);
    assert.equal(r.changes.policy.members, 19);
    assert.equal(r.changes.move.members, 19);
    for (const c of Object.values(r.changes)) {
      assert.ok(c.p50Ms <= c.p99Ms && c.p99Ms <= c.maxMs, JSON.stringify(c));
      assert.ok(c.bytes > 0, "the leader sent something for each change");
    }
    assert.equal(r.changeP99Ms, Math.max(...Object.values(r.changes).map((c) => c.p99Ms)));
    assert.ok(r.leaderCpuSeconds > 0 && r.leaderPeakRssMiB > 0, JSON.stringify(r));
    // Up to 50 joins and 10 leaves a second, for a second; every started join completed.
    assert.equal(r.churn.error, undefined);
    assert.ok(r.churn.joinsStarted > 0 && r.churn.joinsStarted <= 50, JSON.stringify(r.churn));
    assert.equal(r.churn.joined, r.churn.joinsStarted, JSON.stringify(r.churn));
    assert.equal(r.churn.left, 10);
    assert.ok(r.churn.nodeListSamples > 0 && r.churn.statusSamples > 0);
    assert.ok(r.nodeListP99Ms > 0 && r.statusP99Ms > 0);
    assert.ok(r.simulator.cpuSeconds > 0);
  },
});

Deno.test({
  name: "fleet bench: a leader that refuses the token fails the run with the leader's reason",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // 20 members on a /28 (13 free addresses): the leader refuses the joins past its pool.
    await assert.rejects(
      () => runFleetBench({ members: 20, sockets: 4, churnSeconds: 1, cidr: "10.96.0.0/28" }),
      /the leader refused f\d+'s join: .+/,
    );
  },
});

Deno.test({
  name: "fleet bench: a leader that stopped fails the simulator's joins at their deadline",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const leader = await startLeader();
    const { token } = await leader.api("POST", "/v1/tokens", { uses: 10 }) as { token: string };
    await leader.stop();
    const sim = new SimProcess();
    try {
      await sim.call("open", { token, sockets: 2, joinTimeoutMs: 2000 });
      await sim.call("add", { count: 3 });
      await assert.rejects(
        () => sim.call("join", { first: 0, count: 3 }, 60_000),
        /simulator: no answer from the leader at 127\.0\.0\.1:\d+ to f\d's join after \d+ tries in 2 s/,
      );
    } finally {
      await sim.stop();
    }
  },
});
