/**
 * A policy is checked whole where the leader takes it, through the real CLI on a three-node mesh
 * (userspace, loopback): a rule naming a member that does not exist (a typo) is refused naming it,
 * and the policy in force stays; a name listed under `future:` is accepted; every problem of a
 * file is reported at once; the file's `tests:` are run, a failing one refusing the policy;
 * `weft policy test` exits 1 on a denied flow. A leader started with a configuration whose policy
 * names no member stops with the file's line.
 */
import assert from "node:assert/strict";
import { runDemo } from "../../lib/demo/demo.ts";
import { nullLogger } from "../../lib/log/logger.ts";
import { ControlClient } from "../../lib/control/client.ts";
import { freeDemoBase, weft } from "../fixtures/procs.ts";
import { loopbackArgs, spawnWeft, untilServing } from "../fixtures/weft_agent.ts";

const proc = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "policy apply: names no member has refused, every problem at once, the file's tests run",
  ...proc,
  fn: async (t) => {
    const demo = await runDemo({ basePort: freeDemoBase(), logger: nullLogger, print: () => {} });
    const dir = await Deno.makeTempDir({ prefix: "weft-policy-checks-" });
    try {
      const lead = demo.statusAddresses[0];
      const leaderDir = `${demo.dir}/leader`;
      const at = ["--status-listen", lead, "--state-dir", leaderDir];
      const cl = new ControlClient(
        lead,
        (await Deno.readTextFile(`${leaderDir}/control.token`)).trim(),
      );
      const write = async (name: string, lines: string[]) => {
        await Deno.writeTextFile(`${dir}/${name}`, lines.join("\n") + "\n");
        return `${dir}/${name}`;
      };
      const apply = (file: string) => weft(["policy", "apply", file, ...at]);
      const test = (...args: string[]) => weft(["policy", "test", ...args, ...at]);
      const ssh = [
        "defaults: { inbound: deny }",
        "policies:",
        "  - name: ssh",
        "    action: allow",
        "    from: { names: [node-1] }",
        "    to: { names: [node-2] }",
        "    proto: tcp",
        "    ports: [22]",
      ];
      // Each step starts from this policy in force (whatever the step before it did).
      const good = await write("good.yaml", ssh);
      const reset = async () => {
        const r = await apply(good);
        assert.equal(r.code, 0, r.stderr);
        const p = await cl.policy();
        assert.match(r.stdout, new RegExp(`policy version ${p.version} in force`));
        return p;
      };

      await t.step("the issue's typo is refused naming it; the policy in force stays", async () => {
        const before = await reset();
        // Its only allow rule names node-9, a typo for node-2, with inbound deny.
        const typo = await write("typo.yaml", ssh.map((l) => l.replace("node-2", "node-9")));
        const refused = await apply(typo);
        assert.equal(refused.code, 2, refused.stdout + refused.stderr);
        assert.match(
          refused.stderr,
          /typo\.yaml: line 6: policies\[0\]\.to\.names\[0\]: no member node-9 \(did you mean node-\d\?\)/,
        );
        assert.doesNotMatch(refused.stdout, /in force/);
        const after = await cl.policy();
        assert.deepEqual([after.version, after.text], [before.version, before.text]);
      });

      await t.step("every problem of a file is reported, each with its line", async () => {
        const before = await reset();
        // A bad action, a bad protocol, a name no member has.
        const three = await write("three.yaml", [
          "policies:",
          "  - name: a",
          "    action: maybe",
          "  - name: b",
          "    action: allow",
          "    proto: sctp",
          "    to: { names: [node-7] }",
        ]);
        const all = await apply(three);
        assert.equal(all.code, 2, all.stderr);
        assert.match(all.stderr, /three\.yaml: 3 problems:/);
        assert.match(all.stderr, /line 3: policies\[0\]\.action: bad action/);
        assert.match(all.stderr, /line 6: policies\[1\]\.proto: bad proto/);
        assert.match(all.stderr, /line 7: policies\[1\]\.to\.names\[0\]: no member node-7/);
        assert.equal((await cl.policy()).version, before.version);
      });

      await t.step("a member yet to join goes under future:; unmatched labels warn", async () => {
        const before = await reset();
        const later = await write("later.yaml", [
          "defaults: { inbound: deny }",
          "future: [node-9]",
          "policies:",
          "  - name: ssh",
          "    action: allow",
          "    from: { names: [node-1] }",
          "    to: [{ names: [node-2, node-9] }, role=db]",
          "    proto: tcp",
          "    ports: [22]",
        ]);
        const accepted = await apply(later);
        assert.equal(accepted.code, 0, accepted.stderr);
        assert.equal((await cl.policy()).version, before.version + 1);
        assert.match(
          accepted.stderr,
          /warning: .*later\.yaml: line 7: .*labels "role=db" match no member/,
        );
      });

      await t.step("weft policy test: 0 allowed, 1 denied, 2 for no such member", async () => {
        await reset();
        const allowed = await test("--from", "node-1", "--to", "node-2", "--port", "22");
        assert.equal(allowed.code, 0, allowed.stderr);
        assert.match(allowed.stdout, /allowed by rule "ssh"/);
        const denied = await test("--from", "node-1", "--to", "node-2", "--port", "80");
        assert.equal(denied.code, 1, denied.stdout + denied.stderr);
        assert.match(denied.stdout, /denied by the defaults/);
        const json = await test("--from", "node-2", "--to", "node-1", "--port", "22", "--json");
        assert.equal(json.code, 1);
        assert.equal(JSON.parse(json.stdout).allowed, false);
        const unknown = await test("--from", "node-1", "--to", "node-9", "--port", "22");
        assert.equal(unknown.code, 2, unknown.stderr);
        assert.match(unknown.stderr, /node-9/);
      });

      await t.step(
        "the file's tests: a failing one refuses it, naming each; passing, applied",
        async () => {
          const before = await reset();
          const failing = await write("failing.yaml", [
            ...ssh,
            "tests:",
            "  - { from: node-1, to: node-2, port: 22, expect: allow }",
            "  - { from: node-2, to: node-1, port: 22, expect: allow }",
            "  - { from: node-1, to: node-2, proto: icmp, expect: allow }",
          ]);
          const failed = await apply(failing);
          assert.equal(failed.code, 2, failed.stdout + failed.stderr);
          assert.match(failed.stderr, /2 problems:/);
          assert.match(
            failed.stderr,
            /line 11: tests\[1\]: test fails: expects allow, but tcp\/22 node-2 -> node-1: no rule matches; denied/,
          );
          assert.match(failed.stderr, /line 12: tests\[2\]: test fails: expects allow, but icmp /);
          assert.equal((await cl.policy()).version, before.version);
          const passing = await write("passing.yaml", [
            ...ssh,
            "tests:",
            "  - { from: node-1, to: node-2, port: 22, expect: allow }",
            "  - { from: node-2, to: node-1, port: 22, expect: deny }",
            "  - { from: node-1, to: node-2, proto: icmp, expect: deny }",
          ]);
          const passed = await apply(passing);
          assert.equal(passed.code, 0, passed.stderr);
          const now = await cl.policy();
          assert.equal(now.version, before.version + 1);
          assert.match(now.text, /tests:/, "the tests stay with the policy");
        },
      );
    } finally {
      await demo.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a leader whose configured policy names no member stops at start, naming the line",
  ...proc,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-policy-start-" });
    try {
      const config = (future: string) =>
        [
          "policy:",
          "  defaults: { inbound: deny }",
          future,
          "  policies:",
          "    - name: ssh",
          "      action: allow",
          "      to: { names: [db1] }",
          "",
        ].join("\n");
      await Deno.writeTextFile(`${dir}/bad.yaml`, config(""));
      const args = ["--leader", ...loopbackArgs(`${dir}/state`, "lead")];
      const bad = spawnWeft([...args, "--config", `${dir}/bad.yaml`]);
      try {
        const started = await untilServing(bad).then(() => true, () => false);
        assert.equal(started, false, "it started with a policy that names no member");
        assert.equal((await bad.stop()).code, 2, bad.log());
        assert.match(
          bad.log(),
          /bad\.yaml, line 7: policy\.policies\[0\]\.to\.names\[0\]: no member db1/,
        );
      } finally {
        await bad.stop();
      }
      // Listed as a member yet to join, the leader starts with it.
      await Deno.writeTextFile(`${dir}/good.yaml`, config("  future: [db1]"));
      const agent = spawnWeft([...args, "--config", `${dir}/good.yaml`]);
      try {
        await untilServing(agent);
        const token = (await Deno.readTextFile(`${dir}/state/control.token`)).trim();
        const p = await new ControlClient(agent.status, token).policy();
        assert.equal(p.version, 1);
        assert.match(p.text, /future:/);
      } finally {
        await agent.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
