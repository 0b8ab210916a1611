/**
 * Pushes carried by members, through the real CLI on loopback: a leader told to carry pushes from
 * two members on (`WEFT_CARRY_MIN=2`; the default is 1,000) and four nodes. Once the nodes hold
 * the leader's push key, a fifth node's join is pushed through a carrier: the leader counts a
 * carried push and its carry messages, the other nodes take the signed parts a carrier passed on,
 * and every node's view holds the newcomer.
 */
import assert from "node:assert/strict";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";
import {
  createToken,
  loopbackArgs,
  spawnWeft,
  untilServing,
  type WeftAgent,
  weftStatus,
} from "../fixtures/weft_agent.ts";
import { parsePrometheus } from "../fixtures/prom_parse.ts";

/** The sum of a metric family's samples whose labels include `labels`. */
async function metric(
  agent: WeftAgent,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const r = await fetch(`http://${agent.status}/metrics`);
  const text = await r.text();
  let sum = 0;
  for (const s of parsePrometheus(text).samples) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

Deno.test({
  name: "carried pushes: a join is pushed through a carrier and every node's view holds it",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-carried-" });
    const agents: WeftAgent[] = [];
    try {
      const leader = spawnWeft(
        ["--leader", ...loopbackArgs(`${dir}/leader`, "boss")],
        undefined,
        { WEFT_CARRY_MIN: "2" },
      );
      agents.push(leader);
      await untilServing(leader);
      const token = await createToken(leader, `${dir}/leader`, 5);
      const join = (name: string) =>
        spawnWeft(["--join", token, ...loopbackArgs(`${dir}/${name}`, name)]);
      const nodes = ["n1", "n2", "n3", "n4"].map(join);
      agents.push(...nodes);
      for (const n of nodes) await untilServing(n);
      // Each node's hello after the leader's answer names the leader's push key: then it counts
      // as one that takes carried pushes (the leader's carried members grow once it does).
      const keyed = await eventually(async () => {
        const st = await weftStatus(leader);
        return st.peers.length === 4;
      }, HANG_GUARD_MS);
      assert.ok(keyed, leader.log());
      // A join is a change every node is told; repeated until one went through carriers (the
      // nodes' second hellos, with the key, come within their interval).
      const late = join("n5");
      agents.push(late);
      await untilServing(late);
      const carried = await eventually(
        async () => await metric(leader, "weft_leader_carried_pushes_total") > 0,
        HANG_GUARD_MS,
        200,
      );
      if (!carried) {
        // The first push went before the nodes held the key: one more change.
        const again = join("n6");
        agents.push(again);
        await untilServing(again);
      }
      assert.ok(
        await eventually(
          async () => await metric(leader, "weft_leader_carried_pushes_total") > 0,
          HANG_GUARD_MS,
          200,
        ),
        leader.log(),
      );
      assert.ok(await metric(leader, "weft_leader_push_carries_total") > 0);
      // Every node's view holds every member, the late ones included.
      const whole = await eventually(async () => {
        for (const a of agents) {
          const s = await weftStatus(a);
          if (s.peers.length !== agents.length - 1) return false;
        }
        return true;
      }, HANG_GUARD_MS);
      assert.ok(whole, agents.map((a) => a.log()).join("\n"));
      // A carrier passed the parts on, and the others took them (checked against the key).
      let passed = 0;
      let taken = 0;
      let forged = 0;
      for (const n of nodes) {
        passed += await metric(n, "weft_carried_parts_passed_total");
        taken += await metric(n, "weft_carried_parts_total", { result: "taken" });
        forged += await metric(n, "weft_carried_parts_total", { result: "forged" });
      }
      assert.ok(passed > 0, `no part passed on`);
      // Each carrier takes its own, and each member passed to takes one: more than the carriers.
      assert.ok(taken > passed / 2, `taken ${taken}, passed ${passed}`);
      assert.equal(forged, 0);
    } finally {
      for (const a of agents) await a.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
