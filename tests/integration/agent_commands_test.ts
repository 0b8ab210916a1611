/**
 * The commands that talk to a running agent, through the real CLI: each takes `--state-dir` and
 * `--status-listen`, and finds the agent the same way (the address its state directory records,
 * unless `--status-listen` says otherwise).
 */
import assert from "node:assert/strict";
import { freePort, startMeshAgent, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { MAX_CALL_BODY_BYTES } from "../../lib/control/server.ts";
import { DirLock } from "../../lib/config/dir_lock.ts";

Deno.test({
  name: "agent commands: --state-dir alone finds the agent; --status-listen wins; both on each",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-agent-cmds-" });
    const state = `${dir}/lead`;
    const port = freePort();
    // Not the default port: only the state directory can lead the commands there.
    const status = `127.0.0.1:${freePort("tcp")}`;
    // A run with no command word: the root's own action still starts the agent.
    const lead = await startMeshAgent("lead", [
      "--leader",
      "--userspace",
      "--state-dir",
      state,
      "--listen-port",
      String(port),
      "--advertise",
      `127.0.0.1:${port}`,
      "--hostname",
      "lead",
      "--dns-port",
      "0",
    ], status);
    try {
      assert.equal((await Deno.readTextFile(`${state}/status.address`)).trim(), status);
      const run = async (args: string[], code = 0) => {
        const r = await weft([...args, "--state-dir", state]);
        const what = `weft ${args.join(" ")}: ${r.stderr}`;
        assert.doesNotMatch(r.stderr, /unknown option|cannot reach|control token/, what);
        assert.equal(r.code, code, what);
        return r;
      };
      const st = JSON.parse((await run(["status", "--json"])).stdout);
      assert.equal(st.node.name, "lead");
      assert.match((await run(["status"])).stdout, /lead/);
      const token = (await run(["token", "create", "--uses", "1"])).stdout.trim();
      assert.ok(token.length > 20);
      const tokens = JSON.parse((await run(["token", "list", "--json"])).stdout);
      assert.equal(tokens.length, 1);
      assert.equal(tokens[0].expired, false);
      assert.match((await run(["token", "revoke", tokens[0].id])).stdout, /revoked/);
      // A token past its expiry is marked so, in the table and in JSON.
      await run(["token", "create", "--ttl", "1s"]);
      type Listed = { id: string; expiresAt: number; expired: boolean };
      let listed: Listed[] = [];
      assert.ok(
        await eventually(async () => {
          listed = JSON.parse((await run(["token", "list", "--json"])).stdout);
          return listed.some((t) => t.expired);
        }, HANG_GUARD_MS),
      );
      const gone = listed.find((t) => t.expired)!;
      assert.ok(gone.expiresAt <= Date.now());
      assert.deepEqual(listed.filter((t) => t.expired).map((t) => t.id), [gone.id]);
      const table = (await run(["token", "list"])).stdout.split("\n");
      assert.match(table.find((l) => l.startsWith(gone.id))!, /\(expired\)/);
      assert.doesNotMatch(table.find((l) => l.startsWith(tokens[0].id))!, /expired/);
      assert.match((await run(["token", "revoke", "nosuch"], 2)).stderr, /nosuch|token/);
      const nodes = JSON.parse((await run(["node", "list", "--json"])).stdout);
      assert.deepEqual(nodes.nodes.map((n: { name: string }) => n.name), ["lead"]);
      assert.match((await run(["node", "set", "ghost", "--relay"], 2)).stderr, /ghost/);
      assert.match((await run(["node", "remove", "ghost"], 2)).stderr, /ghost/);
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        "defaults: { inbound: allow, outbound: allow }\npolicies: []\n",
      );
      assert.match((await run(["policy", "apply", `${dir}/policy.yaml`])).stdout, /version 1/);
      assert.match((await run(["policy", "show"])).stdout, /version 1/);
      await run(["policy", "test", "--from", "lead", "--to", "lead", "--port", "80", "--json"]);
      assert.deepEqual(JSON.parse((await run(["service", "list", "--json"])).stdout), []);
      const unknown = await run(["service", "leader", "nosuch"], 1);
      assert.match(unknown.stderr, /^weft: no such service: nosuch/m);
      assert.doesNotMatch(unknown.stderr, /no leader/);
      assert.match((await run(["publish", "news/x", "hi"])).stdout, /delivered to 0/);
      await run(["call", "nosuch/x"], 1);
      // Params at the request limit: the CLI and the agent draw it at the same byte of the request
      // (params with the JSON around them), and say so in the same words.
      const envelope = JSON.stringify({ path: "nosuch/x", params: "" }).length;
      const params = (n: number) => JSON.stringify("p".repeat(n - envelope));
      const at = await weft(
        ["call", "nosuch/x", "-", "--state-dir", state],
        params(MAX_CALL_BODY_BYTES),
      );
      assert.equal(at.code, 1, at.stderr);
      assert.doesNotMatch(at.stderr, /too-large/, "a request of the limit's size is taken");
      const over = await weft(
        ["call", "nosuch/x", "-", "--state-dir", state],
        params(MAX_CALL_BODY_BYTES + 1),
      );
      const agentSays = await fetch(`http://${status}/v1/services/call`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${(await Deno.readTextFile(`${state}/control.token`)).trim()}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({
          path: "nosuch/x",
          params: JSON.parse(params(MAX_CALL_BODY_BYTES + 1)),
        }),
      });
      assert.equal(agentSays.status, 413);
      const { error } = await agentSays.json();
      assert.equal(over.code, 1, over.stderr);
      assert.equal(over.stderr.trim(), `weft: too-large: ${error}`);
      await run(["send", st.node.addresses[0].split("/")[0], "7000", "x"]);
      // Commands that wait for traffic: their help lists both options.
      for (const cmd of [["recv"], ["subscribe"], ["ping"]]) {
        const h = await weft([...cmd, "--help"]);
        assert.match(h.stdout, /--status-listen <host:port>/, cmd.join(" "));
        assert.match(h.stdout, /--state-dir <dir>/, cmd.join(" "));
      }
      // --status-listen, given, is where the command goes.
      const elsewhere = await weft([
        "status",
        "--state-dir",
        state,
        "--status-listen",
        "127.0.0.1:1",
      ]);
      assert.equal(elsewhere.code, 1);
      assert.match(elsewhere.stderr, /cannot reach the agent at http:\/\/127\.0\.0\.1:1/);
      const direct = await weft(["token", "list", "--status-listen", status, "--state-dir", state]);
      assert.equal(direct.code, 0, direct.stderr);
    } finally {
      await lead.stop();
    }
    try {
      // An agent that stopped leaves no address behind to lead a command astray.
      await assert.rejects(Deno.stat(`${state}/status.address`), Deno.errors.NotFound);
      // Nor does one killed outright: its address is believed only while the lock is held.
      await Deno.writeTextFile(`${state}/status.address`, "127.0.0.1:1\n");
      const stale = await weft(["status", "--state-dir", state]);
      assert.doesNotMatch(stale.stderr, /127\.0\.0\.1:1\b/, "the stale address is not tried");
      // While the directory is held, the address is where the command goes.
      const held = await DirLock.acquire(state);
      try {
        const live = await weft(["status", "--state-dir", state]);
        assert.match(live.stderr, /cannot reach the agent at http:\/\/127\.0\.0\.1:1\b/);
      } finally {
        held.release();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
