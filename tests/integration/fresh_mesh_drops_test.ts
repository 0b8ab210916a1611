/**
 * A fresh mesh shows no invalid handshakes: a leader and two nodes joined through the real CLI
 * on loopback. The second node's first initiation from the first one may arrive before the
 * second has the first in its view (it learns the rest of the mesh from the leader after its
 * join, while the first hears of it at once): that initiation is from a key it does not know
 * yet, counted as `handshake-unknown-peer`, not as a broken handshake; an initiation that
 * arrives twice (sent to two of a node's endpoints) is `handshake-replay`, one too soon after the
 * last `handshake-rate-limited`. Nor does a fresh node
 * drop its own first datagrams for want of a route (its subscriptions' first announcement went
 * out before the device had its peers). The nodes keep each other (`--keep-peer`): each
 * handshakes with every other as soon as it hears of it, as in a mesh whose members all talk
 * (without it, sessions on demand start none between nodes that exchange no traffic).
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

Deno.test({
  name: "a fresh leader and four nodes count no handshake-invalid or no-route drops",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-fresh-drops-" });
    const agents: WeftAgent[] = [];
    try {
      const leader = spawnWeft(["--leader", ...loopbackArgs(`${dir}/leader`, "boss")]);
      agents.push(leader);
      await untilServing(leader);
      const token = await createToken(leader, `${dir}/leader`, 4);
      // Four nodes join at once: each hears of the others (from the leader) at its own moment.
      const names = ["n1", "n2", "n3", "n4"];
      const keep = names.flatMap((n) => ["--keep-peer", n]);
      const nodes = names.map((name) =>
        spawnWeft(["--join", token, ...keep, ...loopbackArgs(`${dir}/${name}`, name)])
      );
      agents.push(...nodes);
      for (const n of nodes) await untilServing(n);
      // Every member has a session with every other: the handshakes are over.
      const meshed = await eventually(async () => {
        for (const a of agents) {
          const s = await weftStatus(a);
          if (s.peers.length !== agents.length - 1 || !s.peers.every((p) => p.hasSession)) {
            return false;
          }
        }
        return true;
      }, HANG_GUARD_MS);
      assert.ok(meshed, agents.map((a) => a.log()).join("\n"));
      for (const a of agents) {
        const { node } = await weftStatus(a);
        assert.equal(
          node.drops["handshake-invalid"],
          0,
          `${node.name}: ${JSON.stringify(node.drops)}`,
        );
        // Nothing the agent sends itself at its start goes out before its peers are set.
        assert.equal(node.drops["no-route"], 0, `${node.name}: ${JSON.stringify(node.drops)}`);
      }
    } finally {
      for (const a of agents) await a.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
