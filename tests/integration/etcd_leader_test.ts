/**
 * A leader whose state lives in etcd, through the real CLI (userspace mode, loopback) and a real
 * etcd started by each test: a node joins, the leader restarted keeps everything; etcd killed:
 * `weft token create` fails with the store's message (exit 1), the control API answers 503 and
 * status still answers (its store line says what failed); etcd back: a token is made and a node
 * joins without a restart of the leader. And `weft store migrate`: a file-store mesh moved into
 * etcd, the leader restarted on it, its old node still pings it and an old token still joins.
 */

import assert from "node:assert/strict";
import { freePort, type Running, startMeshAgent, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { hasEtcd, startEtcd } from "../fixtures/etcd.ts";
import { StateDir } from "../../lib/mesh/state/state.ts";

const ETCD_OK = await hasEtcd();

function etcdTest(name: string, fn: () => Promise<void>) {
  Deno.test({ name, ignore: !ETCD_OK, sanitizeOps: false, sanitizeResources: false, fn });
}

/** A leader's command line: fixed ports so a restart keeps its endpoint. */
function leaderArgs(dir: string, port: number, store: string[]): string[] {
  return [
    "--leader",
    "--userspace",
    "--cidr",
    "10.213.0.0/24",
    "--state-dir",
    `${dir}/leader`,
    "--listen-port",
    String(port),
    "--advertise",
    `127.0.0.1:${port}`,
    "--hostname",
    "boss",
    "--dns-port",
    "0",
    ...store,
  ];
}

/** Starts an agent and remembers its status address. */
async function start(
  name: string,
  args: string[],
): Promise<Running & { status: string; dir: string }> {
  const status = `127.0.0.1:${freePort("tcp")}`;
  const dir = args[args.indexOf("--state-dir") + 1];
  return { ...(await startMeshAgent(name, args, status)), status, dir };
}

async function nodeStart(
  dir: string,
  name: string,
  token: string | null,
): Promise<Running & { status: string; dir: string }> {
  return await start(name, [
    ...(token ? ["--join", token] : []),
    "--userspace",
    "--state-dir",
    `${dir}/${name}`,
    "--hostname",
    name,
    "--listen-port",
    String(freePort()),
    "--dns-port",
    "0",
  ]);
}

async function statusJson(status: string): Promise<{
  node: { name?: string; addresses: string[]; store?: { ok: boolean; error?: string } };
}> {
  const r = await fetch(`http://${status}/status`);
  return await r.json();
}

async function nodeNames(status: string, dir: string): Promise<string[]> {
  const r = await weft(["node", "list", "--json", "--status-listen", status, "--state-dir", dir]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { nodes?: { name: string }[] } | { name: string }[];
  const list = Array.isArray(out) ? out : out.nodes ?? [];
  return list.map((n) => n.name).sort();
}

/** `weft ping` from the agent at `status` to `address`: whether every echo came back. */
async function pings(
  agent: { status: string; dir: string },
  address: string,
): Promise<boolean> {
  const r = await weft([
    "ping",
    address,
    "-c",
    "1",
    "--timeout",
    "2000",
    "--status-listen",
    agent.status,
    "--state-dir",
    agent.dir,
  ]);
  return r.code === 0 && /1 received/.test(r.stdout);
}

async function withDir(fn: (dir: string, running: Running[]) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weft-etcd-leader-" });
  const running: Running[] = [];
  try {
    await fn(dir, running);
  } finally {
    await Promise.allSettled(running.map((r) => r.stop()));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

etcdTest(
  "etcd leader: joins, restart keeps all, store lost: writes refused, reads answer; back: resumes",
  async () => {
    const cluster = await startEtcd();
    try {
      await withDir(async (dir, running) => {
        const port = freePort();
        const store = ["--store", cluster.url, "--store-prefix", "/mesh-a/"];
        // A node given a store is a configuration error.
        const nodeWithStore = await weft(["--join", "x", "--userspace", "--store", cluster.url]);
        assert.equal(nodeWithStore.code, 2, nodeWithStore.stderr);
        assert.match(nodeWithStore.stderr, /--store: only a leader keeps the mesh's state/);

        let leader = await start("boss", leaderArgs(dir, port, store));
        running.push(leader);
        const ctl = (...a: string[]) =>
          weft([...a, "--status-listen", leader.status, "--state-dir", `${dir}/leader`]);
        const t1 = await ctl("token", "create", "--uses", "5");
        assert.equal(t1.code, 0, t1.stderr);
        const n1 = await nodeStart(dir, "n1", t1.stdout.trim());
        running.push(n1);
        const leaderAddr = (await statusJson(leader.status)).node.addresses[0].split("/")[0];
        assert.ok(await eventually(() => pings(n1, leaderAddr), HANG_GUARD_MS));
        assert.deepEqual((await statusJson(leader.status)).node.store?.ok, true);

        // The leader restarted (its state directory holds only its key): everything is in etcd.
        await leader.stop();
        running.splice(running.indexOf(leader), 1);
        leader = await start("boss", leaderArgs(dir, port, store));
        running.push(leader);
        assert.deepEqual(await nodeNames(leader.status, `${dir}/leader`), ["boss", "n1"]);
        const tokens = await ctl("token", "list", "--json");
        assert.equal(tokens.code, 0, tokens.stderr);
        assert.match(tokens.stdout, /"usesLeft":\s*4/);
        assert.ok(await eventually(() => pings(n1, leaderAddr), HANG_GUARD_MS));

        // etcd gone: writes are refused with the store's message, reads still answer.
        await cluster.members[0].kill();
        const refused = await ctl("token", "create");
        assert.equal(refused.code, 1, refused.stdout + refused.stderr);
        assert.match(refused.stderr, /the store (is unreachable|has no quorum) \(etcd: /);
        const token = await new StateDir(`${dir}/leader`).controlToken();
        const api = await fetch(`http://${leader.status}/v1/tokens`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: "{}",
        });
        assert.equal(api.status, 503);
        assert.match((await api.json()).error, /the store (is unreachable|has no quorum)/);
        assert.deepEqual(await nodeNames(leader.status, `${dir}/leader`), ["boss", "n1"]);
        assert.ok(
          await eventually(
            async () => (await statusJson(leader.status)).node.store?.ok === false,
            HANG_GUARD_MS,
          ),
        );
        const st = await weft(["status", "--status-listen", leader.status]);
        assert.equal(st.code, 0, st.stderr);
        assert.match(st.stdout, /^store +etcd:\/\/\S+ FAILING: the store/m);
        // Members keep their data plane.
        assert.ok(await pings(n1, leaderAddr));

        // etcd back: the same leader makes a token and a node joins with it.
        await cluster.members[0].restart();
        assert.ok(
          await eventually(
            async () => (await statusJson(leader.status)).node.store?.ok === true,
            HANG_GUARD_MS,
          ),
        );
        const t2 = await ctl("token", "create", "--uses", "1");
        assert.equal(t2.code, 0, t2.stderr);
        const n2 = await nodeStart(dir, "n2", t2.stdout.trim());
        running.push(n2);
        assert.ok(await eventually(() => pings(n2, leaderAddr), HANG_GUARD_MS));
        assert.deepEqual(await nodeNames(leader.status, `${dir}/leader`), ["boss", "n1", "n2"]);
        // One warning when it failed (its recovery is an info line, on standard output).
        assert.match(leader.stderr(), /WARN store failing store=etcd:\/\/\S+ error="the store/);
        const ok = await weft(["status", "--status-listen", leader.status]);
        assert.match(ok.stdout, /^store +etcd:\/\/\S+ ok/m);
      });
    } finally {
      await cluster.destroy();
    }
  },
);

etcdTest(
  "etcd leader: a store unreachable at start stops the leader, naming the store",
  async () => {
    await withDir(async (dir) => {
      const url = `etcd://127.0.0.1:${freePort("tcp")}`;
      const r = await weft([
        ...leaderArgs(dir, freePort(), ["--store", url]),
        "--no-lan-discovery",
        "--status-listen",
        `127.0.0.1:${freePort("tcp")}`,
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /cannot start the leader: the state in etcd:\/\/127\.0\.0\.1:\d+ under \/weft\/: the store is unreachable/,
      );
    });
  },
);

etcdTest(
  "etcd leader: weft store migrate moves a file-store mesh; its node and old token still work",
  async () => {
    const cluster = await startEtcd();
    try {
      await withDir(async (dir, running) => {
        const port = freePort();
        let leader = await start("boss", leaderArgs(dir, port, []));
        running.push(leader);
        const ctl = (...a: string[]) =>
          weft([...a, "--status-listen", leader.status, "--state-dir", `${dir}/leader`]);
        const t = await ctl("token", "create", "--uses", "3");
        assert.equal(t.code, 0, t.stderr);
        const n1 = await nodeStart(dir, "n1", t.stdout.trim());
        running.push(n1);
        const leaderAddr = (await statusJson(leader.status)).node.addresses[0].split("/")[0];
        const n1Addr = (await statusJson(n1.status)).node.addresses[0].split("/")[0];
        assert.ok(await eventually(() => pings(n1, leaderAddr), HANG_GUARD_MS));

        // A running leader's directory is refused (its lock).
        const busy = await weft([
          "store",
          "migrate",
          "--from",
          `${dir}/leader`,
          "--to",
          cluster.url,
        ]);
        assert.equal(busy.code, 1, busy.stderr);
        assert.match(busy.stderr, /is in use by another process/);

        await leader.stop();
        running.splice(running.indexOf(leader), 1);
        // Started on etcd before the migration: refused, the mesh in its directory is not lost.
        // Its own status port, not the default: 51880 is in Linux's ephemeral range (32768 and
        // up), where any loopback connection of another test may hold it as its source port.
        const early = await weft([
          ...leaderArgs(dir, port, ["--store", cluster.url]),
          "--status-listen",
          `127.0.0.1:${freePort("tcp")}`,
        ]);
        assert.equal(early.code, 1, early.stderr);
        assert.match(early.stderr, /holds a mesh of its own \(leader\.json\).*weft store migrate/);
        const moved = await weft([
          "store",
          "migrate",
          "--from",
          `${dir}/leader`,
          "--to",
          cluster.url,
        ]);
        assert.equal(moved.code, 0, moved.stderr);
        assert.match(moved.stdout, /moved 2 members and 1 tokens/);
        // Moved: a second run finds nothing to move; given the old file back, it finds the
        // prefix holds a mesh and refuses (nothing is overwritten).
        const none = await weft([
          "store",
          "migrate",
          "--from",
          `${dir}/leader`,
          "--to",
          cluster.url,
        ]);
        assert.equal(none.code, 1);
        assert.match(none.stderr, /holds no leader's state/);
        await Deno.copyFile(`${dir}/leader/leader.json.migrated`, `${dir}/leader/leader.json`);
        const again = await weft([
          "store",
          "migrate",
          "--from",
          `${dir}/leader`,
          "--to",
          cluster.url,
        ]);
        assert.equal(again.code, 1);
        assert.match(again.stderr, /holds a mesh already/);
        await Deno.remove(`${dir}/leader/leader.json`);

        // The leader on etcd, on its own state directory (its key), role from that directory;
        // without --cidr it takes the mesh's network (10.213.0.0/24, not the default) from etcd.
        leader = await start("boss", [
          "--userspace",
          "--state-dir",
          `${dir}/leader`,
          "--listen-port",
          String(port),
          "--advertise",
          `127.0.0.1:${port}`,
          "--dns-port",
          "0",
          "--store",
          cluster.url,
        ]);
        running.push(leader);
        assert.equal((await statusJson(leader.status)).node.store?.ok, true);
        assert.deepEqual(await nodeNames(leader.status, `${dir}/leader`), ["boss", "n1"]);
        assert.ok(await eventually(() => pings(n1, leaderAddr), HANG_GUARD_MS));
        assert.ok(await eventually(() => pings(leader, n1Addr), HANG_GUARD_MS));
        // The token made before the migration still joins.
        const n2 = await nodeStart(dir, "n2", t.stdout.trim());
        running.push(n2);
        assert.ok(await eventually(() => pings(n2, n1Addr), HANG_GUARD_MS));
        assert.deepEqual(await nodeNames(leader.status, `${dir}/leader`), ["boss", "n1", "n2"]);
      });
    } finally {
      await cluster.destroy();
    }
  },
);

etcdTest("etcd leader: TLS to etcd with --store-ca, --store-cert and --store-key", async () => {
  const cluster = await startEtcd({ tls: true });
  try {
    await withDir(async (dir, running) => {
      const pki = cluster.tls!;
      for (const [f, pem] of [["ca", pki.ca], ["cert", pki.cert], ["key", pki.key]]) {
        await Deno.writeTextFile(`${dir}/${f}.pem`, pem, { mode: 0o600 });
      }
      const leader = await start("boss", [
        ...leaderArgs(dir, freePort(), [
          "--store",
          cluster.url,
          "--store-ca",
          `${dir}/ca.pem`,
          "--store-cert",
          `${dir}/cert.pem`,
          "--store-key",
          `${dir}/key.pem`,
        ]),
      ]);
      running.push(leader);
      const t = await weft([
        "token",
        "create",
        "--status-listen",
        leader.status,
        "--state-dir",
        `${dir}/leader`,
      ]);
      assert.equal(t.code, 0, t.stderr);
      assert.equal((await statusJson(leader.status)).node.store?.ok, true);
      // Without the client certificate the cluster refuses the leader: it does not start.
      const bare = await weft([
        ...leaderArgs(`${dir}/other`, freePort(), [
          "--store",
          cluster.url,
          "--store-ca",
          `${dir}/ca.pem`,
        ]),
        "--no-lan-discovery",
        "--status-listen",
        `127.0.0.1:${freePort("tcp")}`,
      ]);
      assert.equal(bare.code, 1, bare.stderr);
      assert.match(bare.stderr, /cannot start the leader: the state in etcd:\/\//);
    });
  } finally {
    await cluster.destroy();
  }
});
