/**
 * Errors that must not vanish. A component the user asked for that cannot start stops the agent
 * with its cause named, and a failed start leaves nothing open; state that cannot be saved at
 * shutdown is a failure; a subscriber's exception is logged and counted. Through the real CLI
 * (processes on loopback) and through the library (with Deno's op and resource sanitizers on,
 * so that a leaked socket, timer or poll loop fails the test).
 */
import assert from "node:assert/strict";
import { freePort, HOST_AGENT_FLAGS, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS, haveCommands } from "../fixtures/netns.ts";
import { selfCommand } from "../../lib/demo/self.ts";
import { MeshAgent, type MeshOptions } from "../../lib/mesh/mesh_agent.ts";
import { Agent } from "../../lib/agent/agent.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";
import { createLogger, nullLogger } from "../../lib/log/logger.ts";
import { promMaybe } from "../fixtures/prom_parse.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const [CMD, ...PRE] = selfCommand();

const DIG_OK = await haveCommands("dig");

interface Started {
  /** The exit status when the process ended before it served its status page. */
  exited: Deno.CommandStatus | null;
  child: Deno.ChildProcess;
  log: () => string;
  stop(): Promise<Deno.CommandStatus>;
}

/**
 * Spawns `cmd args` and waits for whichever comes first: the process exits, or its status
 * server answers. An agent that should have refused to start shows up as `exited === null`.
 */
async function startOrExit(cmd: string, args: string[], status: string): Promise<Started> {
  const child = new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "piped" })
    .spawn();
  let text = "";
  const dec = new TextDecoder();
  const pump = child.stderr.pipeTo(
    new WritableStream({ write: (c) => void (text += dec.decode(c)) }),
  );
  let exited: Deno.CommandStatus | null = null;
  const done = child.status.then(async (s) => {
    await pump.catch(() => {});
    exited = s;
    return s;
  });
  const up = await eventually(
    async () => {
      if (exited) return true;
      try {
        const r = await fetch(`http://${status}/healthz`);
        await r.body?.cancel();
        return r.ok;
      } catch {
        return false;
      }
    },
    HANG_GUARD_MS,
    100,
  );
  if (!up) {
    child.kill("SIGKILL");
    await done;
    throw new Error(`neither up nor exited:\n${text}`);
  }
  return {
    exited,
    child,
    log: () => text,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      return await done;
    },
  };
}

function leaderArgs(dir: string, status: string, extra: string[]): string[] {
  const port = freePort();
  return [
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
    status,
    "--hostname",
    "boss",
    ...extra,
  ];
}

/** Whether UDP `port` on 127.0.0.1 can be bound (false while a socket, even on ::, holds it). */
function udpFree(port: number): boolean {
  try {
    Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

const proc = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "weft --leader whose DNS port is taken exits 1 naming the cause, never runs on",
  ...proc,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-dnsbusy-" });
    const squatter = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const dnsPort = (squatter.addr as Deno.NetAddr).port;
    const status = `127.0.0.1:${freePort("tcp")}`;
    try {
      const r = await startOrExit(
        CMD,
        [...PRE, ...leaderArgs(dir, status, ["--dns-port", String(dnsPort)])],
        status,
      );
      if (r.exited === null) await r.stop();
      assert.ok(r.exited, `the leader ran on without its DNS server:\n${r.log()}`);
      assert.equal(r.exited.code, 1, r.log());
      assert.match(r.log(), /the DNS server did not start/);
      assert.match(r.log(), new RegExp(`127\\.0\\.0\\.1 port ${dnsPort}.*EADDRINUSE`));
      assert.doesNotMatch(r.log(), /status listening/);
    } finally {
      squatter.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "weft --leader whose status port is taken exits 1 naming the address",
  ...proc,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-statusbusy-" });
    const squatter = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const status = `127.0.0.1:${(squatter.addr as Deno.NetAddr).port}`;
    try {
      const r = await weft([...leaderArgs(dir, status, ["--dns-port", "0"])]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`status server cannot listen on ${status}`));
      assert.match(r.stderr, /in use/i);
    } finally {
      squatter.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "without --unstable-net, DNS answers dig and the deno transport names what it needs",
  ignore: !DIG_OK,
  ...proc,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-stable-" });
    try {
      // The project's deno.json minus its "unstable" key: how a program importing mod.ts runs.
      const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
      delete config.unstable;
      await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify(config));
      const run = [
        "run",
        "-A",
        "--config",
        `${dir}/deno.json`,
        "--lock",
        `${ROOT}deno.lock`,
        "--frozen",
      ];
      /** Runs a script the same way and returns what it prints. */
      const script = async (code: string): Promise<string> => {
        const child = new Deno.Command(Deno.execPath(), {
          args: [...run, "--ext", "ts", "-"],
          stdin: "piped",
          stdout: "piped",
        }).spawn();
        const w = child.stdin.getWriter();
        await w.write(new TextEncoder().encode(code));
        await w.close();
        return new TextDecoder().decode((await child.output()).stdout).trim();
      };
      assert.equal(
        await script("console.log(typeof Deno.listenDatagram);"),
        "undefined",
        "the unstable datagram API is really absent",
      );
      // The one transport that needs it says so when opened, instead of failing later.
      const said = await script(
        `import { DenoUdpTransport } from "${ROOT}drivers/udp_deno.ts";\n` +
          "DenoUdpTransport.open({ port: 0 }).then(() => console.log('opened'), " +
          "(e) => console.log(e.message));",
      );
      assert.match(said, /deno UDP transport needs Deno\.listenDatagram.*--unstable-net/);

      const status = `127.0.0.1:${freePort("tcp")}`;
      const dnsPort = freePort();
      const r = await startOrExit(
        Deno.execPath(),
        [...run, `${ROOT}main.ts`, ...leaderArgs(dir, status, ["--dns-port", String(dnsPort)])],
        status,
      );
      try {
        assert.equal(r.exited, null, r.log());
        const out = await new Deno.Command("dig", {
          args: ["@127.0.0.1", "-p", String(dnsPort), "+short", "+time=3", "+tries=1"].concat(
            "boss.overlay.local",
          ),
          stdout: "piped",
        }).output();
        assert.equal(new TextDecoder().decode(out.stdout).trim(), "10.200.0.1", r.log());
        assert.doesNotMatch(r.log(), /ERROR/);
      } finally {
        assert.equal((await r.stop()).code, 0, r.log());
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a node whose state cannot be written at shutdown exits 1 naming the file",
  ...proc,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-lost-" });
    const lstatus = `127.0.0.1:${freePort("tcp")}`;
    const nstatus = `127.0.0.1:${freePort("tcp")}`;
    const leader = await startOrExit(
      CMD,
      [...PRE, ...leaderArgs(dir, lstatus, ["--dns-port", "0"])],
      lstatus,
    );
    let node: Started | null = null;
    try {
      assert.equal(leader.exited, null, leader.log());
      const tok = await weft([
        "token",
        "create",
        "--status-listen",
        lstatus,
        "--state-dir",
        `${dir}/leader`,
      ]);
      assert.equal(tok.code, 0, tok.stderr);
      node = await startOrExit(CMD, [
        ...PRE,
        "--join",
        tok.stdout.trim(),
        "--userspace",
        ...HOST_AGENT_FLAGS,
        "--state-dir",
        `${dir}/node`,
        "--listen-port",
        String(freePort()),
        "--status-listen",
        nstatus,
        "--hostname",
        "n1",
        "--dns-port",
        "0",
      ], nstatus);
      assert.equal(node.exited, null, node.log());
      // The node has taken the leader's view into its state: it has something to save.
      const synced = await eventually(
        async () => {
          try {
            const s = JSON.parse(await Deno.readTextFile(`${dir}/node/node.json`));
            return s.view.version > 0;
          } catch {
            return false;
          }
        },
        HANG_GUARD_MS,
        100,
      );
      assert.ok(synced, node.log());
      await Deno.remove(`${dir}/node`, { recursive: true });
      const end = await node.stop();
      assert.equal(end.code, 1, node.log());
      assert.match(node.log(), /final state write failed file=node\.json/);
      assert.match(node.log(), /weft: state not saved at shutdown: .*node\.json/);
      assert.match(node.log(), /agent stopped/, "everything was closed all the same");
    } finally {
      await node?.stop();
      await leader.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a leader that cannot list its addresses (no --allow-sys) refuses to start unadvertised",
  ...proc,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-nosys-" });
    const status = `127.0.0.1:${freePort("tcp")}`;
    try {
      const perms = ["--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-ffi"];
      const port = freePort();
      const r = await startOrExit(Deno.execPath(), [
        "run",
        ...perms,
        `${ROOT}main.ts`,
        "--leader",
        "--userspace",
        "--state-dir",
        `${dir}/leader`,
        "--listen-port",
        String(port),
        "--status-listen",
        status,
        "--hostname",
        "boss",
        "--dns-port",
        "0",
      ], status);
      if (r.exited === null) await r.stop();
      assert.ok(r.exited, `the leader ran on, advertising loopback only:\n${r.log()}`);
      assert.equal(r.exited.code, 1, r.log());
      assert.match(r.log(), /cannot list this machine's addresses.*--advertise HOST:PORT/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---- the library: a failed start rejects and leaves nothing open (sanitizers on) ----

function meshOptions(dir: string, name: string, extra: Partial<MeshOptions>): MeshOptions {
  const port = freePort();
  return {
    role: "leader",
    stateDir: `${dir}/${name}`,
    hostname: name,
    userspace: true,
    listenPort: port,
    advertise: [`127.0.0.1:${port}`],
    dnsPort: 0,
    logger: nullLogger,
    ...extra,
  };
}

Deno.test("library: MeshAgent.start without its DNS rejects; nothing stays open", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-libdns-" });
  const squatter = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const dnsPort = (squatter.addr as Deno.NetAddr).port;
  try {
    const lead = meshOptions(dir, "boss", { dnsPort });
    await assert.rejects(MeshAgent.start(lead), /the DNS server did not start.*EADDRINUSE/);
    assert.ok(udpFree(lead.listenPort!), "the leader's WireGuard port was closed");

    // A joined node, too: after its join, a DNS port it cannot have still stops it.
    const leader = await MeshAgent.start(meshOptions(dir, "boss2", {}));
    try {
      const { token } = await leader.createToken({ ttlMs: 60_000 });
      const opts = meshOptions(dir, "n1", { role: "node", token, dnsPort });
      await assert.rejects(MeshAgent.start(opts), /the DNS server did not start/);
      assert.ok(udpFree(opts.listenPort!), "the node's WireGuard port was closed");
      // Its state was kept: with DNS off it restarts as the same member, without a token.
      const kept = JSON.parse(await Deno.readTextFile(`${dir}/n1/node.json`));
      const again = await MeshAgent.start({ ...opts, token: undefined, dnsPort: 0 });
      try {
        assert.equal(again.self?.address, kept.address);
        assert.equal(again.self?.name, "n1");
      } finally {
        await again.close();
      }
    } finally {
      await leader.close();
    }
  } finally {
    squatter.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("library: Agent.start without its UAPI socket rejects; nothing stays open", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-libuapi-" });
  try {
    // Something that is not a socket where the socket must go (a userspace agent's UAPI is
    // named after its stack, "userspace"): the UAPI server refuses it.
    await Deno.writeTextFile(`${dir}/userspace.sock`, "not a socket");
    const port = freePort();
    const lines: string[] = [];
    await assert.rejects(
      Agent.start({
        privateKey: generateKeyPair().privateKey,
        addresses: ["10.77.9.1/24"],
        listenPort: port,
        mode: "userspace",
        uapi: dir,
        logger: createLogger({ sink: (l) => lines.push(l) }),
      }).then(async (a) => {
        await a.close();
        return a;
      }),
      /UAPI socket did not start: .*not a socket/,
    );
    assert.ok(udpFree(port), "the UDP port was closed");
    assert.ok(lines.some((l) => l.includes("agent stopped")), lines.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("library: MeshAgent.close rejects when the final state write fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-libclose-" });
  const leader = await MeshAgent.start(meshOptions(dir, "boss", {}));
  try {
    const { token } = await leader.createToken({ ttlMs: 60_000 });
    const opts = meshOptions(dir, "n1", { role: "node", token });
    const node = await MeshAgent.start(opts);
    const synced = await eventually(
      async () => {
        try {
          return JSON.parse(await Deno.readTextFile(`${dir}/n1/node.json`)).view.version > 0;
        } catch {
          return false;
        }
      },
      HANG_GUARD_MS,
      50,
    );
    assert.ok(synced);
    // The running node may be writing its state into the directory as it goes (a removal then
    // finds it not empty): removed again until it is gone.
    const removed = await eventually(async () => {
      try {
        await Deno.remove(`${dir}/n1`, { recursive: true });
        return true;
      } catch {
        return false;
      }
    }, HANG_GUARD_MS);
    assert.ok(removed, "the node's state directory could not be removed");
    await assert.rejects(node.close(), /state not saved at shutdown: .*n1\/node\.json/);
    assert.ok(udpFree(opts.listenPort!), "the node's port was closed all the same");
  } finally {
    await leader.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("library: a throwing health subscriber is logged once and counted", async () => {
  const lines: string[] = [];
  const agent = await Agent.start({
    privateKey: generateKeyPair().privateKey,
    addresses: ["10.77.8.1/24"],
    listenPort: 0,
    mode: "userspace",
    logger: createLogger({ sink: (l) => lines.push(l) }),
  });
  try {
    const seen: string[] = [];
    agent.health.subscribe(() => {
      throw new Error("subscriber bug");
    });
    agent.health.subscribe((e) => seen.push(`${e.peer}:${e.to}`));
    // Three probes lost in a row take a peer down.
    for (const peer of ["p1", "p2"]) {
      for (let i = 0; i < 3; i++) agent.health.recordProbe(peer, null);
    }
    assert.deepEqual(seen, ["p1:down", "p2:down"], "the other subscribers still hear everything");
    assert.equal(agent.health.listenerErrors, 2);
    const failures = lines.filter((l) => l.includes("health listener failed"));
    assert.equal(failures.length, 1, "once per broken subscriber");
    assert.match(failures[0], /subscriber bug/);
    const text = agent.metrics.render();
    assert.equal(promMaybe(text, "weft_listener_errors_total", { source: "health" }), 2);
    assert.match(text, /^weft_listener_errors_total\{source="health"\} 2$/m);
  } finally {
    await agent.close();
  }
});

Deno.test("library: a throwing datagram listener is logged once and counted", async () => {
  const [ka, kb] = [generateKeyPair(), generateKeyPair()];
  const [pa, pb] = [freePort(), freePort()];
  const lines: string[] = [];
  const start = (me: typeof ka, port: number, address: string, peer: typeof ka, at: number) =>
    Agent.start({
      privateKey: me.privateKey,
      addresses: [`${address}/24`],
      listenPort: port,
      mode: "userspace",
      peers: [{
        publicKey: peer.publicKey,
        endpoint: `127.0.0.1:${at}`,
        allowedIps: [address === "10.77.7.1" ? "10.77.7.2/32" : "10.77.7.1/32"],
      }],
      logger: createLogger({ sink: (l) => lines.push(l) }),
    });
  const a = await start(ka, pa, "10.77.7.1", kb, pb);
  const b = await start(kb, pb, "10.77.7.2", ka, pa);
  try {
    let heard = 0;
    b.listen(7000, () => {
      heard++;
      throw new Error("listener bug");
    });
    const stats = b.stack!.stats;
    for (const n of [1, 2]) {
      a.send("10.77.7.2", 7000, new TextEncoder().encode(`hi ${n}`));
      assert.ok(
        await eventually(() => Promise.resolve(stats.listenerErrors === n), HANG_GUARD_MS, 20),
      );
    }
    assert.equal(heard, 2);
    assert.equal(
      promMaybe(b.metrics.render(), "weft_listener_errors_total", { source: "datagram" }),
      2,
    );
    const logged = lines.filter((l) => l.includes("userspace stack error"));
    assert.equal(logged.length, 1, lines.join("\n"));
    assert.match(logged[0], /listener bug/);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("library: a throwing device event listener is logged once and counted", async () => {
  const [ka, kb] = [generateKeyPair(), generateKeyPair()];
  const lines: string[] = [];
  const start = (me: typeof ka, address: string) =>
    Agent.start({
      privateKey: me.privateKey,
      addresses: [`${address}/24`],
      listenPort: 0,
      listenHost: "127.0.0.1",
      mode: "userspace",
      logger: createLogger({ sink: (l) => lines.push(l) }),
    });
  const a = await start(ka, "10.77.9.1");
  const b = await start(kb, "10.77.9.2");
  try {
    for (let i = 0; i < 2; i++) {
      a.device.onEvent(() => {
        throw new Error("event listener bug");
      });
    }
    a.device.setPeer({
      publicKey: kb.publicKey,
      endpoint: `127.0.0.1:${b.device.listenPort}`,
      allowedIps: ["10.77.9.2/32"],
    });
    b.device.setPeer({
      publicKey: ka.publicKey,
      endpoint: `127.0.0.1:${a.device.listenPort}`,
      allowedIps: ["10.77.9.1/32"],
    });
    // The handshake's event meets two broken listeners: two failures, one log line.
    assert.notEqual((await a.ping("10.77.9.2", { count: 1 })).rtts[0], null);
    const errors = () =>
      promMaybe(a.metrics.render(), "weft_listener_errors_total", { source: "device" }) ?? 0;
    assert.ok(await eventually(() => Promise.resolve(errors() >= 2), HANG_GUARD_MS, 20));
    const logged = lines.filter((l) => l.includes("device event listener failed"));
    assert.equal(logged.length, 1, lines.join("\n"));
    assert.match(logged[0], /event listener bug/);
    assert.match(
      a.metrics.render(),
      /^weft_listener_errors_total\{source="device"\} [2-9]/m,
    );
  } finally {
    await a.close();
    await b.close();
  }
});
