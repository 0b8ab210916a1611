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
import { nodeList, statusTable, weftIn } from "../fixtures/mesh_lab.ts";
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
      assert.ok(
        await eventually(
          async () => (await lab.exec("b", "ping", "-c", "1", "-W", "2", m.addr.lead)).code === 0,
          HANG_GUARD_MS,
        ),
        "b reaches the leader over the overlay",
      );
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

Deno.test({
  name:
    "exit node: endpoints members claim never become `to ADDR lookup main` on an exit-node user; what the leader saw does",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // e, the exit node, claims an address on b's LAN beside its own; r, a relay member, claims
    // i's address, which only e reaches: were either kept off b's tunnel, a member would choose
    // where b's traffic leaves outside its exit node (i's would not arrive at all).
    const claimedByE = "198.51.100.50";
    const m = await NatMesh.create(
      { internet: ["lead", "e", "r"], sites: { home: { nat: "masquerade", hosts: ["b"] } } },
      { ifPrefix: "wq" },
    );
    let lan: SiteLan | null = null;
    const lab = m.lab;
    const weft = (host: string, ...args: string[]) => weftIn(lab, host, m.dir, ...args);
    try {
      lan = await SiteLan.create(lab, "inet");
      await lan.attach("e", "198.18.0.1/24");
      await lan.addPlain("i", `${I}/24`);
      lan.spawn("i", Deno.execPath(), ["eval", whoAmIServer(8080)]);

      await m.start("e", [
        "--join",
        await m.token(1),
        "--advertise-exit-node",
        "--advertise",
        "203.0.113.2:51820",
        "--advertise",
        `${claimedByE}:51820`,
      ]);
      await m.start("r", [
        "--join",
        await m.token(1, "--relay"),
        "--relay",
        "--advertise",
        "203.0.113.3:51820",
        "--advertise",
        `${I}:51820`,
      ]);
      const approve = await weft("lead", "route", "approve", "e", "exit");
      assert.equal(approve.code, 0, approve.stderr);
      // The leader holds both claims (and e approved) before b joins: b's first view has them.
      type Rec = { name: string; endpoints: string[]; relay?: boolean; exitNode?: boolean };
      const claimed = async (host: string) => {
        const nodes = (await nodeList(lab, host, m.dir)) as Rec[] | null;
        const rec = (n: string) => nodes?.find((x) => x.name === n);
        return rec("r")?.relay === true && !!rec("r")?.endpoints.includes(`${I}:51820`) &&
          rec("e")?.exitNode === true && !!rec("e")?.endpoints.includes(`${claimedByE}:51820`);
      };
      assert.ok(
        await eventually(() => claimed("lead"), HANG_GUARD_MS),
        "the leader has the claims",
      );

      await m.start("b", ["--join", await m.token(1), "--exit-node", "e"]);
      await m.settle(["e", "r", "b"]);
      assert.ok(await eventually(() => claimed("b"), HANG_GUARD_MS), "b has the claims");
      const curl = async () =>
        (await lab.exec("b", "curl", "-s", "--max-time", "3", `http://${I}:8080/`)).stdout.trim();
      assert.ok(
        await eventually(async () => (await curl()) === "198.18.0.1", HANG_GUARD_MS, 250),
        `b does not reach i through e; its rules:\n${
          (await lab.exec("b", "ip", "rule", "show")).stdout
        }\n${m.procs.get("b")!.output().slice(-2000)}`,
      );

      // The rules are read until they show the direct state, each read checked: on a loaded
      // machine b may for a while reach e through r, the relay (then the address the leader saw
      // r at is kept too, legitimately: exemptAddresses), or count e offline (then only the
      // leader's is kept, outside traffic blocked). What a member only claims is in no read.
      const claimedOnly = /198\.18\.0\.10|198\.51\.100\.50/;
      const exempt = (rules: string) =>
        [...rules.matchAll(/from all to (\S+) lookup main/g)].map((x) => x[1]).sort().join(" ");
      let rules = "";
      const reads: string[] = [];
      const direct = await eventually(async () => {
        rules = (await lab.exec("b", "ip", "rule", "show")).stdout;
        reads.push(rules);
        // Kept on the host's routes: the leader, and e where the leader saw it; not r, a relay
        // b does not go through now.
        return /not from all fwmark 0xca6c lookup 51820/.test(rules) &&
          exempt(rules) === "203.0.113.1 203.0.113.2";
      }, HANG_GUARD_MS);
      console.log(rules.trim());
      for (const r of reads) assert.doesNotMatch(r, claimedOnly, r);
      assert.ok(direct, `b's rules never showed the leader and e alone:\n${rules}`);
      // So i's address is routed into the tunnel, to e, and not out of b's LAN.
      const iface = `wqb${lab.tag}`;
      let route = "";
      assert.ok(
        await eventually(async () => {
          route = (await lab.exec("b", "ip", "route", "get", I)).stdout;
          return route.includes(`dev ${iface} `);
        }, HANG_GUARD_MS),
        route,
      );
      assert.ok(
        await eventually(async () => (await curl()) === "198.18.0.1", HANG_GUARD_MS, 250),
        "i still sees e's address",
      );
      assert.doesNotMatch((await lab.exec("b", "ip", "rule", "show")).stdout, claimedOnly);

      // A clean stop, waited for (not cut short by a kill): everything it set up is undone,
      // the rules kept for the addresses the leader saw included.
      await m.stop("b");
      const exited = await m.procs.get("b")!.child.status;
      assert.ok(exited.signal === null, `b was killed (${exited.signal}), not stopped`);
      assert.doesNotMatch((await lab.exec("b", "ip", "rule", "show")).stdout, /to \S+ lookup main/);
    } finally {
      await lan?.destroy();
      await m.close();
    }
  },
});

Deno.test({
  name:
    "exit node: fails closed: outside traffic blocked while the exit node is unknown, not one, not approved or offline; direct only with --exit-node-fallback",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // w: a host on the internet running no weft, answering with the address it sees: the home
    // router's (203.0.113.101) when b goes out directly, e's (203.0.113.2) through e.
    const W = "203.0.113.3";
    const HOME = "203.0.113.101";
    const m = await NatMesh.create(
      { internet: ["lead", "e", "w"], sites: { home: { nat: "masquerade", hosts: ["b"] } } },
      { ifPrefix: "wy" },
    );
    const lab = m.lab;
    const weft = (host: string, ...args: string[]) => weftIn(lab, host, m.dir, ...args);
    try {
      lab.spawn("w", Deno.execPath(), ["eval", whoAmIServer(8080)]);
      const curl = async () => {
        const r = await lab.exec("b", "curl", "-s", "--max-time", "3", `http://${W}:8080/`);
        return r.code === 0 ? r.stdout.trim() : `curl exit ${r.code}`;
      };
      // The line `weft status` shows, from b's /status as the CLI makes it: polled (a `weft`
      // one-shot costs about a CPU-second).
      const exitLine = async () =>
        (await statusTable(lab, "b")).split("\n").find((l) => l.startsWith("exit node")) ?? "";
      let seen = "";
      const waitExit = async (want: RegExp, what: string) => {
        const ok = await eventually(async () => want.test(seen = await exitLine()), HANG_GUARD_MS);
        assert.ok(
          ok,
          `${what}: b's status says ${JSON.stringify(seen)}\n${m.log("b").slice(-3000)}`,
        );
      };
      // Blocked: w does not answer b (no route: nothing leaves directly), the kernel says the
      // default routes of both families are unreachable, and b still reaches the leader over the
      // mesh (its own underlay traffic and the overlay are not blocked).
      const assertBlocked = async (what: string) => {
        assert.match(await curl(), /^curl exit/, `${what}: b reached w`);
        const get4 = await lab.exec("b", "ip", "route", "get", W);
        assert.match(get4.stderr, /No route to host/, `${what}: ${get4.stdout}${get4.stderr}`);
        const table6 = (await lab.exec("b", "ip", "-6", "route", "show", "table", "51820")).stdout;
        assert.match(table6, /^unreachable default/m, `${what}: IPv6: ${table6}`);
        assert.ok(
          await eventually(
            async () => (await lab.exec("b", "ping", "-c", "1", "-W", "2", m.addr.lead)).code === 0,
            HANG_GUARD_MS,
          ),
          "b reaches the leader over the overlay",
        );
        assert.match(m.log("b"), /exit node not usable: outside traffic blocked/);
      };
      const snapshot = async () =>
        [
          (await lab.exec("b", "ip", "rule", "show")).stdout,
          (await lab.exec("b", "ip", "-6", "rule", "show")).stdout,
          (await lab.exec("b", "ip", "route", "show", "table", "all")).stdout,
          (await lab.exec("b", "ip", "-6", "route", "show", "table", "all")).stdout,
        ].join("\n---\n").split("\n").filter((l) => !l.includes("fe80:")).join("\n");

      const token = await m.token(2);
      // e is a member, advertising no exit node yet.
      await m.start("e", ["--join", token, "--advertise", "203.0.113.2:51820"]);
      assert.equal(await curl(), HOME, "without weft, b goes out directly through its router");
      const before = await snapshot();

      // A name no member has.
      await m.start("b", ["--join", token, "--exit-node", "nosuch"]);
      await m.settle(["e", "b"]);
      await waitExit(
        /^exit node\s+nosuch: unknown \(no member is named or addressed nosuch\); outside traffic is blocked$/,
        "unknown",
      );
      await assertBlocked("unknown");
      const js = JSON.parse((await weft("b", "status", "--json")).stdout).node.exitNode;
      assert.deepEqual(
        [js.state, js.traffic, js.fallback, js.inUse],
        ["unknown", "blocked", false, null],
        JSON.stringify(js),
      );
      await m.stop("b");
      assert.equal(await snapshot(), before, "b's rules and routes after it stopped");
      assert.equal(await curl(), HOME, "the blocking is gone with b");

      // A member that is no exit node, then one not approved, then approved, then stopped.
      await m.start("b", ["--exit-node", "e"]);
      await waitExit(/^exit node\s+e: not an exit node \(e does not advertise/, "not an exit node");
      await assertBlocked("not an exit node");
      await m.stop("e");
      await m.start("e", ["--advertise-exit-node", "--advertise", "203.0.113.2:51820"]);
      await waitExit(
        /^exit node\s+e: not approved \(.*weft route approve e exit\)/,
        "not approved",
      );
      await assertBlocked("not approved");
      const approve = await weft("lead", "route", "approve", "e", "exit");
      assert.equal(approve.code, 0, approve.stderr);
      await waitExit(/^exit node\s+e \(10\.93\.0\.\d+\)$/, "in use");
      assert.ok(
        await eventually(async () => (await curl()) === "203.0.113.2", HANG_GUARD_MS, 250),
        `b does not reach w through e: ${await curl()}\n${m.log("b").slice(-3000)}`,
      );
      await m.stop("e");
      await waitExit(
        /^exit node\s+e: offline \(e is offline\); outside traffic is blocked$/,
        "offline",
      );
      await assertBlocked("offline");
      assert.match(m.log("b"), /exit node not usable: outside traffic blocked.*state="?offline/);
      await m.stop("b");
      assert.equal(await snapshot(), before, "b's rules and routes after it stopped, blocked");

      // With the fallback: direct while e is away, and the status says so.
      await m.start("b", ["--exit-node", "e", "--exit-node-fallback"]);
      await waitExit(
        /^exit node\s+e: offline \(e is offline\); traffic goes out directly \(exit-node-fallback\)$/,
        "fallback",
      );
      assert.equal(await curl(), HOME, "fallback: direct");
      await m.stop("b");
      assert.equal(await snapshot(), before);
    } finally {
      await m.close();
    }
  },
});
