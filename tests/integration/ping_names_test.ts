/**
 * `weft ping <name>` in userspace mode through the real CLI on loopback (issue 45, item 6): a
 * leader and one member; the member pings the leader by name and by its name in the zone, and
 * each reply says who answered and the direct path (the leader's endpoint); a name no member has
 * is refused naming it (exit 2).
 */
import assert from "node:assert/strict";
import { freePort, type Running, startMeshAgent, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";

Deno.test({
  name: "weft ping by name in userspace mode: replies say who and which path; a typo exits 2",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-pingname-" });
    const running: Running[] = [];
    const status: Record<string, string> = {};
    const on = (name: string, ...args: string[]) =>
      weft([...args, "--status-listen", status[name], "--state-dir", `${dir}/${name}`]);
    try {
      const lp = freePort();
      status.lead = `127.0.0.1:${freePort("tcp")}`;
      running.push(
        await startMeshAgent("lead", [
          "--leader",
          "--userspace",
          "--cidr",
          "10.214.0.0/24",
          "--state-dir",
          `${dir}/lead`,
          "--listen-port",
          String(lp),
          "--advertise",
          `127.0.0.1:${lp}`,
          "--hostname",
          "lead",
          "--dns-port",
          "0",
        ], status.lead),
      );
      const t = await on("lead", "token", "create");
      assert.equal(t.code, 0, t.stderr);
      status.web = `127.0.0.1:${freePort("tcp")}`;
      running.push(
        await startMeshAgent("web", [
          "--join",
          t.stdout.trim(),
          "--userspace",
          "--state-dir",
          `${dir}/web`,
          "--hostname",
          "web",
          "--listen-port",
          String(freePort()),
          "--dns-port",
          "0",
        ], status.web),
      );
      // Each reply waited for up to the hang guard (a guard, not a bound: the zone name's one ping
      // below is not retried).
      const ping = (target: string) =>
        on("web", "ping", target, "-c", "1", "--timeout", String(HANG_GUARD_MS));
      let last = await ping("lead");
      assert.ok(
        await eventually(async () => (last = await ping("lead")).code === 0, HANG_GUARD_MS, 200),
        `web pings lead by name: ${last.stdout}${last.stderr}`,
      );
      assert.match(
        last.stdout,
        new RegExp(`pong from lead \\(10\\.214\\.0\\.\\d+\\) via direct 127\\.0\\.0\\.1:${lp} in`),
      );

      // Its name in the mesh's zone, in any case, with the final dot.
      const zoned = await ping("LEAD.overlay.local.");
      assert.equal(zoned.code, 0, zoned.stdout + zoned.stderr);
      assert.match(zoned.stdout, /pong from lead \(10\.214\.0\.\d+\) via direct/);

      const typo = await ping("leed");
      assert.equal(typo.code, 2, typo.stdout + typo.stderr);
      assert.match(typo.stderr, /no member named "leed" \(did you mean lead\?\)/);
    } finally {
      await Promise.allSettled(running.map((r) => r.stop()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
