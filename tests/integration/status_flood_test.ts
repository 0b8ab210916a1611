/**
 * The agent under a connection flood on its status port: a leader (userspace, DNS on) runs under
 * a hard limit of 1,024 file descriptors, so raising the soft limit cannot help it, and the test
 * holds 2,000 idle connections and 2,000 slowloris ones (a request head that never ends, a header
 * line now and then). Before, about 1,000 of them ended the agent ("Too many open files" in
 * Deno.serve's accept). Now, while all of them are held, the leader answers /healthz, DNS over
 * UDP and TCP, and a ping through the tunnel to a second node, and it is still alive.
 */
import assert from "node:assert/strict";
import { freePort } from "../fixtures/procs.ts";
import { selfCommand } from "../../lib/demo/self.ts";
import { HANG_GUARD_MS } from "../fixtures/netns.ts";
import { ControlClient } from "../../lib/control/client.ts";
import { parsePrometheus, promValue } from "../unit/prom_parse.ts";

const IDLE = 2000;
const SLOW = 2000;
/** Connections opened at once while flooding (the listener's backlog takes the rest). */
const BATCH = 100;

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
    const held: Deno.Conn[] = [];
    let dripping = true;
    try {
      const leader = spawn(["prlimit", "--nofile=1024:1024", "--"], [
        "--leader",
        "--userspace",
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

      // The flood: idle sockets, then slowloris ones that send part of a head and drip more.
      const enc = new TextEncoder();
      const open = async (n: number, first?: Uint8Array) => {
        for (let i = 0; i < n; i += BATCH) {
          const got = await Promise.allSettled(
            Array.from({ length: Math.min(BATCH, n - i) }, async () => {
              const c = await Deno.connect({ hostname: host, port });
              held.push(c);
              if (first) await c.write(first).catch(() => {});
            }),
          );
          if (leader.exited()) {
            await new Promise((r) => setTimeout(r, 200)); // for its last words
            const failed = got.filter((g) => g.status === "rejected").length;
            throw new Error(
              `the agent exited under the flood (${failed} refused):\n${leader.log()}`,
            );
          }
        }
      };
      await open(IDLE);
      await open(SLOW, enc.encode(`GET /healthz HTTP/1.1\r\nHost: ${status}\r\n`));
      const slow = held.slice(IDLE);
      const drip = (async () => {
        const line = enc.encode("X-Slow: 1\r\n");
        while (dripping) {
          for (const c of slow) c.write(line).catch(() => {});
          await new Promise((r) => setTimeout(r, 1000));
        }
      })();

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
        "--timeout",
        "3000",
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
      dripping = false;
      await drip;
    } finally {
      dripping = false;
      for (const c of held) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await Promise.allSettled(procs.map((p) => p.stop()));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
