/**
 * `weft status` against an agent started with `--status-allow-remote` (every route on its TCP
 * address then needs the token): through the state directory it answers as without the flag
 * (the local socket, or the token read from there); given only the address, the CLI sends no
 * token (it cannot tell the agent listens there) and the refusal says what to give.
 */
import assert from "node:assert/strict";
import { freePort, weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { loopbackArgs, spawnWeft, type WeftAgent } from "../fixtures/weft_agent.ts";

Deno.test({
  name:
    "weft status with --status-allow-remote: by --state-dir it answers; by address alone, a clear refusal",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-status-remote-" });
    const agents: WeftAgent[] = [];
    try {
      const status = `0.0.0.0:${freePort("tcp")}`;
      const leader = spawnWeft([
        ...["--leader", "--status-allow-remote"],
        ...loopbackArgs(`${dir}/leader`, "boss"),
      ], status);
      agents.push(leader);
      const byDir = () => weft(["status", "--state-dir", `${dir}/leader`]);
      assert.ok(
        await eventually(
          async () => (await byDir()).code === 0 || !!leader.exited(),
          HANG_GUARD_MS,
        ),
        leader.log(),
      );
      const r = await byDir();
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /boss \(leader\)/);
      const json = await weft(["status", "--json", "--state-dir", `${dir}/leader`]);
      assert.equal(JSON.parse(json.stdout).node.name, "boss");
      // The address alone: no token goes there; the refusal names the way out.
      const port = status.split(":")[1];
      const bare = await weft(["status", "--status-listen", `127.0.0.1:${port}`]);
      assert.equal(bare.code, 2, bare.stderr);
      assert.match(bare.stderr, /401/);
      assert.match(bare.stderr, /give the agent's --state-dir/);
    } finally {
      for (const a of agents) await a.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
