/**
 * `weft set` and exit nodes with real `weft` processes (TUN mode) in the NAT lab: the leader and
 * e on the internet, b behind a NAT router, and a host i that runs no weft on a network only e
 * reaches (198.18.0.0/24). e, started plain, offers itself at runtime (`weft set
 * --advertise-exit-node`) and the leader approves it; b, started without an exit node, chooses e
 * at runtime (`weft set --exit-node e`): b reaches i and i sees e's address; a restart of b with
 * its first flags keeps e; `weft set --exit-node ""` stops: b's rules and routing tables are as
 * before it chose one, and i is out of reach again. Every bound asserted is a hang guard.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands } from "../fixtures/netns.ts";
import { NatMesh } from "../fixtures/nat_mesh.ts";
import { weftIn } from "../fixtures/mesh_lab.ts";
import { SiteLan, whoAmIServer } from "../fixtures/site_lan.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("curl", "ping", "iptables"));

const I = "198.18.0.10";

Deno.test({
  name: "weft set: an exit node offered and chosen at runtime, kept over a restart, dropped",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const m = await NatMesh.create(
      { internet: ["lead", "e"], sites: { home: { nat: "masquerade", hosts: ["b"] } } },
      { ifPrefix: "wz" },
    );
    let lan: SiteLan | null = null;
    const lab = m.lab;
    const weft = (host: string, ...args: string[]) => weftIn(lab, host, m.dir, ...args);
    try {
      lan = await SiteLan.create(lab, "inet");
      await lan.attach("e", "198.18.0.1/24");
      await lan.addPlain("i", `${I}/24`);
      lan.spawn("i", Deno.execPath(), ["eval", whoAmIServer(8080)]);
      const snapshot = async () =>
        [
          (await lab.exec("b", "ip", "rule", "show")).stdout,
          (await lab.exec("b", "ip", "-6", "rule", "show")).stdout,
          (await lab.exec("b", "ip", "route", "show", "table", "all")).stdout,
          (await lab.exec("b", "ip", "-6", "route", "show", "table", "all")).stdout,
        ].join("\n---\n")
          .split("\n").filter((l) => !l.includes("fe80:")).join("\n");
      const curl = async () =>
        (await lab.exec("b", "curl", "-s", "--max-time", "3", `http://${I}:8080/`)).stdout.trim();

      const token = await m.token(2);
      await m.start("e", ["--join", token, "--advertise", "203.0.113.2:51820"]);
      const offer = await weft("e", "set", "--advertise-exit-node");
      assert.equal(offer.code, 0, offer.stderr);
      assert.match(offer.stdout, /exit node offered yes/);
      // Approved once the leader has e's offer (refused while it covers nothing advertised).
      assert.ok(
        await eventually(
          async () => (await weft("lead", "route", "approve", "e", "exit")).code === 0,
          HANG_GUARD_MS,
          250,
        ),
        "the leader never had e's exit-node offer",
      );
      await m.start("b", ["--join", token]);
      await m.settle(["e", "b"]);
      assert.notEqual((await lab.exec("b", "ping", "-c", "1", "-W", "1", I)).code, 0);
      const before = await snapshot();

      // b chooses e at runtime.
      const use = await weft("b", "set", "--exit-node", "e");
      assert.equal(use.code, 0, use.stderr);
      assert.match(use.stdout, /exit node used e/);
      assert.ok(
        await eventually(async () => (await curl()) === "198.18.0.1", HANG_GUARD_MS, 250),
        `b does not reach i through e\n${m.procs.get("b")!.output().slice(-3000)}`,
      );
      assert.match((await weft("b", "status")).stdout, /exit node\s+e \(/);

      // A restart with b's first flags (no --exit-node) keeps e.
      await m.stop("b");
      await m.start("b", []);
      assert.ok(
        await eventually(async () => (await curl()) === "198.18.0.1", HANG_GUARD_MS, 250),
        `b does not use e after its restart\n${m.procs.get("b")!.output().slice(-3000)}`,
      );

      // None: b's routing is its own again, i out of reach.
      const stop = await weft("b", "set", "--exit-node", "");
      assert.equal(stop.code, 0, stop.stderr);
      assert.match(stop.stdout, /exit node used -/);
      assert.equal(await snapshot(), before, "b's rules and routes after it dropped the exit node");
      assert.notEqual((await lab.exec("b", "ping", "-c", "1", "-W", "1", I)).code, 0);
      assert.doesNotMatch((await weft("b", "status")).stdout, /exit node/);
    } finally {
      await lan?.destroy();
      await m.close();
    }
  },
});
