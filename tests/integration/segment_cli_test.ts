/**
 * Layer 2 segments through the real CLI (userspace, loopback): a leader and a node joined with a
 * token labelled site=a; `weft segment create` puts a segment in the policy, `weft segment list`
 * shows it with the node as its member, `weft policy show` has it, the node hears it with the
 * policy, a taken VNI and a create on a node are refused with a clear message (exit 2), and
 * `weft segment delete` removes it. Userspace mode makes no bridges: the control surface only.
 */
import assert from "node:assert/strict";
import { ControlClient } from "../../lib/control/client.ts";
import { freePort, type Running, startMeshAgent, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";

type Listed = {
  name: string;
  vni: number;
  mtu?: number;
  select: unknown;
  members: { name: string; address: string; online: boolean }[];
}[];

Deno.test({
  name: "segment create / list / delete through the CLI; the node hears it; refusals say why",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-segment-cli-" });
    const port = freePort();
    const leadStatus = `127.0.0.1:${freePort("tcp")}`;
    const nodeStatus = `127.0.0.1:${freePort("tcp")}`;
    const running: Running[] = [];
    const on = (who: "lead" | "n1", ...args: string[]) =>
      weft([...args, "--state-dir", `${dir}/${who}`]);
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
      const made = await on("lead", "token", "create", "--label", "site=a");
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

      const created = await on(
        "lead",
        "segment",
        "create",
        "blue",
        "--vni",
        "100",
        "--select",
        "site=a",
      );
      assert.equal(created.code, 0, created.stderr);
      assert.equal(
        created.stdout.trim(),
        "segment blue (vni 100) created: policy version 1 in force",
      );

      // The leader lists it with the node as its member (once the node's record is there).
      let listed: Listed = [];
      assert.ok(
        await eventually(async () => {
          const r = await on("lead", "segment", "list", "--json");
          assert.equal(r.code, 0, r.stderr);
          listed = JSON.parse(r.stdout);
          return listed[0]?.members.some((m) => m.name === "n1") === true;
        }, HANG_GUARD_MS),
        `blue with n1 in it: ${JSON.stringify(listed)}`,
      );
      assert.equal(listed.length, 1);
      assert.equal(listed[0].name, "blue");
      assert.equal(listed[0].vni, 100);
      assert.equal(listed[0].mtu, undefined);
      assert.deepEqual(listed[0].select, { labels: { site: "a" } });
      // The leader has no site label: n1 alone.
      assert.deepEqual(listed[0].members.map((m) => [m.name, m.online]), [["n1", true]]);
      const table = await on("lead", "segment", "list");
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^NAME\s+VNI\s+MTU\s+MEMBERS$/m);
      assert.match(table.stdout, /^blue\s+100\s+auto\s+n1$/m);

      const shown = await on("lead", "policy", "show");
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /^# version 1$/m);
      assert.match(shown.stdout, /^segments:\n {2}- name: blue\n {4}vni: 100\n/m);

      // The node hears it with the policy: its own GET /v1/segments.
      const nodeClient = new ControlClient(
        nodeStatus,
        (await Deno.readTextFile(`${dir}/n1/control.token`)).trim(),
      );
      let onNode = await nodeClient.segments();
      assert.ok(
        await eventually(async () => {
          onNode = await nodeClient.segments();
          return onNode.version === 1 && onNode.segments[0]?.members.some((m) => m.name === "n1");
        }, HANG_GUARD_MS),
        `the node's segments: ${JSON.stringify(onNode)}`,
      );
      assert.equal(onNode.segments[0].name, "blue");
      assert.equal(onNode.segments[0].vni, 100);

      // A VNI taken: refused, saying by which segment; the policy stays.
      const twin = await on("lead", "segment", "create", "green", "--vni", "100", "--select", "*");
      assert.equal(twin.code, 2, twin.stdout);
      assert.match(twin.stderr, /^weft: agent answered 409: vni 100 is already segment "blue"'s/);
      const again = await on("lead", "segment", "create", "blue", "--vni", "101", "--select", "*");
      assert.equal(again.code, 2);
      assert.match(again.stderr, /segment "blue" already exists \(vni 100\)/);
      // What the policy refuses, in its words.
      const bad = await on("lead", "segment", "create", "red", "--vni", "0", "--select", "*");
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /400: segment rejected: segments\[1\]\.vni: bad vni/);
      const noSelect = await on("lead", "segment", "create", "red", "--vni", "5");
      assert.equal(noSelect.code, 2);
      assert.match(noSelect.stderr, /say which members are in the segment/);
      // Changes are the leader's.
      const onFollower = await on("n1", "segment", "create", "red", "--vni", "5", "--select", "*");
      assert.equal(onFollower.code, 2);
      assert.match(onFollower.stderr, /409: this node is not the leader/);
      assert.equal((await nodeClient.segments()).version, 1, "nothing changed");

      const deleted = await on("lead", "segment", "delete", "blue");
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal(deleted.stdout.trim(), "segment blue deleted: policy version 2 in force");
      assert.equal((await on("lead", "segment", "list")).stdout.trim(), "no segments");
      assert.ok(
        await eventually(async () => {
          const s = await nodeClient.segments();
          return s.version === 2 && s.segments.length === 0;
        }, HANG_GUARD_MS),
        "the node hears it gone",
      );
      const gone = await on("lead", "segment", "delete", "blue");
      assert.equal(gone.code, 2);
      assert.match(gone.stderr, /404: no segment "blue" \(the policy has none\)/);
    } finally {
      for (const r of running.reverse()) await r.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
