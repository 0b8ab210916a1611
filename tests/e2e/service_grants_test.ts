/**
 * Issue 24's proof of service grants with real `weft` processes (TUN mode), each node in its own
 * namespace. The leader makes a token that grants `echo` (`weft token create --service echo`)
 * and n1 joins with it; n2 joins with a plain token and offers `echo` too, with a backend of its
 * own (a member posing as the service). From n3, 20 calls are all answered by n1; `dig`
 * `echo.<zone>` and `leader.echo.<zone>` and `weft service leader echo` name n1 only; the
 * leader's /metrics counts the refused offer. Every bound asserted is a hang guard.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import {
  type LabProc,
  metricsOf,
  metricValue,
  nodeList,
  startMeshNode,
  waitUp,
  weftIn,
} from "../fixtures/mesh_lab.ts";
import { callsFrom, startEchoBackend } from "../fixtures/services_lab.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("dig", "curl"));

const OPTS = { cidr: "10.92.0.0/24", ifPrefix: "wg" };

Deno.test({
  name: "service grants: an ungranted member offering a granted name gets no call, no name",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const hosts = ["lead", "n1", "n2", "n3"];
    const lab = await Lab.create(hosts);
    const dir = await Deno.makeTempDir({ prefix: "weft-grants-" });
    const running = new Map<string, LabProc>();
    const weft = (host: string, ...args: string[]) => weftIn(lab, host, dir, ...args);
    try {
      const leader = startMeshNode(lab, { ...OPTS, dir }, "lead", [
        "--leader",
        "--advertise",
        "192.0.2.1:51820",
      ]);
      running.set("lead", leader);
      await waitUp(lab, "lead", dir, leader);
      const create = async (...extra: string[]) => {
        const r = await weft("lead", "token", "create", "--uses", "2", ...extra);
        assert.equal(r.code, 0, r.stderr);
        return r.stdout.trim();
      };
      const granted = await create("--service", "echo");
      const plain = await create();
      const list = await weft("lead", "token", "list");
      assert.match(list.stdout, /service=echo/, list.stdout);
      for (const h of ["n1", "n2"]) await startEchoBackend(lab, h, 8080);
      const offer = [
        "--service",
        "echo:8080/tcp",
        "--service-http",
        "echo=http://127.0.0.1:8080",
      ];
      const joins: [string, string[]][] = [
        ["n1", ["--join", granted, ...offer]],
        ["n2", ["--join", plain, ...offer]],
        ["n3", ["--join", plain]],
      ];
      for (const [h, args] of joins) {
        const r = startMeshNode(lab, { ...OPTS, dir }, h, args);
        running.set(h, r);
        await waitUp(lab, h, dir, r);
      }
      for (const h of hosts) {
        assert.ok(
          await eventually(async () => (await nodeList(lab, h, dir))?.length === 4, HANG_GUARD_MS),
          `${h} does not see 4 nodes`,
        );
      }
      const addr = Object.fromEntries(
        (await nodeList(lab, "lead", dir))!.map((m) => [m.name, m.address]),
      );

      // n3 sees one instance of echo, n1's, and n1 leads it.
      const seen = await eventually(async () => {
        const r = await weft("n3", "service", "list", "--json");
        if (r.code !== 0) return false;
        const echo = JSON.parse(r.stdout).find((s: { name: string }) => s.name === "echo");
        return echo?.instances.length === 1 && echo.leader !== null;
      }, HANG_GUARD_MS);
      const shown = (await weft("n3", "service", "list")).stdout;
      assert.ok(seen, shown);
      console.log(shown.trim());
      const echo = JSON.parse((await weft("n3", "service", "list", "--json")).stdout)
        .find((s: { name: string }) => s.name === "echo");
      assert.deepEqual(echo.instances.map((i: { node: string }) => i.node), ["n1"]);

      // 20 calls from n3: every one answered by n1's backend.
      const { by } = await callsFrom(lab, "n3", `${dir}/n3`, 20, "echo/x");
      console.log(`20 calls from n3: ${JSON.stringify(by)}`);
      assert.deepEqual(by, { n1: 20 });

      // The leader of echo and the names in DNS: n1 alone.
      const lead = await weft("n3", "service", "leader", "echo");
      assert.equal(lead.code, 0, lead.stderr);
      assert.equal(lead.stdout.trim().split(" ").slice(0, 2).join(" "), `n1 ${addr.n1}`);
      const dig = async (name: string) =>
        (await lab.exec(
          "n3",
          "dig",
          "+short",
          "+tries=1",
          "+time=2",
          "@127.0.0.1",
          "-p",
          "15353",
          name,
          "A",
        )).stdout.trim();
      assert.equal(await dig("echo.overlay.local"), addr.n1);
      assert.equal(await dig("leader.echo.overlay.local"), addr.n1);

      // The leader counted n2's offer as refused.
      const refused = await eventually(
        async () =>
          metricValue(await metricsOf(lab, "lead"), "weft_member_refusals_total", {
            reason: "service",
          }) > 0,
        HANG_GUARD_MS,
      );
      assert.ok(refused, await metricsOf(lab, "lead"));
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
