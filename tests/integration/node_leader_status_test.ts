/**
 * The leader a node syncs with, through the real CLI (userspace, loopback): `weft status` on a
 * joined node prints `leader: <name> (<address>)`, and `--json` has `node.leader` and
 * `node.leaders` (with whether each answers); a leader has neither.
 */
import assert from "node:assert/strict";
import { freePort, type Running, startMeshAgent, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";

Deno.test({
  name: "node status: the leader in use and the leaders known, in the table and in JSON",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-node-leader-" });
    const port = freePort();
    const leadStatus = `127.0.0.1:${freePort("tcp")}`;
    const nodeStatus = `127.0.0.1:${freePort("tcp")}`;
    const running: Running[] = [];
    try {
      running.push(
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
        ], leadStatus),
      );
      const made = await weft(["token", "create", "--state-dir", `${dir}/lead`]);
      assert.equal(made.code, 0, made.stderr);
      running.push(
        await startMeshAgent("n1", [
          "--join",
          made.stdout.trim(),
          "--userspace",
          "--state-dir",
          `${dir}/n1`,
          "--listen-port",
          "0",
          "--hostname",
          "n1",
          "--dns-port",
          "0",
        ], nodeStatus),
      );
      const lead = JSON.parse(
        (await weft(["status", "--json", "--status-listen", leadStatus])).stdout,
      );
      const leadAddress = lead.node.addresses[0].split("/")[0];
      assert.equal(lead.node.leader, undefined, "a leader syncs with no leader");
      type Doc = {
        node: {
          leader?: { name: string; address: string; since: string };
          leaders?: { name: string; inUse: boolean; answers: boolean | null }[];
        };
      };
      let doc: Doc | null = null;
      assert.ok(
        await eventually(async () => {
          const r = await weft(["status", "--json", "--status-listen", nodeStatus]);
          doc = JSON.parse(r.stdout) as Doc;
          return doc.node.leaders?.[0]?.answers === true;
        }, HANG_GUARD_MS),
        `the node hears its leader answer: ${JSON.stringify(doc)}`,
      );
      const node = doc!.node;
      assert.equal(node.leader?.name, "lead");
      assert.equal(node.leader?.address, leadAddress);
      assert.ok(Date.parse(node.leader!.since) <= Date.now());
      assert.deepEqual(node.leaders!.map((l) => [l.name, l.inUse]), [["lead", true]]);
      const table = await weft(["status", "--status-listen", nodeStatus]);
      assert.equal(table.code, 0, table.stderr);
      assert.match(
        table.stdout,
        new RegExp(`^leader: lead \\(${leadAddress.replaceAll(".", "\\.")}\\)`, "m"),
      );
      assert.doesNotMatch(
        (await weft(["status", "--status-listen", leadStatus])).stdout,
        /^leader:/m,
      );
    } finally {
      for (const r of running.reverse()) await r.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
