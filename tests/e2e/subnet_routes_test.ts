/**
 * Subnet routes with real `weft` processes (TUN mode), each node in its own namespace, and a site
 * LAN (198.51.100.0/24) behind members a and a2 with a host h that runs no weft. a and a2
 * advertise the LAN (`--advertise-routes`); before `weft route approve` b cannot reach h; after
 * it, b pings h and `curl`s it, and h sees a's LAN address (masquerade); `weft route list` names
 * a primary and a2 standby; b's `--dns-route example.internal=H` answers names of that domain
 * from h's resolver, through the route. a stops: the route moves to a2 and b reaches h through it. a comes
 * back as standby; a2 is killed (no bye): the leader stops hearing it and the route moves back to
 * a. A policy rule denying b the site's prefix stops b's pings to h. Every bound asserted is a
 * hang guard (the takeover times are printed).
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands, Lab } from "../fixtures/netns.ts";
import {
  type LabProc,
  metricsOf,
  metricValue,
  startMeshNode,
  waitUp,
  weftIn,
} from "../fixtures/mesh_lab.ts";
import { SiteLan, whoAmIServer } from "../fixtures/site_lan.ts";

const ignore = !(await canBuildLabs()) ||
  !(await haveCommands("curl", "ping", "iptables", "dig"));

const OPTS = { cidr: "10.93.0.0/24", ifPrefix: "wr" };
const SITE = "198.51.100.0/24";
const H = "198.51.100.10";

interface RouteRow {
  name: string;
  address: string;
  primary: string[];
  standby: string[];
  pending: string[];
}

/** A lab with the leader running and a site LAN with `routers` on it and h, its server up. */
interface Site {
  lab: Lab;
  lan: SiteLan;
  dir: string;
  running: Map<string, LabProc>;
  /** A one-shot `weft` command on a host. */
  weft: (host: string, ...args: string[]) => ReturnType<typeof weftIn>;
  /** Starts `weft <args>` on a host and waits until it answers. */
  start: (host: string, args: string[]) => Promise<LabProc>;
  /** h's who-am-I server. */
  server: { output: () => string };
}

/**
 * Builds the lab (`lead` and `hosts`), the site LAN with `routers` on it at 198.51.100.1, .2, ...
 * and h, starts h's who-am-I server and the leader, runs `body`, and always tears everything down.
 */
async function withSite(
  hosts: string[],
  routers: string[],
  body: (s: Site) => Promise<void>,
): Promise<void> {
  const lab = await Lab.create(["lead", ...hosts]);
  let lan: SiteLan | null = null;
  const dir = await Deno.makeTempDir({ prefix: "weft-routes-" });
  const running = new Map<string, LabProc>();
  try {
    lan = await SiteLan.create(lab, "site");
    for (const [i, r] of routers.entries()) await lan.attach(r, `198.51.100.${i + 1}/24`);
    await lan.addPlain("h", `${H}/24`);
    const server = lan.spawn("h", Deno.execPath(), ["eval", whoAmIServer(8080)]);
    const start = async (host: string, args: string[]) => {
      const p = startMeshNode(lab, { ...OPTS, dir }, host, args);
      running.set(host, p);
      await waitUp(lab, host, dir, p);
      return p;
    };
    await start("lead", ["--leader", "--advertise", "192.0.2.1:51820"]);
    const weft = (host: string, ...args: string[]) => weftIn(lab, host, dir, ...args);
    await body({ lab, lan, dir, running, weft, start, server });
  } finally {
    for (const r of running.values()) await lab.stop(r.child, 3000).catch(() => {});
    await lan?.destroy();
    await lab.destroy();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name:
    "subnet routes: approved by the leader, used by members, masqueraded, and moved when the router stops",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withSite(
      ["a", "a2", "b"],
      ["a", "a2"],
      async ({ lab, lan, dir, running, weft, start, server }) => {
        // h is also the site's resolver for example.internal (split DNS through the router).
        lan.spawn("h", Deno.execPath(), [
          "run",
          "-A",
          "--unstable-net",
          new URL("../fixtures/fake_resolver.ts", import.meta.url).pathname,
          "53",
          "example.internal",
          "198.51.100.20",
        ]);
        const token = (await weft("lead", "token", "create")).stdout.trim();
        for (const h of ["a", "a2", "b"]) {
          const extra = h === "b"
            ? ["--dns-route", `example.internal=${H}`]
            : ["--advertise-routes", SITE];
          await start(h, ["--join", token, ...extra]);
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
        // a2 is on the site's LAN itself: it does not route the site into the mesh, and says so.
        assert.ok(
          await eventually(
            () => Promise.resolve(running.get("a2")!.output().includes("route not used")),
            HANG_GUARD_MS,
          ),
          running.get("a2")!.output().slice(-2000),
        );
        // a counts what it forwarded into the route, and the replies.
        const forwarded = async (dir: string) =>
          metricValue(await metricsOf(lab, "a"), "weft_route_forwarded_packets_total", {
            route: SITE,
            dir,
          });
        assert.ok(
          await eventually(
            async () => (await forwarded("out")) > 0 && (await forwarded("in")) > 0,
            HANG_GUARD_MS,
          ),
          `a's route counters: ${await forwarded("out")} out, ${await forwarded("in")} in`,
        );
        const bRoute = (await lab.exec("b", "ip", "route", "show", SITE)).stdout;
        assert.match(bRoute, /dev wrb/, bRoute);
        // Split DNS: b's DNS server asks the site's resolver for example.internal (forwarding is
        // off for everything else).
        const dig = async (name: string) =>
          (await lab.exec(
            "b",
            "dig",
            "+short",
            "+tries=1",
            "+time=3",
            "@127.0.0.1",
            "-p",
            "15353",
            name,
            "A",
          ))
            .stdout.trim();
        assert.ok(
          await eventually(
            async () => (await dig("db.example.internal")) === "198.51.100.20",
            HANG_GUARD_MS,
          ),
          `split DNS: ${await dig("db.example.internal")}`,
        );

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

        // a runs again and stands by (no preemption); a2 dies without a word (SIGKILL): the leader
        // stops hearing its hellos and hands the route to a.
        await start("a", ["--advertise-routes", SITE]);
        assert.ok(
          await eventually(async () => {
            const r = Object.fromEntries((await routes()).map((x) => [x.name, x]));
            return r.a.standby.length === 1 && r.a2.primary.length === 1;
          }, HANG_GUARD_MS),
          JSON.stringify(await routes()),
        );
        const killedAt = Date.now();
        running.get("a2")!.child.kill("SIGKILL");
        await running.get("a2")!.child.status;
        running.delete("a2");
        assert.ok(
          await eventually(async () => (await curl()) === "198.51.100.1", HANG_GUARD_MS, 250),
          `b does not reach h through a again\n${JSON.stringify(await routes())}`,
        );
        console.log(`b reached h through a ${Date.now() - killedAt} ms after a2 was killed`);

        // A policy rule names the site's prefix: b's pings to h stop (dropped and counted at b, by
        // the rule), what the rule does not name still passes.
        const policy = `${dir}/policy.yaml`;
        await Deno.writeTextFile(
          policy,
          [
            "defaults:",
            "  inbound: allow",
            "policies:",
            "  - name: no-site",
            "    action: deny",
            "    from: { names: [b] }",
            `    to: { cidrs: ["${SITE}"] }`,
            "",
          ].join("\n"),
        );
        const applied = await weft("lead", "policy", "apply", policy);
        assert.equal(applied.code, 0, applied.stderr);
        const dropped = async () => {
          const st = JSON.parse((await weft("b", "status", "--json")).stdout);
          return st.node.policy?.droppedByRule?.["no-site"] ?? 0;
        };
        assert.ok(
          await eventually(
            async () => (await ping()).code !== 0 && (await dropped()) > 0,
            HANG_GUARD_MS,
          ),
          `b still reaches h under the policy (dropped ${await dropped()})`,
        );
        // The rule names only the site: b still reaches a's own address (waited for, since the
        // policy's new view reaches b and a at their own pace on a busy machine).
        const aAddr = (await routes()).find((r) => r.name === "a")!;
        assert.ok(
          await eventually(
            async () =>
              (await lab.exec("b", "ping", "-c", "1", "-W", "2", aAddr.address)).code === 0,
            HANG_GUARD_MS,
          ),
          "b still reaches a itself",
        );
      },
    );
  },
});

Deno.test({
  name:
    "subnet routes: approved by the token, not masqueraded: the host sees the member's overlay address",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withSite(["a", "b"], ["a"], async ({ lab, lan, dir, weft, start }) => {
      // h routes the mesh back through a: with no masquerade it sees members' own addresses.
      await lan.exec("h", "ip", "route", "add", OPTS.cidr, "via", "198.51.100.1");
      const created = await weft("lead", "token", "create", "--approve-routes", SITE);
      assert.equal(created.code, 0, created.stderr);
      const token = created.stdout.trim();
      for (const h of ["a", "b"]) {
        const extra = h === "a" ? ["--advertise-routes", SITE, "--no-snat-subnet-routes"] : [];
        await start(h, ["--join", token, ...extra]);
      }
      // Approved by the token (b too, though it advertises nothing): a carries it once heard.
      const carried = async () =>
        JSON.parse((await weft("lead", "route", "list", "--json")).stdout)
          .filter((r: RouteRow) => r.primary.length).map((r: RouteRow) => [r.name, r.primary]);
      assert.ok(
        await eventually(
          async () => JSON.stringify(await carried()) === JSON.stringify([["a", [SITE]]]),
          HANG_GUARD_MS,
        ),
        JSON.stringify(await carried()),
      );
      const bAddr = JSON.parse((await weft("lead", "node", "list", "--json")).stdout).nodes
        .find((n: { name: string }) => n.name === "b").address;
      const curl = async () =>
        (await lab.exec("b", "curl", "-s", "--max-time", "3", `http://${H}:8080/`)).stdout.trim();
      assert.ok(
        await eventually(async () => (await curl()) === bAddr, HANG_GUARD_MS, 250),
        `h saw ${await curl()}, not b's overlay address ${bAddr}`,
      );

      // The router enforces the policy on what it forwards: with a rule denying the site's hosts
      // flows to b, h's pings to b stop at a (counted there, by the rule), before the tunnel.
      const hPing = () => lan!.exec("h", "ping", "-c", "1", "-W", "1", bAddr);
      assert.ok(await eventually(async () => (await hPing()).code === 0, HANG_GUARD_MS), "h -> b");
      const policy = `${dir}/policy.yaml`;
      await Deno.writeTextFile(
        policy,
        [
          "defaults:",
          "  inbound: allow",
          "policies:",
          "  - name: site-to-b",
          "    action: deny",
          `    from: { cidrs: ["${SITE}"] }`,
          "    to: { names: [b] }",
          "",
        ].join("\n"),
      );
      const applied = await weft("lead", "policy", "apply", policy);
      assert.equal(applied.code, 0, applied.stderr);
      const droppedAt = async (host: string) => {
        const st = JSON.parse((await weft(host, "status", "--json")).stdout);
        return st.node.policy?.droppedByRule?.["site-to-b"] ?? 0;
      };
      assert.ok(
        await eventually(
          async () => (await hPing()).code !== 0 && (await droppedAt("a")) > 0,
          HANG_GUARD_MS,
        ),
        `h still reaches b, or a did not drop (a dropped ${await droppedAt("a")})`,
      );
    });
  },
});
