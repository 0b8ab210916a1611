/**
 * The state directory holds the private key and the control token: others may not read it; and
 * one agent at a time uses it (a lock file in it).
 */
import assert from "node:assert/strict";
import { JoinError, MeshAgent } from "../../lib/mesh/mesh_agent.ts";
import { StateDir } from "../../lib/mesh/state/state.ts";
import { createLogger } from "../../lib/log/logger.ts";
import { freePort, HOST_AGENT_FLAGS, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { selfCommand } from "../../lib/demo/self.ts";
import { DirLockedError } from "../../lib/config/dir_lock.ts";

const [CMD, ...PRE] = selfCommand();

Deno.test({
  name: "state directory: an existing one with mode 0755 is tightened to 0700 at start, logged",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-labels-" });
    const lines: string[] = [];
    const lp = freePort();
    const logger = createLogger({ format: "json", sink: (line) => void lines.push(line) });
    try {
      await Deno.mkdir(`${dir}/leader`, { mode: 0o755 });
      await Deno.chmod(`${dir}/leader`, 0o755);
      const leader = await MeshAgent.start({
        role: "leader",
        stateDir: `${dir}/leader`,
        hostname: "leader",
        userspace: true,
        listenPort: lp,
        advertise: [`127.0.0.1:${lp}`],
        dnsPort: 0,
        probes: false,
        logger,
      });
      await leader.close();
      assert.equal((await Deno.stat(`${dir}/leader`)).mode! & 0o777, 0o700);
      assert.ok(lines.some((l) => /tightened to 0700/.test(l) && /0755/.test(l)), lines.join(""));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "state directory: a second MeshAgent on it is refused until the first closes",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-lock-" });
    const [p1, p2] = [freePort(), freePort()];
    const start = (port: number) =>
      MeshAgent.start({
        role: "leader",
        stateDir: dir,
        hostname: "leader",
        userspace: true,
        listenPort: port,
        advertise: [`127.0.0.1:${port}`],
        dnsPort: 0,
        probes: false,
        logger: createLogger({ level: "error" }),
      });
    try {
      const first = await start(p1);
      try {
        const e = await start(p2).then(() => null, (e) => e);
        assert.ok(e instanceof DirLockedError, String(e));
        assert.equal(e.pid, Deno.pid);
        assert.match(e.message, /^state directory .* is in use by another process \(PID \d+\)/);
        // The second start left no socket behind: its port is free.
        Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: p2 }).close();
        assert.equal(first.leader!.leader.endpoints[0], `127.0.0.1:${p1}`);
      } finally {
        await first.close();
      }
      const again = await start(p2);
      await again.close();
      const saved = JSON.parse(await Deno.readTextFile(`${dir}/leader.json`));
      assert.deepEqual(saved.members[0].endpoints, [`127.0.0.1:${p2}`]);

      // A start that fails gives the lock up: its port taken, after the lock.
      const taken = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: p1 });
      try {
        await assert.rejects(start(p1));
      } finally {
        taken.close();
      }
      // A node with nothing to start from, before it: the lock it was given is released.
      const lock = await new StateDir(`${dir}/node`).lock();
      await assert.rejects(
        MeshAgent.start({ role: "node", stateDir: `${dir}/node`, hostname: "n", stateLock: lock }),
        JoinError,
      );
      assert.equal(lock.held, false);
      const labelled = await new StateDir(`${dir}/node`).lock();
      await assert.rejects(
        MeshAgent.start({
          role: "node",
          stateDir: `${dir}/node`,
          hostname: "n",
          labels: { role: "admin" },
          stateLock: labelled,
        }),
        JoinError,
      );
      assert.equal(labelled.held, false);
      (await new StateDir(dir).lock()).release();
      (await new StateDir(`${dir}/node`).lock()).release();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A `weft` process; killed (and the test failed) if it has not exited within the guard. */
async function weftExits(args: string[]): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(CMD, {
    args: [...PRE, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    const out = await child.output();
    assert.notEqual(out.signal, "SIGKILL", "it did not exit: still running after 20 s");
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** A long-running `weft` agent on loopback, its stderr collected. */
function spawnAgent(args: string[]): { child: Deno.ChildProcess; log: () => string } {
  const child = new Deno.Command(CMD, {
    args: [...PRE, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  child.stderr.pipeTo(
    new WritableStream({ write: (c) => void (log += new TextDecoder().decode(c)) }),
  ).catch(() => {});
  return { child, log: () => log };
}

Deno.test({
  name: "state directory: a second `weft` on it exits 1 naming it and the PID; the first runs on",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-lock-cli-" });
    const lport = freePort();
    const status = `127.0.0.1:${freePort("tcp")}`;
    const leaderArgs = (port: number, listen: string) => [
      "--leader",
      "--userspace",
      ...HOST_AGENT_FLAGS,
      "--state-dir",
      `${dir}/leader`,
      "--listen-port",
      String(port),
      "--advertise",
      `127.0.0.1:${port}`,
      "--status-listen",
      listen,
      "--hostname",
      "boss",
      "--dns-port",
      "0",
    ];
    const nodeArgs = (extra: string[]) => [
      ...extra,
      "--userspace",
      ...HOST_AGENT_FLAGS,
      "--state-dir",
      `${dir}/node`,
      "--hostname",
      "n1",
      "--listen-port",
      String(freePort()),
      "--status-listen",
      `127.0.0.1:${freePort("tcp")}`,
      "--dns-port",
      "0",
    ];
    const ctl = (...a: string[]) =>
      weft([...a, "--status-listen", status, "--state-dir", `${dir}/leader`]);
    const up = async (listen: string) => {
      const r = await weft(["status", "--json", "--status-listen", listen]);
      return r.code === 0
        ? (JSON.parse(r.stdout) as { node: { name: string; listenPort: number } }).node
        : null;
    };
    const running: { child: Deno.ChildProcess; log: () => string }[] = [];
    try {
      const leader = spawnAgent(leaderArgs(lport, status));
      running.push(leader);
      assert.ok(
        await eventually(async () => (await up(status)) !== null, HANG_GUARD_MS),
        leader.log(),
      );
      const pid = leader.child.pid;
      const inUse = (path: string) =>
        new RegExp(
          `^weft: state directory ${escape(path)} is in use by another process \\(PID ${pid}\\): ` +
            "stop that agent first, or give this one another --state-dir$",
          "m",
        );

      // A second leader on the same directory, with ports of its own: refused at once.
      const status2 = `127.0.0.1:${freePort("tcp")}`;
      const second = await weftExits(leaderArgs(freePort(), status2));
      assert.equal(second.code, 1, second.stderr);
      assert.match(second.stderr, inUse(`${dir}/leader`));
      assert.equal(await up(status2), null, "the second never served");
      // `weft` alone reads the role from the directory: it is locked before that.
      const bare = await weftExits(["--state-dir", `${dir}/leader`, "--dns-port", "0"]);
      assert.equal(bare.code, 1, bare.stderr);
      assert.match(bare.stderr, inUse(`${dir}/leader`));

      // The first runs on: it answers, through commands that need no lock.
      const st = await up(status);
      assert.equal(st?.name, "boss");
      assert.equal(st?.listenPort, lport);
      const token = (await ctl("token", "create", "--uses", "2")).stdout.trim();
      assert.match(token, /^weft/);
      const saved = await new StateDir(`${dir}/leader`).readLeader();
      assert.deepEqual(saved!.members[0].endpoints, [`127.0.0.1:${lport}`]);
      assert.equal(leader.child.pid, pid);
      assert.ok(!/state directory/.test(leader.log()), leader.log());

      // A joined node's directory is locked the same way.
      const node = spawnAgent(nodeArgs(["--join", token]));
      running.push(node);
      assert.ok(
        await eventually(
          async () =>
            JSON.parse(await Deno.readTextFile(`${dir}/node/node.json`).catch(() => "{}"))
              .address !== undefined,
          HANG_GUARD_MS,
        ),
        node.log(),
      );
      const nodeRe = new RegExp(
        `^weft: state directory ${
          escape(`${dir}/node`)
        } is in use by another process \\(PID ${node.child.pid}\\)`,
      );
      const rejoin = await weftExits(nodeArgs(["--join", token]));
      assert.equal(rejoin.code, 1, rejoin.stderr);
      assert.match(rejoin.stderr, nodeRe);
      const restart = await weftExits(nodeArgs([]));
      assert.equal(restart.code, 1, restart.stderr);
      assert.match(restart.stderr, nodeRe);

      // Stopped, the leader gives the directory up: a new one starts on it.
      leader.child.kill("SIGTERM");
      assert.equal((await leader.child.status).code, 0, leader.log());
      const status3 = `127.0.0.1:${freePort("tcp")}`;
      const next = spawnAgent(leaderArgs(lport, status3));
      running.push(next);
      assert.ok(
        await eventually(async () => (await up(status3)) !== null, HANG_GUARD_MS),
        next.log(),
      );
      // Killed (SIGKILL), the node's lock goes with it: it restarts from its state.
      node.child.kill("SIGKILL");
      await node.child.status;
      const node2 = spawnAgent(nodeArgs([]));
      running.push(node2);
      assert.ok(
        await eventually(
          async () => (await Deno.readTextFile(`${dir}/node/lock`)) === `${node2.child.pid}\n`,
          HANG_GUARD_MS,
        ),
        node2.log(),
      );
      assert.ok(!/in use/.test(node2.log()), node2.log());
    } finally {
      for (const r of running) {
        try {
          r.child.kill("SIGTERM");
        } catch { /* gone */ }
      }
      await Promise.allSettled(running.map((r) => r.child.status));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
