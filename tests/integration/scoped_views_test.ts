/**
 * Views scoped by policy through the real CLI (userspace, loopback): a leader with a policy and
 * three labelled nodes; `weft node list` and `weft status` on a node show only the members it may
 * reach or be reached by. `weft policy apply` with a narrower policy and the node drops the other
 * member (its node list and peers no longer hold it, a ping to it fails); wider again, and it is
 * back and answers.
 */
import assert from "node:assert/strict";
import { freePort, type Running, startMeshAgent, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";

// web may reach db (any protocol: pings pass), nothing else is allowed.
const WIDE = `
defaults: { inbound: deny, outbound: allow }
policies:
  - name: web-db
    action: allow
    from: "role=web"
    to: "role=db"
`;
// Only ops may reach db: web's view loses db, ops' gains it.
const NARROW = WIDE.replace('"role=web"', '"role=ops"');

Deno.test({
  name:
    "scoped views: a node knows only whom the policy lets it reach; a narrower policy drops a member, a wider one brings it back",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-scoped-" });
    const running: Running[] = [];
    const status: Record<string, string> = {};
    const on = (name: string, ...args: string[]) =>
      weft([...args, "--status-listen", status[name], "--state-dir", `${dir}/${name}`]);
    const json = async (name: string, ...args: string[]) => {
      const r = await on(name, ...args, "--json");
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    // What `weft node list` and `weft status` on `name` show, by name, itself left out.
    const listed = async (name: string) =>
      ((await json(name, "node", "list")).nodes as { name: string }[])
        .map((n) => n.name).filter((n) => n !== name).sort().join(",");
    const peers = async (name: string) =>
      ((await json(name, "status")).peers as { name: string }[])
        .map((p) => p.name).sort().join(",");
    const sees = (name: string, want: string) =>
      eventually(
        async () => (await listed(name)) === want && (await peers(name)) === want,
        HANG_GUARD_MS,
        200,
      );
    const ping = (name: string, address: string) =>
      on(name, "ping", address, "--count", "1", "--timeout", "2000");
    const apply = async (text: string) => {
      await Deno.writeTextFile(`${dir}/policy.yaml`, text);
      const r = await on("lead", "policy", "apply", `${dir}/policy.yaml`);
      assert.equal(r.code, 0, r.stderr);
    };
    try {
      const lp = freePort();
      status.lead = `127.0.0.1:${freePort("tcp")}`;
      running.push(
        await startMeshAgent("lead", [
          "--leader",
          "--userspace",
          "--cidr",
          "10.213.0.0/24",
          "--state-dir",
          `${dir}/lead`,
          "--listen-port",
          String(lp),
          "--advertise",
          `127.0.0.1:${lp}`,
          "--hostname",
          "lead",
          "--dns-port",
          "0",
        ], status.lead),
      );
      await apply(WIDE);
      for (const [name, role] of [["web", "web"], ["db", "db"], ["ops", "ops"]]) {
        const t = await on("lead", "token", "create", "--label", `role=${role}`);
        assert.equal(t.code, 0, t.stderr);
        status[name] = `127.0.0.1:${freePort("tcp")}`;
        running.push(
          await startMeshAgent(name, [
            "--join",
            t.stdout.trim(),
            "--userspace",
            "--state-dir",
            `${dir}/${name}`,
            "--hostname",
            name,
            "--listen-port",
            String(freePort()),
            "--dns-port",
            "0",
          ], status[name]),
        );
      }
      const all = (await json("lead", "node", "list")).nodes as { name: string; address: string }[];
      const addr = Object.fromEntries(all.map((n) => [n.name, n.address]));
      assert.deepEqual(Object.keys(addr).sort(), ["db", "lead", "ops", "web"]);

      // Each node knows the leader and whom it may reach or be reached by, nothing else.
      assert.ok(
        await sees("web", "db,lead"),
        `web: ${await listed("web")} / ${await peers("web")}`,
      );
      assert.ok(await sees("db", "lead,web"), `db: ${await listed("db")}`);
      assert.ok(await sees("ops", "lead"), `ops: ${await listed("ops")}`);
      assert.ok(
        await eventually(async () => (await ping("web", addr.db)).code === 0, HANG_GUARD_MS, 200),
        "web pings db",
      );

      // Narrower: web loses db (its record, its peer); ops gains it.
      await apply(NARROW);
      assert.ok(await sees("web", "lead"), `web: ${await listed("web")} / ${await peers("web")}`);
      assert.ok(await sees("ops", "db,lead"), `ops: ${await listed("ops")}`);
      assert.ok(await sees("db", "lead,ops"), `db: ${await listed("db")}`);
      const refused = await ping("web", addr.db);
      assert.notEqual(refused.code, 0, refused.stdout);
      assert.ok(
        await eventually(async () => (await ping("ops", addr.db)).code === 0, HANG_GUARD_MS, 200),
        "ops pings db",
      );

      // Wider again: db comes back to web, and answers.
      await apply(WIDE);
      assert.ok(
        await sees("web", "db,lead"),
        `web: ${await listed("web")} / ${await peers("web")}`,
      );
      assert.ok(await sees("ops", "lead"), `ops: ${await listed("ops")}`);
      assert.ok(
        await eventually(async () => (await ping("web", addr.db)).code === 0, HANG_GUARD_MS, 200),
        "web pings db again",
      );
    } finally {
      for (const r of running.reverse()) await r.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
