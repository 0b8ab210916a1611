/**
 * Issue 48's proof of large messages: a 10 MiB call and its 10 MiB answer with real `weft`
 * processes (TUN mode), each node in its own namespace. A leader, a provider (`echo`, an HTTP
 * backend that answers with the params it got) and a caller; `weft call echo/x -` reads 10 MiB of
 * JSON text from stdin, the answer holds it back whole. Both ways the message went deflated, and
 * the bytes on the wire (`weft_service_wire_bytes_total`) are a fraction of it: the caller's
 * `/metrics` and the provider's say so. The figures are printed; every time bound is a hang guard.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, Lab } from "../fixtures/netns.ts";
import {
  type LabProc,
  metricsOf,
  metricValue,
  nodeList,
  startMeshNode,
  waitUp,
  weftIn,
} from "../fixtures/mesh_lab.ts";
import { selfCommand } from "../../lib/demo/self.ts";
import { startEchoBackend } from "../fixtures/services_lab.ts";

const ignore = !(await canBuildLabs());
const OPTS = { cidr: "10.94.0.0/24", ifPrefix: "wbig" };
const [CMD, ...PRE] = selfCommand();
const MIB = 1 << 20;

/** JSON text of a string of `bytes` characters: words that repeat, as logs or documents do. */
function bigParams(bytes: number): string {
  const words = ["mesh", "tunnel", "service", "answer", "weft", "node", "call", "peer"];
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const w = `${words[(i * 7) % words.length]}-${i % 4099} `;
    parts.push(w);
    n += w.length;
  }
  return JSON.stringify(parts.join("").slice(0, bytes));
}

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

Deno.test({
  name: "services: a 10 MiB call and answer cross the mesh deflated, counted in bytes on the wire",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await Lab.create(["lead", "prov", "call"]);
    const dir = await Deno.makeTempDir({ prefix: "weft-svc-large-" });
    const weft = (host: string, ...args: string[]) => weftIn(lab, host, dir, ...args);
    const procs: LabProc[] = [];
    try {
      const leader = startMeshNode(lab, { ...OPTS, dir }, "lead", [
        "--leader",
        "--advertise",
        "192.0.2.1:51820",
      ]);
      procs.push(leader);
      await waitUp(lab, "lead", dir, leader);
      const token = (await weft("lead", "token", "create", "--uses", "2")).stdout.trim();
      await startEchoBackend(lab, "prov", 8080);
      for (const h of ["prov", "call"]) {
        const offer = h === "prov"
          ? ["--service", "echo:8080/tcp", "--service-http", "echo=http://127.0.0.1:8080"]
          : [];
        const r = startMeshNode(lab, { ...OPTS, dir }, h, ["--join", token, ...offer]);
        procs.push(r);
        await waitUp(lab, h, dir, r);
      }
      assert.ok(
        await eventually(
          async () => (await nodeList(lab, "call", dir))?.length === 3,
          HANG_GUARD_MS,
        ),
        "the caller does not see 3 nodes",
      );
      const seen = await eventually(async () => {
        const r = await weft("call", "service", "list", "--json");
        if (r.code !== 0) return false;
        const echo = JSON.parse(r.stdout).find((s: { name: string }) => s.name === "echo");
        return echo?.instances.some((i: { healthy: boolean }) => i.healthy) === true;
      }, HANG_GUARD_MS);
      assert.ok(seen, (await weft("call", "service", "list")).stdout);

      const text = bigParams(10 * MIB);
      const input = `${dir}/params.json`;
      const output = `${dir}/answer.json`;
      await Deno.writeTextFile(input, text);
      const command = [CMD, ...PRE, "call", "echo/x", "-", "--timeout", "120000", "--retries", "0"]
        .concat(["--state-dir", `${dir}/call`]).map(shellQuote).join(" ");
      const started = performance.now();
      const r = await lab.exec("call", "sh", "-c", `${command} < ${input} > ${output}`);
      const ms = performance.now() - started;
      assert.equal(r.code, 0, r.stderr);
      const answer = JSON.parse(await Deno.readTextFile(output));
      assert.equal(answer.node, "prov");
      assert.equal(answer.action, "x");
      assert.equal(answer.params, JSON.parse(text), "the 10 MiB came back whole");

      const caller = await metricsOf(lab, "call");
      const provider = await metricsOf(lab, "prov");
      const m = (text: string, name: string, labels: Record<string, string>) =>
        metricValue(text, name, labels);
      const sentPlain = m(caller, "weft_service_compressed_bytes_total", {
        direction: "sent",
        form: "plain",
      });
      const sentDeflated = m(caller, "weft_service_compressed_bytes_total", {
        direction: "sent",
        form: "deflated",
      });
      const wireSent = m(caller, "weft_service_wire_bytes_total", { direction: "sent" });
      const wireReceived = m(caller, "weft_service_wire_bytes_total", { direction: "received" });
      const answerPlain = m(provider, "weft_service_compressed_bytes_total", {
        direction: "sent",
        form: "plain",
      });
      console.log(
        `10 MiB call in ${ms.toFixed(0)} ms; request ${sentPlain} bytes deflated to ` +
          `${sentDeflated}; the caller's service datagrams: ${wireSent} bytes sent, ` +
          `${wireReceived} received; the answer ${answerPlain} bytes before deflating`,
      );
      assert.equal(m(caller, "weft_service_compressed_messages_total", { direction: "sent" }), 1);
      assert.equal(
        m(caller, "weft_service_compressed_messages_total", { direction: "received" }),
        1,
      );
      assert.equal(
        m(provider, "weft_service_compressed_messages_total", { direction: "received" }),
        1,
      );
      assert.ok(sentPlain > 10 * MIB, `request of ${sentPlain} bytes`);
      assert.ok(answerPlain > 10 * MIB, `answer of ${answerPlain} bytes`);
      // Everything the caller's service socket sent and received, fragments and headers and
      // hellos included, is a fraction of the 20 MiB the call carried.
      assert.ok(wireSent < 3 * MIB, `${wireSent} bytes sent`);
      assert.ok(wireReceived < 3 * MIB, `${wireReceived} bytes received`);
    } finally {
      await lab.destroy();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
