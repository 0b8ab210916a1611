/**
 * The leader's API worker through the real CLI on loopback: a `weft --leader` serves its API from
 * the worker by default (`WEFT_API_WORKER=0`: from the main thread), and a leader whose worker
 * cannot listen exits with the main thread's error and lets its ports go (no worker left holding
 * one or keeping the process alive).
 */
import assert from "node:assert/strict";
import { selfCommand } from "../../lib/demo/self.ts";
import { freePort } from "../fixtures/procs.ts";
import { loopbackArgs, spawnWeft, untilServing, type WeftAgent } from "../fixtures/weft_agent.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { StateDir } from "../../lib/mesh/state/state.ts";

const proc = { sanitizeOps: false, sanitizeResources: false };

/** Runs `weft` with `env` added until it exits (killed, and failed, after the hang guard). */
async function weftWith(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stderr: string }> {
  const [cmd, ...pre] = selfCommand();
  const child = new Deno.Command(cmd, {
    args: [...pre, ...args],
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const guard = setTimeout(() => child.kill("SIGKILL"), HANG_GUARD_MS);
  try {
    const out = await child.output();
    assert.notEqual(out.signal, "SIGKILL", "it did not exit by itself");
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  } finally {
    clearTimeout(guard);
  }
}

/** The `content-encoding` of a `GET /v1/nodes` that accepts gzip ("" for none). */
async function nodesEncoding(status: string, token: string): Promise<string> {
  const [hostname, port] = status.split(":");
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const head = `GET /v1/nodes HTTP/1.1\r\nhost: ${status}\r\nauthorization: Bearer ${token}\r\n` +
    "accept-encoding: gzip\r\nconnection: close\r\n\r\n";
  await conn.write(new TextEncoder().encode(head));
  const text = new TextDecoder("latin1").decode(await new Response(conn.readable).arrayBuffer());
  assert.match(text, /^HTTP\/1\.1 200 /);
  return /\r\ncontent-encoding: *([^\r]*)\r\n/i.exec(text)?.[1] ?? "";
}

Deno.test({
  name: "api worker: a CLI leader serves its node list from the worker; WEFT_API_WORKER=0 does not",
  ...proc,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-api-worker-" });
    const agents: WeftAgent[] = [];
    try {
      const leader = spawnWeft(["--leader", ...loopbackArgs(`${dir}/on`, "boss")]);
      agents.push(leader);
      await untilServing(leader);
      const token = (await new StateDir(`${dir}/on`).controlToken())!;
      // The worker answers from the gzipped list the leader posts it once a request asked.
      assert.ok(
        await eventually(
          async () => await nodesEncoding(leader.status, token) === "gzip",
          HANG_GUARD_MS,
        ),
        "the node list never came gzipped from the worker",
      );

      Deno.env.set("WEFT_API_WORKER", "0");
      let off: WeftAgent;
      try {
        off = spawnWeft(["--leader", ...loopbackArgs(`${dir}/off`, "boss2")]);
      } finally {
        Deno.env.delete("WEFT_API_WORKER");
      }
      agents.push(off);
      await untilServing(off);
      const offToken = (await new StateDir(`${dir}/off`).controlToken())!;
      // The main thread's app gzips only a long list: this one (one node) never.
      for (let i = 0; i < 5; i++) assert.equal(await nodesEncoding(off.status, offToken), "");
    } finally {
      await Promise.allSettled(agents.map((a) => a.stop()));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "api worker: a leader whose worker cannot listen exits with the main thread's error, its ports free",
  ...proc,
  fn: async () => {
    const top = await Deno.makeTempDir({ prefix: "weft-api-worker-" });
    try {
      // A state directory whose weft.sock is past the system's limit for a unix socket's path.
      const dir = `${top}/${"d".repeat(Math.max(1, 110 - top.length))}`;
      const errors: string[] = [];
      for (const worker of ["1", "0"]) {
        const port = freePort();
        const status = `127.0.0.1:${freePort("tcp")}`;
        const r = await weftWith(
          [
            "--leader",
            ...loopbackArgs(`${dir}/${worker}`, "boss", port),
            "--status-listen",
            status,
          ],
          { WEFT_API_WORKER: worker },
        );
        assert.equal(r.code, 1, r.stderr);
        const line = r.stderr.split("\n").find((l) => l.startsWith("weft: ")) ?? "";
        assert.match(line, /^weft: the control socket cannot listen on .*\/weft\.sock: /, r.stderr);
        errors.push(line.replace(`${dir}/${worker}`, "DIR"));
        // Exited, and nothing of it holds the status port or the mesh port.
        const [hostname, statusPort] = status.split(":");
        Deno.listen({ hostname, port: Number(statusPort) }).close();
        Deno.listen({ hostname: "127.0.0.1", port }).close();
      }
      assert.equal(errors[0], errors[1], "the worker's error is the main thread's");
    } finally {
      await Deno.remove(top, { recursive: true }).catch(() => {});
    }
  },
});
