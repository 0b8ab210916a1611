/**
 * The mesh agent as a composition: a leader and a node started through `MeshAgent.start` on
 * loopback (userspace, no DNS), what each role exposes, and the refusals made before anything is
 * created. The parts have their own tests beside them; process-level ones are in
 * tests/integration/mesh_lib_test.ts.
 */
import assert from "node:assert/strict";
import { JoinError, MeshAgent, type MeshOptions } from "./mesh_agent.ts";
import { LeaderError } from "./leader/core.ts";
import { createLogger, nullLogger } from "../log/logger.ts";
import { freePort } from "../../tests/fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../../tests/fixtures/netns.ts";
import { runIdOf } from "../members/run_id.ts";

function base(dir: string, name: string, port: number): MeshOptions {
  return {
    role: "node",
    stateDir: `${dir}/${name}`,
    hostname: name,
    userspace: true,
    listenPort: port,
    dnsPort: 0,
    logger: nullLogger,
  };
}

/** A leader named `lead` on a free loopback port, its state in `dir`. */
function startLeader(dir: string): Promise<MeshAgent> {
  const lp = freePort();
  return MeshAgent.start({
    ...base(dir, "lead", lp),
    role: "leader",
    advertise: [`127.0.0.1:${lp}`],
  });
}

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weft-mesh-agent-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("mesh agent: a leader and a node compose into one mesh, and the node restarts alone", async () => {
  await withDir(async (dir) => {
    const leader = await startLeader(dir);
    let node: MeshAgent | null = null;
    try {
      assert.equal(leader.role, "leader");
      assert.equal(leader.self?.name, "lead");
      const { token } = await leader.createToken({ ttlMs: 60_000 });
      const seen: number[] = [];
      const stop = leader.onMembership((v) => seen.push(v.members.length));
      const np = freePort();
      node = await MeshAgent.start({ ...base(dir, "n1", np), token });
      assert.equal(node.role, "node");
      assert.equal(node.leader, null, "a node holds no leader state");
      // The parts in start order (compose.ts); the leader's own parts only on the leader.
      const shared = ["channel", "peers", "policy", "pq", "accepted routes", "segments"];
      const following = [
        "services",
        "paths",
        "relay members",
        "relay service",
        "routes",
        "activity",
        "leases",
      ];
      assert.deepEqual(leader.partNames, [...shared, "joins", ...following, "leader", "links"]);
      assert.deepEqual(
        node.partNames,
        [...shared, ...following.filter((p) => p !== "relay service"), "sync", "links"],
        "a node that does not relay has no relay service; with DNS off, no dns",
      );
      assert.ok(leader.isLeader() && leader.leader.view().members.length >= 1);
      const address = node.self?.address;
      assert.ok(address, "the node knows its own record");
      assert.ok(
        await eventually(() => Promise.resolve(leader.view().members.length === 2), HANG_GUARD_MS),
        "the leader lists the node",
      );
      assert.ok(seen.includes(2), "membership subscribers hear of the join");
      // The run id the join carried is in the record, and the node's hellos say the same.
      const rec = () => leader.view().members.find((m) => m.name === "n1");
      const run = rec()?.run;
      assert.equal(runIdOf(run), run);
      // The node reports its link to the leader, which has both sides' views of it.
      assert.ok(
        await eventually(() => {
          const link = leader.meshStatus()?.links[0];
          return Promise.resolve(link !== undefined && link.aView !== null && link.bView !== null);
        }, HANG_GUARD_MS),
        `the leader's mesh view: ${JSON.stringify(leader.meshStatus())}`,
      );
      assert.deepEqual(leader.meshStatus()!.members.map((m) => [m.name, m.leader]), [
        ["lead", true],
        ["n1", false],
      ]);
      assert.equal(node.meshStatus(), null, "only the leader has the mesh view");
      // What the leader dropped of the reports is in its /metrics (nothing, here).
      assert.match(
        leader.agent.metrics.render(),
        /^weft_link_report_drops_total\{reason="bad-peer"\} 0$/m,
      );
      stop();
      // Services set on the node reach the leader's record of it.
      await node.setServices([{ name: "web", port: 8080, protocol: "tcp" }]);
      assert.ok(
        await eventually(
          () =>
            Promise.resolve(
              leader.view().members.find((m) => m.name === "n1")?.services[0]?.name === "web",
            ),
          HANG_GUARD_MS,
        ),
        "the leader has the node's service",
      );
      assert.equal(rec()?.run, run, "the hellos carry the join's run id");
      // Leader-only operations refuse on a node.
      await assert.rejects(() => node!.createToken(), LeaderError);
      await assert.rejects(() => node!.removeNode("lead"), LeaderError);
      await node.close();
      // Restarted from its state directory alone: same address, no token.
      node = await MeshAgent.start(base(dir, "n1", np));
      assert.equal(node.self?.address, address);
      assert.ok(
        await eventually(
          () => Promise.resolve(rec()?.run !== undefined && rec()?.run !== run),
          HANG_GUARD_MS,
        ),
        "a restart is a new run",
      );
    } finally {
      await node?.close();
      await leader.close();
    }
  });
});

Deno.test("mesh agent: labels a node may not give itself are refused before anything is created", async () => {
  await withDir(async (dir) => {
    await assert.rejects(
      () =>
        MeshAgent.start({
          ...base(dir, "n1", freePort()),
          token: "weft1_unused",
          labels: { role: "db" },
        }),
      (e) => e instanceof JoinError && /cannot give itself labels/.test(e.message),
    );
    await assert.rejects(() => Deno.stat(`${dir}/n1`), Deno.errors.NotFound);
  });
});

Deno.test("mesh agent: close() twice is harmless", async () => {
  await withDir(async (dir) => {
    const leader = await startLeader(dir);
    await leader.close();
    await leader.close();
  });
});

Deno.test("mesh agent: a removed node is told and says so; restarted, it refuses, or joins again with a new token", async () => {
  await withDir(async (dir) => {
    const leader = await startLeader(dir);
    let node: MeshAgent | null = null;
    try {
      const { token } = await leader.createToken({ ttlMs: 60_000 });
      const np = freePort();
      const lines: string[] = [];
      const logger = createLogger({ format: "json", sink: (l) => lines.push(l) });
      node = await MeshAgent.start({ ...base(dir, "n1", np), token, logger });
      const n1 = node;
      // Until the node holds the leader's view with itself in it (its hellos were heard).
      assert.ok(
        await eventually(
          () => Promise.resolve(n1.view().version > 0 && leader.view().members.length === 2),
          HANG_GUARD_MS,
        ),
      );
      await leader.removeNode("n1");
      assert.ok(
        await eventually(
          () =>
            Promise.resolve(lines.some((l) => l.includes("removed from the mesh by the leader"))),
          HANG_GUARD_MS,
        ),
        lines.join("\n"),
      );
      await node.close();
      node = null;
      // Restarted without a token: refused, saying what to do.
      await assert.rejects(
        () => MeshAgent.start(base(dir, "n1", np)),
        (e: unknown) =>
          e instanceof JoinError &&
          /this node was removed from the mesh .*new token/.test(e.message),
      );
      // With a new token it joins again (the token that admitted it would be refused).
      const again = await leader.createToken({ ttlMs: 60_000 });
      node = await MeshAgent.start({ ...base(dir, "n1", np), token: again.token });
      assert.ok(node.self?.address);
      assert.ok(
        await eventually(() => Promise.resolve(leader.view().members.length === 2), HANG_GUARD_MS),
      );
    } finally {
      await node?.close();
      await leader.close();
    }
  });
});

Deno.test("mesh agent: a node's close says bye (offline at the leader, services withdrawn, back at its restart); a removal is heard once", async () => {
  await withDir(async (dir) => {
    const leader = await startLeader(dir);
    let node: MeshAgent | null = null;
    try {
      const { token } = await leader.createToken({ ttlMs: 60_000 });
      const np = freePort();
      const rec = () => leader.view().members.find((m) => m.name === "n1");
      node = await MeshAgent.start({
        ...base(dir, "n1", np),
        token,
        services: [{ name: "web", port: 8080, protocol: "tcp" }],
      });
      assert.ok(
        await eventually(() => Promise.resolve(rec()?.services.length === 1), HANG_GUARD_MS),
        "the leader has the node's service",
      );
      await node.close();
      // The close resolved after the leader's answer: the record says so already.
      assert.equal(rec()?.offline, true);
      assert.deepEqual(rec()?.services, []);
      node = await MeshAgent.start({
        ...base(dir, "n1", np),
        services: [{ name: "web", port: 8080, protocol: "tcp" }],
      });
      assert.ok(
        await eventually(
          () => Promise.resolve(rec()?.offline === undefined && rec()?.services.length === 1),
          HANG_GUARD_MS,
        ),
        "online again, with its service",
      );
      const heard: string[] = [];
      node.onRemoved(() => heard.push(node!.name));
      assert.equal(node.removed, false);
      await leader.removeNode("n1");
      assert.ok(await eventually(() => Promise.resolve(heard.length > 0), HANG_GUARD_MS));
      assert.deepEqual(heard, ["n1"]);
      assert.equal(node.removed, true);
      assert.equal(leader.removed, false, "nothing to hear on the leader");
    } finally {
      await node?.close();
      await leader.close();
    }
  });
});

Deno.test("mesh agent: carrying routes or using an exit node needs TUN mode, said at the start", async () => {
  await withDir(async (dir) => {
    const lp = freePort();
    const leader = { ...base(dir, "lead", lp), role: "leader" as const };
    await assert.rejects(
      MeshAgent.start({ ...leader, exitNode: "gw" }),
      /exit node needs TUN mode/,
    );
    await assert.rejects(
      MeshAgent.start({ ...leader, advertiseRoutes: ["198.51.100.0/24"] }),
      /carrying routes for the mesh needs TUN mode/,
    );
  });
});
