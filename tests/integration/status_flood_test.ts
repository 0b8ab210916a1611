/**
 * The agent under a connection flood on its status port: a leader (userspace, DNS on) runs under
 * a hard limit of 1,024 file descriptors, so raising the soft limit cannot help it, and the test
 * holds 2,000 idle connections and 2,000 slowloris ones (a request head that never ends, a header
 * line now and then). Before, about 1,000 of them ended the agent ("Too many open files" in
 * Deno.serve's accept). Now, while all of them are held, the leader answers /healthz, DNS over
 * UDP and TCP, and a ping through the tunnel to a second node, and it is still alive.
 */
import assert from "node:assert/strict";
import { freePort, HOST_AGENT_FLAGS } from "../fixtures/procs.ts";
import { selfCommand } from "../../lib/demo/self.ts";
import { HANG_GUARD_MS } from "../fixtures/netns.ts";
import { ControlClient } from "../../lib/control/client.ts";
import { parsePrometheus, promValue } from "../fixtures/prom_parse.ts";

const IDLE = 2000;
const SLOW = 2000;

interface Proc {
  child: Deno.ChildProcess;
  log: () => string;
  exited: () => boolean;
  stop: () => Promise<void>;
}

function spawn(prefix: string[], args: string[]): Proc {
  const [cmd, ...pre] = [...prefix, ...selfCommand()];
  const child = new Deno.Command(cmd, {
    args: [...pre, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  let exited = false;
  const dec = new TextDecoder();
  const pump = child.stderr.pipeTo(
    new WritableStream({ write: (c) => void (log += dec.decode(c)) }),
  ).catch(() => {});
  const status = child.status.then(() => void (exited = true));
  return {
    child,
    log: () => log,
    exited: () => exited,
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await status;
      await pump;
    },
  };
}

async function until(p: Proc, cond: () => boolean | Promise<boolean>, what: string) {
  const give = Date.now() + HANG_GUARD_MS;
  while (!(await cond())) {
    if (p.exited()) throw new Error(`the agent exited waiting for ${what}:\n${p.log()}`);
    if (Date.now() > give) throw new Error(`no ${what} (hang guard):\n${p.log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

Deno.test({
  name: "status flood: 2,000 idle + 2,000 slowloris sockets under 1,024 fds; health, DNS, tunnel",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-flood-" });
    const dnsPort = freePort();
    const status = `127.0.0.1:${freePort("tcp")}`;
    const [host, portText] = status.split(":");
    const port = Number(portText);
    const procs: Proc[] = [];
    let attacker: Deno.ChildProcess | undefined;
    try {
      const leader = spawn(["prlimit", "--nofile=1024:1024", "--"], [
        "--leader",
        "--userspace",
        ...HOST_AGENT_FLAGS,
        "--hostname",
        "boss",
        "--state-dir",
        `${dir}/leader`,
        "--listen-port",
        String(freePort()),
        "--dns-port",
        String(dnsPort),
        "--status-listen",
        status,
      ]);
      procs.push(leader);
      await until(leader, () => leader.log().includes("status listening"), "leader");
      const token = (await Deno.readTextFile(`${dir}/leader/control.token`)).trim();
      const client = new ControlClient(status, token);
      const join = await client.createToken({ ttl: "1h", uses: 1 });
      const nodeStatus = `127.0.0.1:${freePort("tcp")}`;
      const node = spawn([], [
        "--join",
        join.token,
        "--userspace",
        ...HOST_AGENT_FLAGS,
        "--hostname",
        "n1",
        "--state-dir",
        `${dir}/n1`,
        "--listen-port",
        String(freePort()),
        "--dns-port",
        "0",
        "--status-listen",
        nodeStatus,
      ]);
      procs.push(node);
      await until(node, () => node.log().includes("status listening"), "node");
      let members: { name: string; address: string }[] = [];
      await until(leader, async () => {
        members = (await client.nodes()).nodes;
        return members.length === 2;
      }, "two members");
      const n1 = members.find((m) => m.name === "n1")!.address;

      // The flood, from a process of its own (its sockets count against its own limit).
      const flood = new Deno.Command("prlimit", {
        args: [
          "--nofile=8192:8192",
          "--",
          Deno.execPath(),
          "run",
          "-A",
          new URL("./status_flood_child.ts", import.meta.url).pathname,
          host,
          String(port),
          String(IDLE),
          String(SLOW),
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      attacker = flood;
      const said = flood.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      while (!out.includes("\n")) {
        const r = await said.read();
        if (r.done) throw new Error(`the flood ended early: ${out}`);
        out += r.value;
        if (leader.exited()) {
          await new Promise((r) => setTimeout(r, 200)); // for its last words
          throw new Error(`the agent exited under the flood:\n${leader.log()}`);
        }
      }
      said.releaseLock();
      // More sockets than the agent has descriptors: the attack is real.
      const heldCount = Number(/^held (\d+)/.exec(out)?.[1]);
      assert.ok(heldCount > 1024, `held ${heldCount}`);
      if (leader.exited()) throw new Error(`the agent exited under the flood:\n${leader.log()}`);

      // While every socket is held: health, DNS over UDP and TCP, a ping through the tunnel.
      await until(leader, async () => {
        try {
          const r = await fetch(`http://${status}/healthz`);
          return (await r.text()) === "ok\n";
        } catch {
          return false;
        }
      }, "/healthz");
      for (const transport of ["+notcp", "+tcp"]) {
        const dig = await run("dig", [
          "@127.0.0.1",
          "-p",
          String(dnsPort),
          "+tries=3",
          "+short",
          transport,
          "n1.overlay.local",
          "A",
        ]);
        assert.equal(dig.out.trim(), n1, `dig ${transport}: ${dig.out}`);
      }
      const ping = await run(selfCommand()[0], [
        ...selfCommand().slice(1),
        "ping",
        n1,
        "-c",
        "2",
        "--timeout", // a guard, not a bound: both replies must come, however slowly
        String(HANG_GUARD_MS),
        "--status-listen",
        status,
        "--state-dir",
        `${dir}/leader`,
      ]);
      assert.match(ping.out, /2 received/, ping.out);
      const metrics = parsePrometheus(await (await fetch(`http://${status}/metrics`)).text());
      const dropped = promValue(metrics, "weft_listener_connections_dropped_total", {
        listener: "http",
        reason: "evicted",
      });
      assert.ok(dropped > 0, "the guard made room by closing idle connections");
      assert.ok(!leader.exited(), `the agent is alive:\n${leader.log()}`);
    } finally {
      if (attacker) {
        try {
          attacker.kill("SIGKILL");
        } catch { /* gone */ }
        await attacker.status;
        await attacker.stdout.cancel().catch(() => {});
      }
      await Promise.allSettled(procs.map((p) => p.stop()));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
