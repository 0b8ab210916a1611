/**
 * Leaving and removal through the real CLI, on userspace agents on loopback (issue 26, items 4
 * and 9). A leader, two providers of `echo` (HTTP backends in this test process, each answering
 * with its own name) and a caller: a provider stopped with SIGTERM says bye, and the caller's next
 * calls all succeed on the other one, none waiting for a timeout; the leader lists it offline;
 * restarted, it is back in rotation. Then `weft node remove`: a node exits 1 with `removed from
 * the mesh by the leader`, one started with `--on-removed wait` stays up, and the first, joining
 * again with a new token and no `--hostname`, gets its old name back.
 */
import assert from "node:assert/strict";
import { freePort, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { selfCommand } from "../../lib/demo/self.ts";

const [CMD, ...PRE] = selfCommand();

/** A spawned weft agent whose stderr is collected. */
interface Proc {
  child: Deno.ChildProcess;
  log: () => string;
  exited: Promise<Deno.CommandStatus>;
  status: string;
  state: string;
}

function spawn(args: string[], state: string, status: string): Proc {
  const child = new Deno.Command(CMD, {
    args: [...PRE, ...args, "--state-dir", state, "--status-listen", status],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const dec = new TextDecoder();
  child.stderr.pipeTo(new WritableStream({ write: (c) => void (log += dec.decode(c)) }))
    .catch(() => {});
  return { child, log: () => log, exited: child.status, status, state };
}

/** A backend answering every action with the name of the node it stands behind. */
function backend(node: string): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      await req.body?.cancel();
      return Response.json({ node });
    },
  );
}

const COMMON = ["--userspace", "--dns-port", "0", "--listen-port", "0"];

Deno.test({
  name:
    "leaving: a provider stopped with SIGTERM leaves the rotation at once and comes back; a removed node exits 1 (or waits), and rejoins under its old name",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-leave-" });
    const backends = { p1: backend("p1"), p2: backend("p2") };
    const lport = freePort();
    const procs: Proc[] = [];
    const start = (name: string, args: string[]) => {
      const p = spawn(
        [...COMMON, ...args],
        `${dir}/${name}`,
        `127.0.0.1:${freePort("tcp")}`,
      );
      procs.push(p);
      return p;
    };
    const on = (p: Proc) => (...a: string[]) =>
      weft([...a, "--status-listen", p.status, "--state-dir", p.state]);
    const leader = spawn(
      [
        "--leader",
        "--userspace",
        "--dns-port",
        "0",
        "--cidr",
        "10.214.0.0/24",
        "--listen-port",
        String(lport),
        "--advertise",
        `127.0.0.1:${lport}`,
        "--hostname",
        "boss",
      ],
      `${dir}/leader`,
      `127.0.0.1:${freePort("tcp")}`,
    );
    procs.push(leader);
    const onLeader = on(leader);
    const logs = () => procs.map((p) => `--- ${p.state}\n${p.log()}`).join("\n");
    try {
      assert.ok(
        await eventually(async () => (await onLeader("token", "list")).code === 0, HANG_GUARD_MS),
        leader.log(),
      );
      const token = (await onLeader("token", "create")).stdout.trim();
      const provider = (name: "p1" | "p2", join: string[]) =>
        start(name, [
          ...join,
          "--hostname",
          name,
          "--service-http",
          `echo=http://127.0.0.1:${backends[name].addr.port}`,
        ]);
      provider("p1", ["--join", token]);
      let p2 = provider("p2", ["--join", token]);
      const caller = start("c", ["--join", token, "--hostname", "c"]);
      const onCaller = on(caller);

      /** The caller's instances of echo: node name, healthy. */
      const instances = async (): Promise<{ node: string; healthy: boolean }[] | null> => {
        const r = await onCaller("service", "list", "--json");
        if (r.code !== 0) return null;
        const echo = JSON.parse(r.stdout).find((s: { name: string }) => s.name === "echo");
        return echo?.instances ?? [];
      };
      const bothHealthy = async () =>
        (await instances())?.filter((i) => i.healthy).map((i) => i.node).join(",") === "p1,p2";
      assert.ok(await eventually(bothHealthy, HANG_GUARD_MS), logs());
      const call = async () => {
        const r = await onCaller("call", "echo/x", "{}");
        assert.equal(r.code, 0, `${r.stderr}\n${logs()}`);
        return JSON.parse(r.stdout).node as string;
      };
      // Round-robin over both. (A first call to a provider waits for its handshake with the
      // caller, which under load may take longer than the call's 5 s: such a call is tried again.)
      const answeredByBoth = async () => {
        const by = new Set<string>();
        const both = await eventually(async () => {
          const r = await onCaller("call", "echo/x", "{}");
          if (r.code === 0) by.add(JSON.parse(r.stdout).node);
          return by.size === 2;
        }, HANG_GUARD_MS);
        assert.ok(both, `answered by ${[...by]}\n${logs()}`);
      };
      await answeredByBoth();

      // p2 stops on purpose: it says bye before it goes.
      p2.child.kill("SIGTERM");
      assert.equal((await p2.exited).code, 0, p2.log());
      assert.match(p2.log(), /left the mesh/);
      // Every call from now on succeeds, on p1: none goes to p2 and waits for its timeout.
      for (let i = 0; i < 6; i++) assert.equal(await call(), "p1");
      assert.deepEqual((await instances())!.map((i) => i.node), ["p1"], "p2 withdrawn");
      const nodes = JSON.parse((await onLeader("node", "list", "--json")).stdout).nodes as {
        name: string;
        address: string;
        offline?: boolean;
      }[];
      const p2Record = nodes.find((n) => n.name === "p2")!;
      assert.equal(p2Record.offline, true, "still a member, offline");
      assert.match((await onLeader("node", "list")).stdout, /^p2\s+\S+\s+node \(offline\)/m);
      assert.match(leader.log(), /node left: offline until it says hello again name=p2/);

      // Restarted (its state directory, no token), p2 says hello and is back in rotation.
      p2 = spawn(
        [...COMMON, "--service-http", `echo=http://127.0.0.1:${backends.p2.addr.port}`],
        p2.state,
        p2.status,
      );
      procs.push(p2);
      assert.ok(await eventually(bothHealthy, HANG_GUARD_MS), logs());
      await answeredByBoth();
      const back = JSON.parse((await onLeader("node", "list", "--json")).stdout).nodes
        .find((n: { name: string }) => n.name === "p2");
      assert.equal(back.offline, undefined);
      assert.equal(back.address, p2Record.address, "same address");

      // Removal: r1 exits 1 and says why; r2, told to wait, stays up.
      const r1 = start("r1", ["--join", token, "--hostname", "r1"]);
      const r2 = start("r2", ["--join", token, "--hostname", "r2", "--on-removed", "wait"]);
      const joined = async () => {
        const r = await onLeader("node", "list", "--json");
        if (r.code !== 0) return false;
        const names = JSON.parse(r.stdout).nodes.map((n: { name: string }) => n.name);
        return names.includes("r1") && names.includes("r2");
      };
      assert.ok(await eventually(joined, HANG_GUARD_MS), logs());
      // Each has said hello (its join was confirmed) before it is removed.
      for (const p of [r1, r2]) {
        assert.ok(
          await eventually(
            async () => (await on(p)("node", "list")).stdout.includes("boss"),
            HANG_GUARD_MS,
          ),
          p.log(),
        );
      }
      const r1Key = JSON.parse((await onLeader("node", "list", "--json")).stdout).nodes
        .find((n: { name: string }) => n.name === "r1").publicKey;
      assert.equal((await onLeader("node", "remove", "r1")).code, 0);
      assert.equal((await onLeader("node", "remove", "r2")).code, 0);
      assert.equal((await r1.exited).code, 1, r1.log());
      assert.match(r1.log(), /removed from the mesh by the leader/);
      assert.ok(
        await eventually(
          () => Promise.resolve(/removed from the mesh by the leader/.test(r2.log())),
          HANG_GUARD_MS,
        ),
        r2.log(),
      );
      assert.match(r2.log(), /running on with no peers \(--on-removed wait\)/);
      const status = await on(r2)("node", "list", "--json");
      assert.equal(status.code, 0, `r2 still runs: ${status.stderr}`);
      const exitedYet = await Promise.race([r2.exited.then(() => true), Promise.resolve(false)]);
      assert.equal(exitedYet, false);

      // r1 joins again with a new token and no --hostname: its old name, not the machine's.
      const token2 = (await onLeader("token", "create")).stdout.trim();
      const again = spawn([...COMMON, "--join", token2], r1.state, r1.status);
      procs.push(again);
      const rejoined = async () => {
        const r = await onLeader("node", "list", "--json");
        if (r.code !== 0) return false;
        return JSON.parse(r.stdout).nodes.some((n: { name: string; publicKey: string }) =>
          n.publicKey === r1Key
        );
      };
      assert.ok(await eventually(rejoined, HANG_GUARD_MS), again.log());
      const rec = JSON.parse((await onLeader("node", "list", "--json")).stdout).nodes
        .find((n: { publicKey: string }) => n.publicKey === r1Key);
      assert.equal(rec.name, "r1");
    } finally {
      for (const p of procs) {
        try {
          p.child.kill("SIGTERM");
        } catch { /* gone */ }
      }
      await Promise.all(procs.map((p) => p.exited));
      await Promise.all(Object.values(backends).map((b) => b.shutdown()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
