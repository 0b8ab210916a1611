/**
 * Network policies through the real CLI on a three-node mesh (userspace, loopback): apply a
 * policy at the leader, it reaches every node and is enforced; `weft policy test` names the
 * deciding rule; drops are counted by rule; a broken file is rejected whole and the old policy
 * stays in force.
 */
import assert from "node:assert/strict";
import { runDemo } from "../../lib/demo/demo.ts";
import { nullLogger } from "../../lib/log/logger.ts";
import { ControlClient } from "../../lib/control/client.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { freeDemoBase, weft } from "../fixtures/procs.ts";

Deno.test({
  name: "policy apply / test / show through the CLI; broken files rejected; drops counted",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const demo = await runDemo({
      basePort: freeDemoBase(),
      logger: nullLogger,
      print: () => {},
    });
    const dir = await Deno.makeTempDir();
    try {
      const [lead, n1] = demo.statusAddresses;
      const sd = (name: string) => `${demo.dir}/${name}`;
      const client = async (addr: string, name: string) =>
        new ControlClient(addr, (await Deno.readTextFile(`${sd(name)}/control.token`)).trim());
      const cl = await client(lead, "leader");
      const c1 = await client(n1, "node-1");
      const nodes = (await cl.nodes()).nodes;
      const addr = Object.fromEntries(nodes.map((m) => [m.name, m.address]));
      // The first session is set-up: waited for (a loaded machine may need more than a few seconds).
      const reaches = (c: ControlClient, to: string) =>
        eventually(
          async () => (await c.ping(to, { count: 1, timeoutMs: 3000 })).rtts[0] !== null,
          HANG_GUARD_MS,
        );
      assert.ok(await reaches(cl, addr["node-2"]));

      await Deno.writeTextFile(
        `${dir}/p1.yaml`,
        [
          "defaults: { inbound: allow, outbound: allow }",
          "policies:",
          "  - name: no-ping-node2",
          "    action: deny",
          "    to: { names: [node-2] }",
          "    proto: icmp",
          "",
        ].join("\n"),
      );
      const apply = await weft([
        "policy",
        "apply",
        `${dir}/p1.yaml`,
        "--status-listen",
        lead,
        "--state-dir",
        sd("leader"),
      ]);
      assert.equal(apply.code, 0, apply.stderr);
      assert.match(apply.stdout, /policy version 1 in force/);
      // It reaches the other nodes with the membership.
      assert.ok(
        await eventually(async () => (await c1.policy()).version === 1, HANG_GUARD_MS, 100),
      );

      assert.deepEqual((await cl.ping(addr["node-2"], { count: 1, timeoutMs: 800 })).rtts, [null]);
      assert.deepEqual((await c1.ping(addr["node-2"], { count: 1, timeoutMs: 800 })).rtts, [null]);
      assert.ok(await reaches(cl, addr["node-1"]), "others still pass");

      const t = await weft([
        "policy",
        "test",
        "--from",
        "leader",
        "--to",
        "node-2",
        "--proto",
        "icmp",
        "--status-listen",
        lead,
        "--state-dir",
        sd("leader"),
        "--json",
      ]);
      const ex = JSON.parse(t.stdout);
      // The exit code is the answer's verdict: 1 denied, 0 allowed (as a reply, see below).
      assert.equal(t.code, ex.allowed ? 0 : 1, t.stderr);
      // (The demo's earlier pings left tracked flows, so the answer may add "as a reply"; the
      // rule that decides a new flow is what counts here.)
      assert.equal(ex.rule.name, "no-ping-node2");
      assert.equal(ex.rule.action, "deny");
      assert.match(ex.summary, /denied by rule "no-ping-node2"/);
      const t2 = JSON.parse(
        (await weft([
          "policy",
          "test",
          "--from",
          "leader",
          "--to",
          "node-1",
          "--proto",
          "tcp",
          "--port",
          "443",
          "--status-listen",
          lead,
          "--state-dir",
          sd("leader"),
          "--json",
        ])).stdout,
      );
      assert.equal(t2.allowed, true);
      assert.equal(t2.decidedBy, "default");

      const st = await cl.status();
      assert.ok(
        (st.node.policy?.droppedByRule["no-ping-node2"] ?? 0) >= 1,
        JSON.stringify(st.node.policy),
      );
      const metrics = await (await fetch(`http://${lead}/metrics`)).text();
      assert.match(metrics, /weft_policy_drops_total\{rule="no-ping-node2"\} [1-9]/);
      const table = await weft(["status", "--status-listen", lead]);
      assert.match(table.stdout, /policy\s+v1, 1 rules, dropped no-ping-node2=\d+/);

      // A broken file: rejected whole with the line, the old policy stays.
      await Deno.writeTextFile(
        `${dir}/p2.yaml`,
        "policies:\n  - name: ok\n    action: allow\n  - name: bad\n    action: maybe\n",
      );
      const bad = await weft([
        "policy",
        "apply",
        `${dir}/p2.yaml`,
        "--status-listen",
        lead,
        "--state-dir",
        sd("leader"),
      ]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /line 5/);
      assert.match(bad.stderr, /action/);
      // Sent to the leader anyway (bypassing the CLI's check): the leader refuses it too.
      await assert.rejects(
        cl.applyPolicy("policies: [{ name: x, action: nope }]"),
        /400.*policy rejected/,
      );
      assert.equal((await cl.policy()).version, 1);
      assert.deepEqual((await cl.ping(addr["node-2"], { count: 1, timeoutMs: 800 })).rtts, [null]);
    } finally {
      await demo.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
