/**
 * `weft node set` and route approvals through the real CLI (userspace, loopback): setting a
 * node's labels or relaying keeps the routes approved for it, so `weft route list` still shows
 * them and `weft route revoke` still withdraws them (issue 44, finding 8: it replaced every
 * grant, and the revocation was refused while the node kept carrying the prefix).
 */
import assert from "node:assert/strict";
import { freePort, type Running, startMeshAgent, weft } from "../fixtures/procs.ts";

const SITE = "198.51.100.0/24";

Deno.test({
  name: "weft node set keeps a node's route approvals; weft route revoke works after it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-nodeset-routes-" });
    const agents: Running[] = [];
    try {
      const port = freePort();
      const status = `127.0.0.1:${freePort("tcp")}`;
      agents.push(
        await startMeshAgent("lead", [
          "--leader",
          "--userspace",
          "--state-dir",
          `${dir}/lead`,
          "--listen-port",
          String(port),
          "--advertise",
          `127.0.0.1:${port}`,
          "--hostname",
          "lead",
          "--dns-port",
          "0",
        ], status),
      );
      const ctl = async (...args: string[]) => {
        const r = await weft([...args, "--state-dir", `${dir}/lead`]);
        return { ...r, what: `weft ${args.join(" ")} (exit ${r.code}): ${r.stderr}` };
      };
      const created = await ctl("token", "create");
      assert.equal(created.code, 0, created.what);
      agents.push(
        await startMeshAgent("n1", [
          "--join",
          created.stdout.trim(),
          "--userspace",
          "--state-dir",
          `${dir}/n1`,
          "--listen-port",
          String(freePort()),
          "--hostname",
          "n1",
          "--dns-port",
          "0",
        ], `127.0.0.1:${freePort("tcp")}`),
      );
      const approved = async (): Promise<string[] | undefined> => {
        const r = await ctl("route", "list", "--json");
        assert.equal(r.code, 0, r.what);
        return JSON.parse(r.stdout).find((x: { name: string }) => x.name === "n1")?.approved;
      };
      // A userspace node advertises no routes: an approval of nothing is refused, saying so...
      const idle = await ctl("route", "approve", "n1", SITE);
      assert.notEqual(idle.code, 0, idle.what);
      assert.match(idle.what, /n1 advertises no routes: .* would approve none of them/);
      assert.deepEqual(await approved(), undefined);
      // ...unless the operator approves it ahead of the advertisement.
      const approve = await ctl("route", "approve", "--pre-approve", "n1", SITE);
      assert.equal(approve.code, 0, approve.what);
      assert.deepEqual(await approved(), [SITE]);

      // Labels and relaying granted and withdrawn: the approval stays.
      const changes = [["--label", "site=x"], ["--relay"], ["--no-relay"], [
        "--remove-label",
        "site",
      ]];
      for (const args of changes) {
        const set = await ctl("node", "set", "n1", ...args);
        assert.equal(set.code, 0, set.what);
        assert.deepEqual(await approved(), [SITE], `after node set ${args.join(" ")}`);
      }
      const node = JSON.parse((await ctl("node", "list", "--json")).stdout).nodes
        .find((n: { name: string }) => n.name === "n1");
      assert.deepEqual(node.grants, { routes: [SITE] });

      // The approval is there to revoke.
      const revoke = await ctl("route", "revoke", "n1", SITE);
      assert.equal(revoke.code, 0, revoke.what);
      assert.equal(await approved(), undefined, "n1 has no routes left to list");
    } finally {
      for (const a of agents.reverse()) await a.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
