/**
 * The service commands through the real CLI, on userspace agents on loopback: a leader and a
 * node whose `echo` service is an HTTP backend in this test process (`--service-http`). Calls,
 * publish and subscribe, the service list and leader; and bad input: an unknown service, a
 * malformed JSON argument, a backend that hangs, an oversized answer and request, each a clear
 * error with its exit code, and nothing stuck afterwards.
 */
import assert from "node:assert/strict";
import { freePort, HOST_AGENT_FLAGS, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { selfCommand } from "../../lib/demo/self.ts";

const [CMD, ...PRE] = selfCommand();

/** A spawned weft process whose stderr is collected. */
function spawn(args: string[], stdout: "piped" | "null" = "null") {
  const child = new Deno.Command(CMD, { args: [...PRE, ...args], stdout, stderr: "piped" })
    .spawn();
  let log = "";
  const dec = new TextDecoder();
  const pump = child.stderr.pipeTo(
    new WritableStream({ write: (c) => void (log += dec.decode(c)) }),
  ).catch(() => {});
  return { child, log: () => log, pump };
}

Deno.test({
  name: "service CLI: call, publish, subscribe, service list/leader; bad input is a clear error",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-svc-cli-" });
    // The backend: say echoes, big answers 17 MB (over the 16 MiB limit of a message).
    const backend = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        const action = new URL(req.url).pathname.slice(1);
        const params = await req.json();
        if (action === "big") return Response.json("x".repeat(17_000_000));
        return Response.json({ echoed: params, action });
      },
    );
    // A backend that hangs: it reads requests and never answers; open connections are counted.
    const stall = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    let stalled = 0;
    const held: Deno.Conn[] = [];
    const stalling = (async () => {
      for await (const conn of stall) {
        stalled++;
        held.push(conn);
        (async () => {
          const buf = new Uint8Array(4096);
          try {
            while ((await conn.read(buf)) !== null) { /* never answered */ }
          } catch { /* reset */ }
          stalled--;
        })();
      }
    })().catch(() => {});
    const lport = freePort();
    const lstatus = `127.0.0.1:${freePort("tcp")}`;
    const nstatus = `127.0.0.1:${freePort("tcp")}`;
    const common = ["--userspace", ...HOST_AGENT_FLAGS, "--dns-port", "0"];
    const leader = spawn([
      "--leader",
      ...common,
      "--cidr",
      "10.213.0.0/24",
      "--state-dir",
      `${dir}/leader`,
      "--listen-port",
      String(lport),
      "--advertise",
      `127.0.0.1:${lport}`,
      "--status-listen",
      lstatus,
      "--hostname",
      "boss",
    ]);
    const procs = [leader];
    const at = (status: string, state: string) => (...a: string[]) =>
      weft([...a, "--status-listen", status, "--state-dir", `${dir}/${state}`]);
    const onLeader = at(lstatus, "leader");
    const onNode = at(nstatus, "n1");
    try {
      assert.ok(
        await eventually(async () => (await onLeader("token", "list")).code === 0, HANG_GUARD_MS),
        leader.log(),
      );
      const token = (await onLeader("token", "create")).stdout.trim();
      const node = spawn([
        "--join",
        token,
        ...common,
        "--state-dir",
        `${dir}/n1`,
        "--hostname",
        "n1",
        "--listen-port",
        String(freePort()),
        "--status-listen",
        nstatus,
        "--service-http",
        `echo=http://127.0.0.1:${backend.addr.port}`,
        "--service-check",
        `echo=tcp://127.0.0.1:${backend.addr.port},interval=500ms`,
        "--service-http",
        `stall=http://127.0.0.1:${stall.addr.port}`,
      ]);
      procs.push(node);

      // The leader learns of echo, its healthy instance on n1 and its leader.
      const listed = await eventually(async () => {
        const r = await onLeader("service", "list", "--json");
        if (r.code !== 0) return false;
        const echo = JSON.parse(r.stdout).find((s: { name: string }) => s.name === "echo");
        return echo?.instances[0]?.healthy === true && echo.leader?.node === "n1";
      }, HANG_GUARD_MS);
      assert.ok(listed, `${leader.log()}\n${node.log()}`);
      const table = await onLeader("service", "list");
      assert.match(table.stdout, /^SERVICE\s+INSTANCES\s+LEADER$/m);
      assert.match(table.stdout, /^echo\s+n1 \(healthy\)\s+n1 \(10\.213\.0\.\d+\)$/m);
      const ownTable = await onNode("service", "list");
      assert.match(ownTable.stdout, /^echo\s+n1\* \(healthy\)/m, "this node marked");
      const lead = await onLeader("service", "leader", "echo");
      assert.equal(lead.code, 0, lead.stderr);
      assert.match(lead.stdout.trim(), /^n1 10\.213\.0\.\d+$/);
      const none = await onLeader("service", "leader", "nope");
      assert.equal(none.code, 1);
      assert.match(none.stderr, /no such service: nope/, "nobody offers it: no election to ask");

      // Calls from the leader go to n1's backend, over the mesh.
      const ok = await onLeader("call", "echo/say", '{"n": 1}');
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual(JSON.parse(ok.stdout), { echoed: { n: 1 }, action: "say" });
      const noParams = await onLeader("call", "echo/say");
      assert.deepEqual(JSON.parse(noParams.stdout), { echoed: null, action: "say" });
      const fromStdin = await weft(
        ["call", "echo/say", "-", "--status-listen", lstatus, "--state-dir", `${dir}/leader`],
        '["a", 2]',
      );
      assert.deepEqual(JSON.parse(fromStdin.stdout).echoed, ["a", 2]);

      // Bad input: each a clear message and its exit code.
      const unknown = await onLeader("call", "nope/x");
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /^weft: no-instance: no node provides nope$/m);
      const malformed = await onLeader("call", "echo/say", "{n: 1");
      assert.equal(malformed.code, 2);
      assert.match(malformed.stderr, /the params are not JSON/);
      const noAction = await onLeader("call", "echo");
      assert.equal(noAction.code, 2);
      assert.match(noAction.stderr, /bad-request: bad service path "echo"/);
      const hung = await onLeader("call", "stall/x", "1", "--timeout", "700", "--retries", "0");
      assert.equal(hung.code, 1);
      assert.match(hung.stderr, /^weft: timeout: no answer from n1 within 700 ms/m);
      // The node gave the backend call up with the caller: its connection is closed.
      // (Under load the request may reach the backend after the caller gave up: n1 gives it up
      // by the request's deadline then.)
      assert.ok(
        await eventually(() => Promise.resolve(held.length === 1 && stalled === 0), HANG_GUARD_MS),
        `the backend got ${held.length} requests, ${stalled} still open`,
      );
      const big = await onLeader("call", "echo/big");
      assert.equal(big.code, 1);
      assert.match(big.stderr, /too-large: the backend's answer is \d+ bytes, over 16777216/);
      const tooBig = await weft(
        ["call", "echo/say", "-", "--status-listen", lstatus, "--state-dir", `${dir}/leader`],
        JSON.stringify("y".repeat(17_000_000)),
      );
      // Within the API's limit (agent_commands_test.ts: that boundary), over the message's.
      assert.equal(tooBig.code, 1);
      assert.match(tooBig.stderr, /^weft: too-large: .*over the limit of 16777216/m);
      // Nothing stuck: the next call is answered.
      const after = await onLeader("call", "echo/say", "2");
      assert.equal(after.code, 0, after.stderr);

      // Subscribers on n1 (two) and the leader; events published on either reach each once.
      const subscriber = (status: string, state: string, pattern: string, extra: string[] = []) =>
        spawn([
          "subscribe",
          pattern,
          ...extra,
          "--status-listen",
          status,
          "--state-dir",
          `${dir}/${state}`,
        ], "piped");
      const subs = [
        subscriber(nstatus, "n1", "news/*"),
        subscriber(nstatus, "n1", "news/>"),
        subscriber(lstatus, "leader", "news/*"),
      ];
      procs.push(...subs);
      const outputs = subs.map((s) => {
        const lines: Record<string, unknown>[] = [];
        let buf = "";
        const dec = new TextDecoder();
        const done = s.child.stdout.pipeTo(
          new WritableStream({
            write: (c) => {
              buf += dec.decode(c);
              let nl;
              while ((nl = buf.indexOf("\n")) >= 0) {
                lines.push(JSON.parse(buf.slice(0, nl)));
                buf = buf.slice(nl + 1);
              }
            },
          }),
        ).catch(() => {});
        return { lines, done };
      });
      for (const s of subs) {
        assert.ok(
          await eventually(() => Promise.resolve(/subscribed to/.test(s.log())), HANG_GUARD_MS),
          s.log(),
        );
      }
      // Until each subscriber has heard a warm-up event, the publisher may not know them yet.
      const warm = await eventually(async () => {
        await onLeader("publish", "news/warm", "1");
        return outputs.every((o) => o.lines.some((l) => l.topic === "news/warm"));
      }, HANG_GUARD_MS);
      assert.ok(warm, subs.map((s) => s.log()).join("\n"));
      const pub = await onLeader("publish", "news/text", "hello there", "--json");
      assert.equal(pub.code, 0, pub.stderr);
      assert.deepEqual(JSON.parse(pub.stdout), { local: 1, nodes: 1, acked: 1, unacked: [] });
      const pub2 = await onNode("publish", "news/json", '{"v": [1]}');
      assert.match(pub2.stdout, /delivered to 2 local subscribers and sent to 1 node \(1 ack/);
      await onNode("publish", "news/deep/x", "3");
      for (const [i, o] of outputs.entries()) {
        const want = i === 1 ? 3 : 2; // news/> also matches news/deep/x
        assert.ok(
          await eventually(
            () => Promise.resolve(o.lines.filter((l) => l.topic !== "news/warm").length >= want),
            HANG_GUARD_MS,
          ),
          JSON.stringify(o.lines),
        );
      }
      for (const [i, o] of outputs.entries()) {
        const got = o.lines.filter((l) => l.topic !== "news/warm");
        assert.deepEqual(
          got.map((l) => [l.topic, l.data]),
          [
            ["news/text", "hello there"],
            ["news/json", { v: [1] }],
            ...(
              i === 1 ? [["news/deep/x", 3]] : []
            ),
          ],
        );
        assert.equal(got[0].publisher, "boss");
        assert.equal(got[1].publisher, "n1");
      }
      // SIGINT and SIGTERM end a subscriber cleanly.
      subs[0].child.kill("SIGINT");
      subs[2].child.kill("SIGTERM");
      assert.equal((await subs[0].child.status).code, 0, subs[0].log());
      assert.equal((await subs[2].child.status).code, 0, subs[2].log());
      const badPattern = await onLeader("subscribe", "news//x");
      assert.equal(badPattern.code, 2);
      assert.match(badPattern.stderr, /agent answered 400/);
      const badMode = await onLeader("publish", "news/x", "1", "--mode", "some");
      assert.equal(badMode.code, 2);
    } finally {
      for (const p of procs) {
        try {
          p.child.kill("SIGTERM");
        } catch { /* gone */ }
      }
      await Promise.allSettled(procs.map((p) => p.child.status));
      await Promise.allSettled(procs.map((p) => p.pump));
      stall.close();
      for (const c of held) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await stalling;
      await backend.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
