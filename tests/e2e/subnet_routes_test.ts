/**
 * Subnet routes with real `weft` processes (TUN mode), each node in its own namespace, and a site
 * LAN (198.51.100.0/24) behind members a and a2 with a host h that runs no weft. a and a2
 * advertise the LAN (`--advertise-routes`); before `weft route approve` b cannot reach h; after
 * it, b pings h and `curl`s it, and h sees a's LAN address (masquerade); `weft route list` names
 * a primary and a2 standby. a stops: the route moves to a2 and b reaches h through it. Every bound
 * asserted is a hang guard.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import { type LabProc, startMeshNode, waitUp, weftIn } from "../fixtures/mesh_lab.ts";
import { SiteLan, whoAmIServer } from "../fixtures/site_lan.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("curl", "ping", "iptables"));

const OPTS = { cidr: "10.93.0.0/24", ifPrefix: "wr" };
const SITE = "198.51.100.0/24";
const H = "198.51.100.10";

interface RouteRow {
  name: string;
  primary: string[];
  standby: string[];
  pending: string[];
}

Deno.test({
  name:
    "subnet routes: approved by the leader, used by members, masqueraded, and moved when the router stops",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["lead", "a", "a2", "b"]);
    let lan: SiteLan | null = null;
    const dir = await Deno.makeTempDir({ prefix: "weft-routes-" });
    const running = new Map<string, LabProc>();
    const weft = (host: string, ...args: string[]) => weftIn(lab, host, dir, ...args);
    try {
      lan = await SiteLan.create(lab, "site");
      await lan.attach("a", "198.51.100.1/24");
      await lan.attach("a2", "198.51.100.2/24");
      await lan.addPlain("h", `${H}/24`);
      const server = lan.spawn("h", Deno.execPath(), ["eval", whoAmIServer(8080)]);
      const leader = startMeshNode(lab, { ...OPTS, dir }, "lead", [
        "--leader",
        "--advertise",
        "192.0.2.1:51820",
      ]);
      running.set("lead", leader);
      await waitUp(lab, "lead", dir, leader);
      const token = (await weft("lead", "token", "create")).stdout.trim();
      for (const h of ["a", "a2", "b"]) {
        const extra = h === "b" ? [] : ["--advertise-routes", SITE];
        const r = startMeshNode(lab, { ...OPTS, dir }, h, ["--join", token, ...extra]);
        running.set(h, r);
        await waitUp(lab, h, dir, r);
      }
      const routes = async (): Promise<RouteRow[]> => {
        const r = await weft("lead", "route", "list", "--json");
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout);
      };
      assert.ok(
        await eventually(async () => (await routes()).length === 2, HANG_GUARD_MS),
        JSON.stringify(await routes()),
      );
      for (const r of await routes()) assert.deepEqual(r.pending, [SITE], JSON.stringify(r));
      const ping = () => lab.exec("b", "ping", "-c", "1", "-W", "1", H);
      assert.notEqual((await ping()).code, 0, "b reached h before any approval");

      // Approved for both: a joined first and carries it, a2 stands by.
      for (const h of ["a", "a2"]) {
        const r = await weft("lead", "route", "approve", h, SITE);
        assert.equal(r.code, 0, r.stderr);
      }
      const table = await weft("lead", "route", "list");
      console.log(table.stdout.trim());
      const byName = Object.fromEntries((await routes()).map((r) => [r.name, r]));
      assert.deepEqual(byName.a.primary, [SITE]);
      assert.deepEqual(byName.a2.standby, [SITE]);
      assert.ok(
        await eventually(async () => (await ping()).code === 0, HANG_GUARD_MS),
        `b cannot ping h after the approval\n${running.get("b")!.output().slice(-2000)}`,
      );
      const curl = async () =>
        (await lab.exec("b", "curl", "-s", "--max-time", "3", `http://${H}:8080/`)).stdout.trim();
      assert.equal(await curl(), "198.51.100.1", `h saw another source\n${server.output()}`);
      const bRoute = (await lab.exec("b", "ip", "route", "show", SITE)).stdout;
      assert.match(bRoute, /dev wrb/, bRoute);

      // a stops: a2 carries the route, b reaches h through it.
      const stoppedAt = Date.now();
      await lab.stop(running.get("a")!.child, 5000);
      running.delete("a");
      assert.ok(
        await eventually(async () => (await curl()) === "198.51.100.2", HANG_GUARD_MS, 250),
        `b does not reach h through a2\n${JSON.stringify(await routes())}`,
      );
      console.log(`b reached h through a2 ${Date.now() - stoppedAt} ms after a stopped`);
      const after = Object.fromEntries((await routes()).map((r) => [r.name, r]));
      assert.deepEqual(after.a2.primary, [SITE]);
    } finally {
      for (const r of running.values()) await lab.stop(r.child, 3000).catch(() => {});
      await lan?.destroy();
      await lab.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
