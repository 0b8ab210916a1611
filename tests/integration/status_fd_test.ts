/**
 * Out of file descriptors, the agent's listeners (status HTTP, DNS TCP, UAPI) count their failed
 * accepts and serve on; `Deno.serve` rejected uncaught there and ended the whole agent. They run
 * in a child process under a hard limit of 128 descriptors, with the HTTP connection cap set out
 * of the way, and the test holds 200 connections to the HTTP port (and one to each of the other
 * two) until the child says each of the three failed an accept.
 */
import assert from "node:assert/strict";
import { HANG_GUARD_MS } from "../fixtures/netns.ts";
import { parsePrometheus, promValue } from "../fixtures/prom_parse.ts";

const HELD = 200;

Deno.test({
  name: "listeners out of descriptors: failed accepts (HTTP, DNS TCP, UAPI) counted, all live on",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-fd-" });
    const child = new Deno.Command("prlimit", {
      args: [
        "--nofile=128:128",
        "--",
        Deno.execPath(),
        "run",
        "-A",
        "--unstable-net",
        new URL("./status_fd_child.ts", import.meta.url).pathname,
        dir,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let out = "";
    let err = "";
    const dec = new TextDecoder();
    let exited = false;
    const status = child.status.then((s) => (exited = true, s));
    const pumps = [
      child.stdout.pipeTo(new WritableStream({ write: (c) => void (out += dec.decode(c)) })),
      child.stderr.pipeTo(new WritableStream({ write: (c) => void (err += dec.decode(c)) })),
    ].map((p) => p.catch(() => {}));
    // Waits for `cond` (an event in the child's output), failing at once if the child died.
    const until = async (cond: () => boolean, what: string) => {
      const give = Date.now() + HANG_GUARD_MS;
      while (!cond()) {
        if (exited) throw new Error(`the agent exited waiting for ${what}:\n${err}`);
        if (Date.now() > give) throw new Error(`no ${what} (hang guard):\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const held: Deno.Conn[] = [];
    try {
      await until(() => out.includes("\n"), "addresses");
      const [http, dnsPort, uapiPath] = out.trim().split(" ");
      const [hostname, port] = http.split(":");
      for (let i = 0; i < HELD; i++) {
        try {
          held.push(await Deno.connect({ hostname, port: Number(port) }));
        } catch (e) {
          await new Promise((r) => setTimeout(r, 200)); // the exit, if that is what it was
          throw new Error(`connection ${i}: ${e} (agent ${exited ? "exited" : "alive"}):\n${err}`);
        }
      }
      await until(() => err.includes("listener.accept_error"), "HTTP accept error");
      assert.match(err, /Too many open files/);
      // Out of descriptors now: the other two listeners fail their accepts too.
      held.push(await Deno.connect({ hostname: "127.0.0.1", port: Number(dnsPort) }));
      held.push(await Deno.connect({ transport: "unix", path: uapiPath }));
      await until(() => err.includes("dns.accept_error"), "DNS accept error");
      await until(() => /listener\.accept_error listener="?uapi/.test(err), "UAPI accept error");
      for (const c of held.splice(0)) c.close();

      // Descriptors free again: served, and the failures were counted, not fatal.
      let text = "";
      for (const give = Date.now() + HANG_GUARD_MS; text === "";) {
        if (exited) throw new Error(`the agent exited:\n${err}`);
        if (Date.now() > give) throw new Error(`no metrics (hang guard):\n${err}`);
        try {
          const r = await fetch(`http://${hostname}:${port}/metrics`);
          if (r.ok) text = await r.text();
          else await r.body?.cancel();
        } catch {
          await new Promise((r) => setTimeout(r, 50)); // still closing the held ones
        }
      }
      assert.ok(!exited, "the agent is alive");
      const metrics = parsePrometheus(text);
      for (const listener of ["http", "dns_tcp", "uapi"]) {
        const failed = promValue(metrics, "weft_listener_accept_errors_total", { listener });
        assert.ok(failed >= 1, `${listener}: accept errors counted: ${failed}`);
      }
      const health = await fetch(`http://${hostname}:${port}/healthz`);
      assert.equal(await health.text(), "ok\n");
      // UAPI answers again too.
      const u = await Deno.connect({ transport: "unix", path: uapiPath });
      await u.write(new TextEncoder().encode("get=1\n\n"));
      const buf = new Uint8Array(4096);
      let reply = "";
      while (!reply.includes("errno=")) {
        const n = await u.read(buf);
        if (n === null) break;
        reply += dec.decode(buf.subarray(0, n));
      }
      u.close();
      assert.match(reply, /errno=0/);
    } finally {
      for (const c of held) c.close();
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await status;
      await Promise.all(pumps);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
