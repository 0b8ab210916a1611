/**
 * Every route of the status/control server against a running three-node mesh (leader and two
 * joiners as processes, userspace mode): schema, values that move with traffic, auth, errors,
 * /metrics through promtool, and health turning up once probes answer.
 */
import assert from "node:assert/strict";
import { runDemo } from "../../lib/demo/demo.ts";
import { nullLogger } from "../../lib/log/logger.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { parsePrometheus, promtoolCheck, promValue } from "../fixtures/prom_parse.ts";
import { freeDemoBase } from "../fixtures/procs.ts";

const promtool = await (async () => {
  try {
    return (await new Deno.Command("promtool", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output()).success;
  } catch {
    return false;
  }
})();

function sample(text: string, name: string, labels: Record<string, string>): number {
  return promValue(parsePrometheus(text), name, labels);
}

Deno.test({
  name: "status routes on a three-node mesh: schema, auth, errors, metrics, health",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const base = freeDemoBase();
    const demo = await runDemo({ basePort: base, logger: nullLogger, print: () => {} });
    try {
      const [leader, node1] = demo.statusAddresses;
      const url = (p: string) => `http://${leader}${p}`;
      const token = (await Deno.readTextFile(`${demo.dir}/leader/control.token`)).trim();
      const auth = { authorization: `Bearer ${token}` };
      const get = async (p: string, headers: HeadersInit = {}) => {
        const r = await fetch(url(p), { headers });
        return { status: r.status, body: await r.text(), type: r.headers.get("content-type") };
      };

      assert.equal((await get("/healthz")).status, 200);

      const st = JSON.parse((await get("/status")).body);
      for (
        const k of [
          "name",
          "role",
          "publicKey",
          "addresses",
          "listenPort",
          "version",
          "uptimeSeconds",
          "crypto",
          "drops",
        ]
      ) {
        assert.ok(k in st.node, `node.${k}`);
      }
      assert.equal(st.node.name, "leader");
      assert.equal(st.node.role, "leader");
      assert.equal(st.peers.length, 2);
      for (const p of st.peers) {
        for (
          const k of [
            "name",
            "address",
            "publicKey",
            "endpoint",
            "allowedIps",
            "lastHandshake",
            "rxBytes",
            "txBytes",
            "health",
            "rttMs",
            "loss",
          ]
        ) {
          assert.ok(k in p, `peer.${k}`);
        }
      }
      assert.deepEqual(st.peers.map((p: { name: string }) => p.name).sort(), ["node-1", "node-2"]);

      const peers = JSON.parse((await get("/peers")).body);
      assert.equal(peers.length, 2);
      const key = peers[0].publicKey as string;
      const one = await get(`/peers/${key.replaceAll("+", "-").replaceAll("/", "_")}`);
      assert.equal(one.status, 200);
      assert.equal(JSON.parse(one.body).publicKey, key);
      assert.equal((await get("/peers/nope")).status, 404);

      // Values move as traffic flows.
      const before = st.peers.find((p: { name: string }) => p.name === "node-1");
      const m0 = (await get("/metrics")).body;
      const tx0 = sample(m0, "weft_peer_tx_bytes_total", { name: "node-1" });
      const ping = await fetch(url("/v1/ping"), {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        // Each reply waited for up to the hang guard: all three must come, however slowly.
        body: JSON.stringify({ address: before.address, count: 3, timeoutMs: HANG_GUARD_MS }),
      });
      assert.equal(ping.status, 200);
      assert.ok((await ping.json()).rtts.every((r: number | null) => r !== null));
      const after = JSON.parse((await get("/status")).body).peers.find((p: { name: string }) =>
        p.name === "node-1"
      );
      assert.ok(after.txBytes > before.txBytes && after.rxBytes > before.rxBytes);

      // Metrics: a valid exposition whose counters grow with traffic.
      const m1 = await get("/metrics");
      assert.match(m1.type ?? "", /text\/plain; version=0\.0\.4/);
      if (promtool) {
        const check = await promtoolCheck(m1.body);
        assert.equal(check.code, 0, check.out);
      }
      assert.ok(sample(m1.body, "weft_peer_tx_bytes_total", { name: "node-1" }) > tx0);
      assert.equal(sample(m1.body, "weft_build_info", {}), 1);
      // The process's own figures (the demo's agents run in this process).
      const rss = sample(m1.body, "process_resident_memory_bytes", {});
      assert.ok(rss > 10_000_000, `rss ${rss}`);
      const fds = sample(m1.body, "process_open_fds", {});
      assert.ok(fds > 3 && fds <= sample(m1.body, "process_max_fds", {}), `fds ${fds}`);
      const started = sample(m1.body, "process_start_time_seconds", {});
      // performance.timeOrigin is when this runtime started: within a few seconds of the process.
      const origin = performance.timeOrigin / 1000;
      assert.ok(Math.abs(started - origin) < 5, `started ${started}, origin ${origin}`);
      assert.ok(sample(m1.body, "process_cpu_seconds_total", {}) > 0);
      const heapUsed = sample(m1.body, "weft_heap_used_bytes", {});
      assert.ok(heapUsed > 0 && heapUsed <= sample(m1.body, "weft_heap_total_bytes", {}));
      const proc = JSON.parse((await get("/status")).body).node.process;
      assert.ok(proc.residentBytes > 10_000_000 && proc.heap.used > 0 && proc.openFds > 3, proc);

      // Auth: control routes need the token; status routes on loopback do not.
      assert.equal((await get("/v1/nodes")).status, 401);
      assert.equal((await get("/v1/nodes", { authorization: "Bearer wrong" })).status, 401);
      const nodes = await get("/v1/nodes", auth);
      assert.equal(nodes.status, 200);
      assert.equal(JSON.parse(nodes.body).nodes.length, 3);
      assert.equal((await get("/v1/tokens")).status, 401);

      // Errors: bad JSON is 400 with a message, wrong methods 405, unknown routes 404.
      const bad = await fetch(url("/v1/tokens"), {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: "{not json",
      });
      assert.equal(bad.status, 400);
      assert.match((await bad.json()).error, /JSON/);
      const badTtl = await fetch(url("/v1/tokens"), {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ ttl: "soon" }),
      });
      assert.equal(badTtl.status, 400);
      assert.match((await badTtl.json()).error, /duration/);
      const wrong = await fetch(url("/status"), { method: "DELETE" });
      assert.equal(wrong.status, 405);
      await wrong.body?.cancel();
      assert.equal((await get("/no/such/route")).status, 404);
      const nodeOnFollower = await fetch(`http://${node1}/v1/tokens`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${
            (await Deno.readTextFile(`${demo.dir}/node-1/control.token`)).trim()
          }`,
          "content-type": "application/json",
        },
        body: "{}",
      });
      assert.equal(nodeOnFollower.status, 409, "only the leader makes tokens");
      await nodeOnFollower.body?.cancel();

      // The dashboard page is served from inside the binary.
      const page = await get("/");
      assert.equal(page.status, 200);
      assert.match(page.type ?? "", /text\/html/);
      assert.doesNotMatch(page.body, /<script[^>]+src=|<link[^>]+href="?https?:/);

      // Health: probes every 5 s make both peers `up`.
      const up = await eventually(
        async () => {
          const s = JSON.parse((await get("/status")).body);
          // Up from answered probes, not only from the join handshake.
          return s.peers.every((p: { health: string; rttMs: number | null }) =>
            p.health === "up" && p.rttMs !== null
          );
        },
        HANG_GUARD_MS,
        500,
      );
      assert.ok(up, (await get("/status")).body);
      const m2 = (await get("/metrics")).body;
      assert.equal(sample(m2, "weft_peer_health", { name: "node-1", state: "up" }), 1);
      assert.ok(sample(m2, "weft_probe_rtt_seconds_count", { name: "node-1" }) >= 1);
      // Both peers answer probes, so a handshake with each has completed (in either role): only
      // now, as the one with node-2 may still be under way before.
      assert.ok(sample(m2, "weft_handshakes_total", { result: "completed" }) >= 2);
    } finally {
      await demo.stop();
    }
  },
});
