/**
 * DNS answers stay inside the querier's scope, and forwarding is for the host's own queries,
 * with real `weft` processes in TUN mode, each node in its own namespace, asked with `dig`. A
 * leader with a policy (q may reach m, m may reach x, everyone may ask the leader's DNS, and so
 * may the site behind the router r); so q's scope hides x, which m sees. Asked on m's overlay
 * address, m's DNS names x to q neither by name nor by PTR (nor node-x-y), while m's own user gets
 * it on loopback; the leader's DNS, asked by h (a host behind r, which carries the site's prefix),
 * answers with r's scope (r, the leader), not the whole view. m forwards `corp.example` to a
 * resolver on its own loopback (`--dns-route`): q asking m for it is REFUSED (counted in m's
 * `/metrics`), m's own user gets the answer; restarted with `--dns-forward-members`, m answers q
 * too. Every bound is a hang guard.
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
import { SiteLan } from "../fixtures/site_lan.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("dig", "curl", "iptables"));

const OPTS = { cidr: "10.94.0.0/24", ifPrefix: "dq" };
const SITE = "198.51.100.0/24";
const H = "198.51.100.10";
const ZONE = "overlay.local";

const POLICY = `
defaults: { inbound: deny, outbound: allow }
policies:
  - name: q-m
    action: allow
    from: "role=q"
    to: "role=m"
  - name: m-x
    action: allow
    from: "role=m"
    to: "role=x"
  - name: leader-dns
    action: allow
    from: "*"
    to: { names: [lead] }
    proto: udp
    ports: [15353]
  - name: site-dns
    action: allow
    from: { cidrs: ["${SITE}"] }
    to: { names: [lead] }
    proto: udp
    ports: [15353]
`;

type Exec = (...cmd: string[]) => Promise<{ stdout: string }>;

/**
 * `dig` on one host: the status and the first answer's data (`NOERROR 10.94.0.3`, `NXDOMAIN`).
 * Every query here expects an answer (refusals and NXDOMAIN are answers too), so dig may ask
 * three times, 5 s each: one 2 s try went unanswered on a machine at load 30.
 */
async function dig(exec: Exec, server: string, ...query: string[]): Promise<string> {
  const r = await exec("dig", "+tries=3", "+time=5", `@${server}`, "-p", "15353", ...query);
  const status = r.stdout.match(/status: ([A-Z]+)/)?.[1] ?? "none";
  const answer = r.stdout.match(/^\S+\s+\d+\s+IN\s+(?:A|PTR)\s+(\S+)$/m)?.[1] ?? "";
  return `${status} ${answer}`.trim();
}

Deno.test({
  name:
    "DNS scope: a member's DNS names no member the querier may not see, a routed source is its router, and only this host's queries are forwarded",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["lead", "q", "m", "x", "r"]);
    let lan: SiteLan | null = null;
    const dir = await Deno.makeTempDir({ prefix: "weft-dns-scope-" });
    const running = new Map<string, LabProc>();
    const weft = (host: string, ...args: string[]) => weftIn(lab, host, dir, ...args);
    const on = (host: string): Exec => (...cmd) => lab.exec(host, cmd[0], ...cmd.slice(1));
    try {
      lan = await SiteLan.create(lab, "dq");
      await lan.attach("r", "198.51.100.1/24");
      await lan.addPlain("h", `${H}/24`, "198.51.100.1");
      // m's own resolver for corp.example, on its loopback only.
      lab.spawn("m", Deno.execPath(), [
        "run",
        "-A",
        "--unstable-net",
        new URL("../fixtures/fake_resolver.ts", import.meta.url).pathname,
        "5399",
        "corp.example",
        "203.0.113.7",
      ]);
      const leader = startMeshNode(lab, { ...OPTS, dir }, "lead", [
        "--leader",
        "--advertise",
        "192.0.2.1:51820",
      ]);
      running.set("lead", leader);
      await waitUp(lab, "lead", dir, leader);
      await Deno.writeTextFile(`${dir}/policy.yaml`, POLICY);
      const applied = await weft("lead", "policy", "apply", `${dir}/policy.yaml`);
      assert.equal(applied.code, 0, applied.stderr);
      const joins: [string, string, string[]][] = [
        ["q", "q", []],
        ["m", "m", ["--dns-route", "corp.example=127.0.0.1:5399"]],
        ["x", "x", []],
        ["r", "router", ["--advertise-routes", SITE]],
      ];
      for (const [h, role, extra] of joins) {
        const t = await weft("lead", "token", "create", "--label", `role=${role}`);
        assert.equal(t.code, 0, t.stderr);
        const p = startMeshNode(lab, { ...OPTS, dir }, h, ["--join", t.stdout.trim(), ...extra]);
        running.set(h, p);
        await waitUp(lab, h, dir, p);
      }
      const approved = await weft("lead", "route", "approve", "r", SITE);
      assert.equal(approved.code, 0, approved.stderr);
      const addr = Object.fromEntries(
        (await nodeList(lab, "lead", dir))!.map((m) => [m.name, m.address]),
      );
      const names = async (h: string) =>
        ((await nodeList(lab, h, dir)) ?? []).map((m) => m.name).sort().join(",");
      for (const [h, want] of [["q", "lead,m,q"], ["m", "lead,m,q,x"], ["r", "lead,r"]]) {
        assert.ok(
          await eventually(async () => (await names(h)) === want, HANG_GUARD_MS),
          `${h}: ${await names(h)}`,
        );
      }

      // Finding 3: q asks m over the tunnel. m answers (its own name), but never with x.
      const viaM = (...query: string[]) => dig(on("q"), addr.m, ...query);
      assert.ok(
        await eventually(
          async () => (await viaM(`m.${ZONE}`, "A")) === `NOERROR ${addr.m}`,
          HANG_GUARD_MS,
        ),
        `q asks m for m: ${await viaM(`m.${ZONE}`, "A")}`,
      );
      // m's own user gets x: m knows it.
      assert.equal(await dig(on("m"), "127.0.0.1", `x.${ZONE}`, "A"), `NOERROR ${addr.x}`);
      // What must not leak is collected, so that one run shows every leak there is.
      const leaks: string[] = [];
      const expect = (got: string, want: string, what: string) => {
        if (got !== want) leaks.push(`${what}: ${got} (want ${want})`);
      };
      const [, , c, d] = addr.x.split(".");
      expect(await viaM(`x.${ZONE}`, "A"), "NXDOMAIN", "q asks m for x");
      expect(await viaM(`node-${c}-${d}.${ZONE}`, "A"), "NXDOMAIN", "q asks m for node-x-y");
      expect(await viaM("-x", addr.x), "NXDOMAIN", "q asks m for x's PTR");
      assert.equal(await viaM(`q.${ZONE}`, "A"), `NOERROR ${addr.q}`);
      assert.equal(await viaM(`lead.${ZONE}`, "A"), `NOERROR ${addr.lead}`);

      // A host behind r asks the leader: r's scope (r and the leader), not the whole view.
      const fromH = (name: string) =>
        dig((...cmd) => lan!.exec("h", cmd[0], ...cmd.slice(1)), addr.lead, name, "A");
      assert.ok(
        await eventually(
          async () => (await fromH(`r.${ZONE}`)) === `NOERROR ${addr.r}`,
          HANG_GUARD_MS,
        ),
        `h asks the leader for r: ${await fromH(`r.${ZONE}`)}\n${
          running.get("r")!.output().slice(-1500)
        }`,
      );
      assert.equal(await fromH(`lead.${ZONE}`), `NOERROR ${addr.lead}`);
      expect(await fromH(`x.${ZONE}`), "NXDOMAIN", "h (behind r) asks the leader for x");
      expect(await fromH(`m.${ZONE}`), "NXDOMAIN", "h (behind r) asks the leader for m");
      // The leader's own user: every name.
      assert.equal(await dig(on("lead"), "127.0.0.1", `x.${ZONE}`, "A"), `NOERROR ${addr.x}`);

      // Finding 7: m forwards corp.example for its own user only.
      assert.ok(
        await eventually(
          async () =>
            (await dig(on("m"), "127.0.0.1", "db.corp.example", "A")) === "NOERROR 203.0.113.7",
          HANG_GUARD_MS,
        ),
        `m asks itself: ${await dig(on("m"), "127.0.0.1", "db.corp.example", "A")}`,
      );
      const refused = async () =>
        metricValue(await metricsOf(lab, "m"), "weft_dns_forward_refused_total", {});
      const before = await refused();
      expect(await viaM("db.corp.example", "A"), "REFUSED", "q asks m for db.corp.example");
      expect(String(await refused()), String(before + 1), "m's refusals counted");
      assert.deepEqual(leaks, []);

      // The operator lets m forward for members (--dns-forward-members): q gets the answer.
      await lab.stop(running.get("m")!.child, 3000);
      const m2 = startMeshNode(lab, { ...OPTS, dir }, "m", [
        "--dns-route",
        "corp.example=127.0.0.1:5399",
        "--dns-forward-members",
      ]);
      running.set("m", m2);
      await waitUp(lab, "m", dir, m2);
      assert.ok(
        await eventually(
          async () => (await viaM("db.corp.example", "A")) === "NOERROR 203.0.113.7",
          HANG_GUARD_MS,
        ),
        `q asks m with forwarding for members: ${await viaM("db.corp.example", "A")}`,
      );
    } finally {
      for (const p of running.values()) await lab.stop(p.child, 3000).catch(() => {});
      await lan?.destroy();
      await lab.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
