/**
 * An exit node with real `weft` processes (TUN mode) in the NAT lab: the leader and e on the
 * internet, b behind a NAT router whose default route carries b's underlay, and a host i that
 * runs no weft on a network only e reaches (198.18.0.0/24). e offers itself
 * (`--advertise-exit-node`), the leader approves it (`weft route approve e exit`), b uses it
 * (`--exit-node e`): b reaches i, i sees e's address (masquerade), b's sessions with the leader
 * and e stay up (its own underlay traffic does not loop into the tunnel), and once b stops its
 * rules and routing tables are as they were, after a clean stop and after a crash and a restart
 * without the exit node. Every bound asserted is a hang guard.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands } from "../fixtures/netns.ts";
import { NatMesh } from "../fixtures/nat_mesh.ts";
import { nodeList, weftIn } from "../fixtures/mesh_lab.ts";
import { SiteLan, whoAmIServer } from "../fixtures/site_lan.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("curl", "ping", "iptables"));

const I = "198.18.0.10";

Deno.test({
  name:
    "exit node: a member's internet traffic goes out through an approved exit node, and its routing is restored after",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const m = await NatMesh.create(
      { internet: ["lead", "e"], sites: { home: { nat: "masquerade", hosts: ["b"] } } },
      { ifPrefix: "wx" },
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
          // The kernel's link-local routes appear once duplicate detection ends, whenever that is.
          .split("\n").filter((l) => !l.includes("fe80:")).join("\n");

      const token = await m.token(2);
      await m.start("e", [
        "--join",
        token,
        "--advertise-exit-node",
        "--advertise",
        "203.0.113.2:51820",
      ]);
      const curl = async () =>
        (await lab.exec("b", "curl", "-s", "--max-time", "3", `http://${I}:8080/`)).stdout.trim();
      assert.notEqual(
        (await lab.exec("b", "ping", "-c", "1", "-W", "1", I)).code,
        0,
        "b reached i directly",
      );
      const approve = await weft("lead", "route", "approve", "e", "exit");
      assert.equal(approve.code, 0, approve.stderr);
      assert.match(approve.stdout, /exit node/);

      // b's tables before its agent starts (its interface and its routes come and go with it).
      const before = await snapshot();
      await m.start("b", ["--join", token, "--exit-node", "e"]);
      await m.settle(["e", "b"]);
      assert.ok(
        await eventually(async () => (await curl()) === "198.18.0.1", HANG_GUARD_MS, 250),
        `b does not reach i through e\n${m.procs.get("b")!.output().slice(-3000)}`,
      );
      const rules = (await lab.exec("b", "ip", "rule", "show")).stdout;
      console.log(rules.trim());
      assert.match(rules, /not from all fwmark 0xca6c lookup 51820/, rules);
      const status = await weft("b", "status");
      assert.match(status.stdout, /exit node\s+e \(/, status.stdout);

      // The agent's own traffic stays outside the tunnel: the leader still hears b, b still
      // syncs, and b reaches the leader over the overlay.
      assert.equal((await lab.exec("b", "ping", "-c", "1", "-W", "2", m.addr.lead)).code, 0);
      const seen = await nodeList(lab, "b", m.dir);
      assert.ok(seen?.some((n) => n.name === "lead"), JSON.stringify(seen));
      const v = JSON.parse((await weft("lead", "status", "--json")).stdout);
      const bPeer = v.peers.find((p: { name: string }) => p.name === "b");
      assert.ok(bPeer?.lastHandshake, JSON.stringify(bPeer));

      await m.stop("b");
      const after = await snapshot();
      assert.equal(after, before, "b's rules and routes after it stopped");

      // Crash-restart: b runs with the exit node again and is killed (no clean-up of its own);
      // started again without --exit-node, it removes what the dead run left, and its clean stop
      // leaves the tables as they were.
      await m.start("b", ["--exit-node", "e"]);
      assert.ok(
        await eventually(async () => (await curl()) === "198.18.0.1", HANG_GUARD_MS, 250),
        "b uses e again",
      );
      const p = m.procs.get("b")!;
      p.child.kill("SIGKILL");
      await p.child.status;
      const left = (await lab.exec("b", "ip", "rule", "show")).stdout;
      assert.match(left, /fwmark 0xca6c lookup 51820/, "the killed run left its rules");
      await m.start("b", []);
      await m.stop("b");
      assert.equal(await snapshot(), before, "b's rules and routes after a crash and a restart");
    } finally {
      await lan?.destroy();
      await m.close();
    }
  },
});
