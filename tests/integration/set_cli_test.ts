/**
 * `weft set` through the real CLI (userspace mode, loopback): a joined node changes its own
 * labels and the services it offers at runtime; the leader's `weft node list` and its DNS server
 * (asked with `dig`) have them without a restart, a restart keeps them over the flags it was
 * started with, `--reset` goes back to those flags. Bad input is a usage error that changes
 * nothing, and the change goes over the agent's local socket only (not with the control token).
 */
import assert from "node:assert/strict";
import { freePort, type Running, startMeshAgent, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS, haveCommands } from "../fixtures/netns.ts";
import type { Member } from "../../lib/members/member.ts";

const DIG = await haveCommands("dig");

/** The A records `dig` gets for `name` from the DNS server at 127.0.0.1:`port`, sorted. */
async function digA(port: number, name: string): Promise<string[]> {
  const out = await new Deno.Command("dig", {
    args: ["@127.0.0.1", "-p", String(port), "+tries=1", "+short", name, "A"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").sort();
}

Deno.test({
  name:
    "weft set: own labels and services change at runtime, reach the leader and DNS, survive a restart",
  ignore: !DIG,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-set-" });
    const dnsPort = freePort();
    const lport = freePort();
    const status = `127.0.0.1:${freePort("tcp")}`;
    const nodeDir = `${dir}/n1`;
    const nodeStatus = `127.0.0.1:${freePort("tcp")}`;
    const agents: Running[] = [];
    const leaderCtl = (...a: string[]) =>
      weft([...a, "--status-listen", status, "--state-dir", `${dir}/leader`]);
    const record = async (): Promise<Member | undefined> => {
      const r = await leaderCtl("node", "list", "--json");
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout).nodes as Member[]).find((m) => m.name === "n1");
    };
    const seen = (m: Member | undefined) =>
      JSON.stringify({
        labels: m?.nodeLabels ?? {},
        services: (m?.services ?? []).map((s) => `${s.name}:${s.port}/${s.protocol}`).sort(),
      });
    const until = async (want: string, why: string) => {
      let last = "";
      assert.ok(
        await eventually(async () => (last = seen(await record())) === want, HANG_GUARD_MS),
        `${why}: the leader has ${last}, want ${want}`,
      );
    };
    try {
      agents.push(
        await startMeshAgent("lead", [
          "--leader",
          "--userspace",
          "--cidr",
          "10.95.0.0/24",
          "--state-dir",
          `${dir}/leader`,
          "--hostname",
          "lead",
          "--listen-port",
          String(lport),
          "--advertise",
          `127.0.0.1:${lport}`,
          "--dns-port",
          String(dnsPort),
        ], status),
      );
      const tok = await leaderCtl("token", "create");
      assert.equal(tok.code, 0, tok.stderr);
      const nodeArgs = [
        "--join",
        tok.stdout.trim(),
        "--userspace",
        "--state-dir",
        nodeDir,
        "--hostname",
        "n1",
        "--listen-port",
        String(freePort()),
        "--dns-port",
        "0",
        "--label",
        "node.weft/tier=a",
        "--service",
        "db:5432/tcp",
      ];
      let node = await startMeshAgent("n1", nodeArgs, nodeStatus);
      agents.push(node);
      const configured = JSON.stringify({
        labels: { "node.weft/tier": "a" },
        services: ["db:5432/tcp"],
      });
      await until(configured, "joined");
      const address = (await record())!.address;
      assert.deepEqual(await digA(dnsPort, "db.overlay.local"), [address]);

      // At runtime, through the node's socket: only what the flags name changes.
      const set = await weft([
        "set",
        "--state-dir",
        nodeDir,
        "--label",
        "node.weft/env=prod",
        "--remove-label",
        "node.weft/tier",
        "--service",
        "web:8080/tcp",
        "--remove-service",
        "db",
      ]);
      assert.equal(set.code, 0, set.stderr);
      assert.match(set.stdout, /labels node\.weft\/env=prod\nservices web:8080\/tcp/);
      const changed = JSON.stringify({
        labels: { "node.weft/env": "prod" },
        services: ["web:8080/tcp"],
      });
      await until(changed, "after weft set");
      assert.ok(
        await eventually(
          async () => (await digA(dnsPort, "web.overlay.local")).join() === address,
          HANG_GUARD_MS,
        ),
      );
      assert.deepEqual(await digA(dnsPort, "db.overlay.local"), []);

      // Bad input is refused as the start flags are, and changes nothing.
      const granted = await weft(["set", "--state-dir", nodeDir, "--label", "role=db"]);
      assert.equal(granted.code, 2, granted.stderr);
      assert.match(granted.stderr, /a node sets only its own labels, under node\.weft\//);
      const badService = await weft(["set", "--state-dir", nodeDir, "--service", "web:99999"]);
      assert.equal(badService.code, 2, badService.stderr);
      assert.match(badService.stderr, /invalid service "web:99999": bad port/);
      const none = await weft(["set", "--state-dir", nodeDir]);
      assert.equal(none.code, 2, none.stderr);
      // Over TCP with the control token: refused, the socket only.
      const remote = await weft([
        "set",
        "--status-listen",
        nodeStatus,
        "--state-dir",
        nodeDir,
        "--label",
        "node.weft/x=y",
      ]);
      assert.equal(remote.code, 2, remote.stderr);
      assert.match(remote.stderr, /over the agent's local socket only/);
      assert.equal(seen(await record()), changed);

      // A restart with the same flags keeps what was set over them: once the leader heard the
      // new run's hello, its record is still the one weft set made.
      const firstRun = (await record())!.run;
      assert.ok(firstRun);
      await node.stop();
      agents.splice(agents.indexOf(node), 1);
      node = await startMeshAgent("n1", nodeArgs, nodeStatus);
      agents.push(node);
      assert.ok(
        await eventually(async () => {
          const m = await record();
          return m?.run !== undefined && m.run !== firstRun && !m.offline;
        }, HANG_GUARD_MS),
        "the restarted node said hello",
      );
      assert.equal(seen(await record()), changed);

      // --reset: back to the flags it was started with.
      const reset = await weft(["set", "--state-dir", nodeDir, "--reset"]);
      assert.equal(reset.code, 0, reset.stderr);
      await until(configured, "after --reset");
      assert.ok(
        await eventually(
          async () => (await digA(dnsPort, "db.overlay.local")).join() === address,
          HANG_GUARD_MS,
        ),
      );
    } finally {
      for (const a of agents.reverse()) await a.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
