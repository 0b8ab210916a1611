/**
 * The fleet bench run for real at a tiny size: a `weft --leader` process and 20 simulated members
 * in another process. Checks what it reports is whole and sane (every member joined, every change
 * reached every member, the leader's figures read), not how fast: figures are for the bench.
 */
import assert from "node:assert/strict";
import { fleetPlan, fleetRows, leaderCounts, runFleetBench } from "./fleet.ts";
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
    // Each join took at least its answer and a view from the leader.
    assert.ok(r.leaderDatagramsPerJoin >= 2, JSON.stringify(r));
    // Up to 50 joins and 10 leaves a second, for a second; every started join completed.
    assert.equal(r.churn.error, undefined);
    assert.ok(r.churn.joinsStarted > 0 && r.churn.joinsStarted <= 50, JSON.stringify(r.churn));
    assert.equal(r.churn.joined, r.churn.joinsStarted, JSON.stringify(r.churn));
    assert.equal(r.churn.left, 10);
    // Each bye's answer is timed, and one never answered is told from one answered late.
    assert.equal(r.churn.byesNeverAnswered, 10 - r.churn.byesAnswered - r.churn.byesLate);
    assert.ok(r.churn.byesAnswered > 0 && r.churn.byeAnswerP50Ms > 0, JSON.stringify(r.churn));
    assert.ok(r.churn.byeAnswerP50Ms <= r.churn.byeAnswerMaxMs, JSON.stringify(r.churn));
    // And how long each answer waited unread in the simulator's socket (the kernel's stamps).
    assert.ok(
      r.churn.byeAnswerUnreadP50Ms >= 0 &&
        r.churn.byeAnswerUnreadP50Ms <= r.churn.byeAnswerUnreadMaxMs,
      JSON.stringify(r.churn),
    );
    assert.equal(typeof r.leaderDrops, "object");
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

Deno.test("fleet bench: deno task bench runs each size as a full mesh and as a scoped fleet", () => {
  const full = (members: number) => ({ members });
  const scoped = (members: number, hubs = 10) => ({ members, hubs, concurrency: 1024 });
  assert.deepEqual(fleetPlan(), [full(1000), scoped(1000), full(3000), scoped(3000)]);
  assert.deepEqual(fleetPlan({ fleet10k: true }).slice(4), [full(10_000), scoped(10_000)]);
  assert.deepEqual(fleetPlan({ sizes: "300, 1000" }), [
    full(300),
    scoped(300),
    full(1000),
    scoped(1000),
  ]);
  assert.deepEqual(fleetPlan({ sizes: "300", hubs: "4" }), [full(300), scoped(300, 4)]);
  // FLEET_HUBS=0: full meshes only; a fleet too small for its hubs gets no scoped run.
  assert.deepEqual(fleetPlan({ sizes: "300,1000", hubs: "0" }), [full(300), full(1000)]);
  assert.deepEqual(fleetPlan({ sizes: "11" }), [full(11)]);
  for (const sizes of ["", "1000,x", "1", "1e3.5", "-5"]) {
    assert.throws(() => fleetPlan({ sizes }), /FLEET_SIZES: .*integers of 2 or more/, sizes);
  }
  for (const hubs of ["", "x", "-1", "2.5"]) {
    assert.throws(() => fleetPlan({ hubs }), /FLEET_HUBS: .*an integer of 0 or more/, hubs);
  }
});

Deno.test({
  name: "fleet bench: a scoped fleet's row says its hubs, joins in flight and the load average",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const r = await runFleetBench({
      members: 20,
      sockets: 4,
      churnSeconds: 1,
      hubs: 3,
      concurrency: 1024,
    });
    assert.equal(r.hubs, 3);
    assert.equal(r.concurrency, 1024);
    // Every member but the removed hub heard each change.
    assert.equal(r.changes.remove.members, 19);
    assert.equal(r.changes.policy.members, 19);
    for (const l of [r.load.start, r.load.end]) assert.ok(Number.isFinite(l) && l >= 0, String(l));
    const [row] = fleetRows(r);
    assert.equal(row.hubs, 3);
    assert.equal(row["in flight"], 1024);
    assert.match(String(row["load 1m start→end"]), /^\d+\.\d\d→\d+\.\d\d$/);
  },
});

for (const peerSessions of [false, true]) {
  Deno.test({
    name: "fleet bench: with shared views the members' views come whole from a manifest, pieces " +
      `from members the leader named, ${
        peerSessions ? "over WireGuard sessions between them" : "handed over in the simulator"
      }`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      // Views of 16 pieces or more (some 250 records) name holders: 400 members.
      const r = await runFleetBench({ members: 400, sockets: 16, churnSeconds: 1, peerSessions });
      assert.equal(r.sharedViews, true);
      const s = r.shared;
      const why = JSON.stringify({
        shared: s,
        kinds: r.leaderViewDatagramsPerJoin,
        peers: r.peerSessions,
      });
      // Every member's view is whole (the join waits for it); those whole from manifests are most.
      assert.ok(s.whole >= r.members / 2, why);
      // Pieces came from members, and each matched the manifest.
      assert.ok(s.fromHolders > 0 && s.served > 0, why);
      if (peerSessions) {
        assert.ok(r.peerSessions.initiated > 0 && r.peerSessions.answered > 0, why);
      } else {
        // The pieces taken from holders and the asks for them, not one session between members.
        assert.ok(r.peerSessions.delivered > s.fromHolders, why);
        assert.equal(r.peerSessions.initiated, undefined, why);
      }
      assert.equal(s.mismatches, 0, why);
      assert.equal(s.malformed, 0, why);
      // The leader counted what it sent of them by kind.
      assert.ok(r.leaderViewDatagramsPerJoin.manifest > 0, why);
      assert.ok(r.simulatorCpuSecondsJoins > 0, why);
      assert.equal(fleetRows(r)[0]["shared views"], 1);
    },
  });
}

Deno.test("fleet bench: the leader's drop and refusal counts are read from its /metrics, the non-zero", async () => {
  const text = [
    "# HELP weft_member_refusals_total What the leader refused.",
    'weft_member_refusals_total{reason="bye"} 3',
    'weft_member_refusals_total{reason="hello"} 0',
    'weft_drops_total{reason="no-session"} 12',
    "weft_join_drops_total 2",
    "weft_peer_rx_bytes_total 999",
  ].join("\n");
  assert.deepEqual(await leaderCounts(Promise.resolve(text)), {
    'weft_member_refusals_total{reason="bye"}': 3,
    'weft_drops_total{reason="no-session"}': 12,
    "weft_join_drops_total": 2,
  });
});
