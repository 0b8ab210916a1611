/**
 * Out of file descriptors, the status server counts the failed accepts and serves on; `Deno.serve`
 * rejected uncaught there and ended the whole agent. The server runs in a child process under a
 * hard limit of 128 descriptors, with its connection cap set out of the way, and the test holds
 * 200 connections to it until the child says an accept failed.
 */
import assert from "node:assert/strict";
import { HANG_GUARD_MS } from "../fixtures/netns.ts";
import { parsePrometheus, promValue } from "../unit/prom_parse.ts";

const HELD = 200;

Deno.test({
  name: "status server: accepts failing with EMFILE are counted, the server lives on",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const child = new Deno.Command("prlimit", {
      args: [
        "--nofile=128:128",
        "--",
        Deno.execPath(),
        "run",
        "-A",
        "--unstable-net",
        new URL("./status_fd_child.ts", import.meta.url).pathname,
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
        if (exited) throw new Error(`the server exited waiting for ${what}:\n${err}`);
        if (Date.now() > give) throw new Error(`no ${what} (hang guard):\n${err}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const held: Deno.Conn[] = [];
    try {
      await until(() => out.includes("\n"), "address");
      const [hostname, port] = out.trim().split(":");
      for (let i = 0; i < HELD; i++) {
        try {
          held.push(await Deno.connect({ hostname, port: Number(port) }));
        } catch (e) {
          await new Promise((r) => setTimeout(r, 200)); // the exit, if that is what it was
          throw new Error(`connection ${i}: ${e} (server ${exited ? "exited" : "alive"}):\n${err}`);
        }
      }
      await until(() => err.includes("listener.accept_error"), "accept error");
      assert.match(err, /Too many open files/);
      for (const c of held.splice(0)) c.close();

      // Descriptors free again: served, and the failures were counted, not fatal.
      let text = "";
      for (const give = Date.now() + HANG_GUARD_MS; text === "";) {
        if (exited) throw new Error(`the server exited:\n${err}`);
        if (Date.now() > give) throw new Error(`no metrics (hang guard):\n${err}`);
        try {
          const r = await fetch(`http://${hostname}:${port}/metrics`);
          if (r.ok) text = await r.text();
          else await r.body?.cancel();
        } catch {
          await new Promise((r) => setTimeout(r, 50)); // still closing the held ones
        }
      }
      assert.ok(!exited, "the server is alive");
      const failed = promValue(
        parsePrometheus(text),
        "weft_listener_accept_errors_total",
        { listener: "http" },
      );
      assert.ok(failed >= 1, `accept errors counted: ${failed}`);
      const health = await fetch(`http://${hostname}:${port}/healthz`);
      assert.equal(await health.text(), "ok\n");
    } finally {
      for (const c of held) c.close();
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await status;
      await Promise.all(pumps);
    }
  },
});
