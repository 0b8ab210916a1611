/**
 * A signal while an agent starts: the start finishes (or fails), then the agent stops as a
 * failed start is undone, never killed half-made by the default action (exit 143, no `agent
 * stopped`, its socket and status address left in the state directory). The joiner's start is
 * held open by a leader paused with SIGSTOP, so the signal surely comes during the join.
 */
import assert from "node:assert/strict";
import { weft } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import { loopbackArgs, spawnWeft, untilServing, type WeftAgent } from "../fixtures/weft_agent.ts";

Deno.test({
  name: "SIGTERM during a joiner's start: it starts, then stops cleanly (exit 0, nothing left)",
  ignore: Deno.build.os !== "linux",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-signal-start-" });
    const agents: WeftAgent[] = [];
    let paused: WeftAgent | null = null;
    try {
      const leader = spawnWeft(["--leader", ...loopbackArgs(`${dir}/leader`, "boss")]);
      agents.push(leader);
      await untilServing(leader);
      const t = await weft([
        ...["token", "create", "--status-listen", leader.status],
        ...["--state-dir", `${dir}/leader`],
      ]);
      assert.equal(t.code, 0, t.stderr);
      // The leader answers nothing while stopped: the joiner waits in its join.
      leader.child.kill("SIGSTOP");
      paused = leader;
      const node = spawnWeft([
        ...["--join", t.stdout.trim(), "--log-level", "debug"],
        ...loopbackArgs(`${dir}/n1`, "n1"),
      ]);
      agents.push(node);
      assert.ok(
        await eventually(
          () => Promise.resolve(/no answer over udp/.test(node.log()) || !!node.exited()),
          HANG_GUARD_MS,
        ),
        node.log(),
      );
      node.child.kill("SIGTERM");
      leader.child.kill("SIGCONT");
      paused = null;
      const status = await node.child.status;
      await eventually(() => Promise.resolve(node.exited() !== null), HANG_GUARD_MS);
      const log = node.log();
      assert.equal(status.code, 0, `exit ${status.code} ${status.signal ?? ""}\n${log}`);
      assert.match(log, /a signal came during the start: stopping signal=SIGTERM/);
      assert.match(log, /agent stopped/);
      const left = [...Deno.readDirSync(`${dir}/n1`)].map((e) => e.name);
      for (const f of ["weft.sock", "status.address"]) {
        assert.ok(!left.includes(f), `${f} left behind: ${left.join(", ")}`);
      }
    } finally {
      if (paused) paused.child.kill("SIGCONT");
      for (const a of agents) if (!a.exited()) await a.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
