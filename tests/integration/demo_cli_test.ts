/**
 * `weft demo` as a user runs it (live, until Ctrl-C): it prints the leader's dashboard URL, which
 * serves the dashboard, and its mesh stays on loopback: every member is reached at 127.0.0.1
 * and publishes no LAN address, though this machine may have some.
 */
import assert from "node:assert/strict";
import { freeDemoBase, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { selfCommand } from "../../lib/demo/self.ts";

Deno.test({
  name: "weft demo: prints the dashboard URL; the mesh stays on loopback",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const base = freeDemoBase(3);
    const [cmd, ...pre] = selfCommand();
    const child = new Deno.Command(cmd, {
      args: [...pre, "demo", "--base-port", String(base)],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let out = "";
    let err = "";
    const dec = new TextDecoder();
    const pumps = [
      child.stdout.pipeTo(new WritableStream({ write: (c) => void (out += dec.decode(c)) })),
      child.stderr.pipeTo(new WritableStream({ write: (c) => void (err += dec.decode(c)) })),
    ];
    try {
      const running = await eventually(
        () => Promise.resolve(/demo mesh running/.test(out)),
        HANG_GUARD_MS,
      );
      assert.ok(running, `${out}\n${err}`);
      const url = /^dashboard: (http:\/\/\S+\/)/m.exec(out)?.[1];
      // The status servers listen where the system put them: the URL says where.
      assert.match(url ?? "", /^http:\/\/127\.0\.0\.1:\d+\/$/, out);
      const page = await fetch(url!);
      assert.equal(page.status, 200);
      assert.match(page.headers.get("content-type") ?? "", /text\/html/);
      assert.match(await page.text(), /<html/i);

      const dir = /^state and logs: (\S+)/m.exec(out)![1];
      for (const name of ["leader", "node-1", "node-2"]) {
        // Each agent found by its state directory alone, as a user finds it.
        const at = ["--state-dir", `${dir}/${name}`];
        const st = await weft(["status", "--json", ...at]);
        assert.equal(st.code, 0, st.stderr);
        const peers = JSON.parse(st.stdout).peers as { name: string; endpoint: string | null }[];
        assert.equal(peers.length, 2, st.stdout);
        for (const p of peers) {
          assert.match(
            p.endpoint ?? "",
            /^127\.0\.0\.1:\d+$/,
            `${name} reaches ${p.name} at ${p.endpoint}`,
          );
        }
        const nodes = JSON.parse((await weft(["node", "list", "--json", ...at])).stdout).nodes as {
          name: string;
          endpoints: string[];
          lan?: string[];
        }[];
        for (const n of nodes) {
          assert.equal(n.lan, undefined, `${n.name} publishes no LAN address`);
          for (const e of n.endpoints) assert.match(e, /^127\.0\.0\.1:/, `${n.name}: ${e}`);
        }
      }
    } finally {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const status = await child.status;
      await Promise.allSettled(pumps);
      assert.equal(status.code, 0, `${out}\n${err}`);
    }
  },
});
