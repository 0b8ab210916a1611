/**
 * Sessions on demand through the real CLI, on userspace agents on loopback (issue 28): a leader
 * and three nodes, n1 started with `--keep-peer n3`. n1 knows n2 (a configured peer) but has
 * never exchanged a packet with it: `weft status` shows it `idle`, with no handshake on either
 * side. The first datagram n1 sends to n2 starts the handshake and is delivered after it (no
 * sync, no sweep to wait for); then n2 is up on n1. n3, kept, has a session without any traffic.
 * The leader's mesh view shows n2|n3, which neither side uses, as idle.
 */
import assert from "node:assert/strict";
import { freePort, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { selfCommand } from "../../lib/demo/self.ts";

const [CMD, ...PRE] = selfCommand();

interface Proc {
  child: Deno.ChildProcess;
  log: () => string;
  status: string;
  state: string;
}

interface PeerDoc {
  name: string;
  address: string;
  health: string;
  hasSession: boolean;
  handshakes: number;
  lastHandshake: string | null;
  persistentKeepalive: number;
}

function spawn(args: string[], state: string, status: string): Proc {
  const child = new Deno.Command(CMD, {
    args: [...PRE, ...args, "--state-dir", state, "--status-listen", status, "--no-lan-discovery"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const dec = new TextDecoder();
  child.stderr.pipeTo(new WritableStream({ write: (c) => void (log += dec.decode(c)) }))
    .catch(() => {});
  return { child, log: () => log, status, state };
}

const COMMON = ["--userspace", "--dns-port", "0", "--listen-port", "0"];

Deno.test({
  name:
    "sessions on demand: a never-contacted peer is idle with no handshake; the first datagram to it is delivered; a kept peer has a session without traffic",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-ondemand-" });
    const lport = freePort();
    const procs: Proc[] = [];
    const start = (name: string, args: string[]) => {
      const p = spawn(args, `${dir}/${name}`, `127.0.0.1:${freePort("tcp")}`);
      procs.push(p);
      return p;
    };
    const on = (p: Proc) => (...a: string[]) =>
      weft([...a, "--status-listen", p.status, "--state-dir", p.state]);
    const logs = () => procs.map((p) => `--- ${p.state}\n${p.log()}`).join("\n");
    const peers = async (p: Proc): Promise<PeerDoc[]> => {
      const r = await on(p)("status", "--json");
      return r.code === 0 ? JSON.parse(r.stdout).peers : [];
    };
    const peer = async (p: Proc, name: string) => (await peers(p)).find((x) => x.name === name);
    try {
      const leader = start("lead", [
        "--leader",
        "--userspace",
        "--dns-port",
        "0",
        "--listen-port",
        String(lport),
        "--cidr",
        "10.215.0.0/24",
        "--advertise",
        `127.0.0.1:${lport}`,
        "--hostname",
        "lead",
      ]);
      assert.ok(
        await eventually(async () => (await on(leader)("token", "list")).code === 0, HANG_GUARD_MS),
        leader.log(),
      );
      const token = (await on(leader)("token", "create")).stdout.trim();
      const n1 = start("n1", [...COMMON, "--join", token, "--hostname", "n1", "--keep-peer", "n3"]);
      const n2 = start("n2", [...COMMON, "--join", token, "--hostname", "n2"]);
      const n3 = start("n3", [...COMMON, "--join", token, "--hostname", "n3"]);

      // n1 knows every member; the leader (kept) and n3 (--keep-peer) get sessions, no traffic.
      assert.ok(
        await eventually(async () => {
          const ps = await peers(n1);
          const by = (n: string) => ps.find((x) => x.name === n);
          return ps.length === 3 && by("lead")?.hasSession === true &&
            by("n3")?.hasSession === true && by("n3")?.health === "up";
        }, HANG_GUARD_MS),
        `n1 keeps the leader and n3\n${JSON.stringify(await peers(n1))}\n${logs()}`,
      );
      // n2 as well knows n1 and n3 by now; nothing has gone between n1 and n2.
      assert.ok(
        await eventually(async () => (await peers(n2)).length === 3, HANG_GUARD_MS),
        logs(),
      );
      const cold = (await peer(n1, "n2"))!;
      assert.equal(cold.health, "idle", `${JSON.stringify(cold)}\n${logs()}`);
      assert.equal(cold.hasSession, false);
      assert.equal(cold.handshakes, 0);
      assert.equal(cold.lastHandshake, null);
      assert.equal(cold.persistentKeepalive, 0, "no keepalive to an idle peer");
      const coldBack = (await peer(n2, "n1"))!;
      assert.equal(coldBack.health, "idle", JSON.stringify(coldBack));
      assert.equal(coldBack.handshakes, 0);
      assert.equal((await peer(n1, "n3"))!.persistentKeepalive, 25, "a kept peer's keepalive");
      // n3's side of the kept session: n1's keepalives hold it there too.
      assert.ok(
        await eventually(async () => (await peer(n3, "n1"))?.hasSession === true, HANG_GUARD_MS),
        logs(),
      );
      const table = await on(n1)("status");
      assert.match(table.stdout, /^n2\s.*\bidle\b/m, table.stdout);

      // The leader's mesh view: n2|n3 is used by neither side, and both report afresh: idle.
      assert.ok(
        await eventually(async () => {
          const r = await fetch(`http://${leader.status}/status`);
          const doc = await r.json() as {
            mesh?: { links: { a: string; b: string; state: string }[] };
          };
          return doc.mesh?.links.find((l) => l.a === "n2" && l.b === "n3")?.state === "idle";
        }, HANG_GUARD_MS),
        logs(),
      );

      // The first datagram to the cold peer: it waits for the handshake and is delivered.
      const recv = new Deno.Command(CMD, {
        args: [
          ...PRE,
          "recv",
          "7000",
          "-n",
          "1",
          "--status-listen",
          n2.status,
          "--state-dir",
          n2.state,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const recvErr = recv.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let said = "";
      while (!said.includes("listening on port 7000")) {
        const { value, done } = await recvErr.read();
        if (done) throw new Error(`weft recv ended before listening: ${said}`);
        said += value;
      }
      const sent = await on(n1)("send", cold.address, "7000", "first");
      assert.equal(sent.code, 0, sent.stderr);
      const guard = setTimeout(() => recv.kill("SIGKILL"), HANG_GUARD_MS);
      const out = new TextDecoder().decode(await new Response(recv.stdout).arrayBuffer());
      clearTimeout(guard);
      await recvErr.cancel();
      assert.equal((await recv.status).code, 0, `${said}\n${logs()}`);
      assert.match(out.trim(), /^10\.215\.0\.\d+:\d+ first$/, out);

      // After traffic, n2 is up on n1 (a session, health probes).
      assert.ok(
        await eventually(async () => {
          const p = await peer(n1, "n2");
          return p?.health === "up" && p.hasSession;
        }, HANG_GUARD_MS),
        `${JSON.stringify(await peer(n1, "n2"))}\n${logs()}`,
      );
      assert.equal((await peer(n1, "n2"))!.persistentKeepalive, 25, "an active peer's keepalive");
    } finally {
      for (const p of procs) {
        try {
          p.child.kill("SIGTERM");
        } catch { /* gone */ }
      }
      await Promise.allSettled(procs.map((p) => p.child.status));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
