/**
 * Routes with in-process mesh agents on a memory internet with NAT routers
 * (tests/fixtures/memory_mesh.ts): members behind symmetric NATs talk through the leader's
 * relay, and move back to a direct path when one opens.
 */
import assert from "node:assert/strict";
import { parsePrometheus, promByLabel, promMaybe } from "../../../tests/fixtures/prom_parse.ts";
import { peerOf, pings, TEST, until, withLab } from "../../../tests/fixtures/memory_mesh.ts";

Deno.test({
  ...TEST,
  name: "mesh routes: members behind symmetric NATs go through the leader's relay",
  fn: () =>
    withLab(async (lab) => {
      lab.twoSites("symmetric");
      await lab.startLeader();
      const [n1, n2] = await lab.startPair();
      // Sessions on demand: n2 is idle on n1 until n1 sends; its first packets start the
      // session, the punching fails, and the relay carries it (n2 takes the relay's grant of
      // n1's session on it, though it asked for none).
      await until("n1 knows n2", () => peerOf(n1, n2) !== undefined, 30_000);
      assert.equal(peerOf(n1, n2).health, "idle");
      assert.equal(peerOf(n1, n2).path, "idle", "no path asked for yet: idle, not none");
      let sentAt = 0;
      await until("n1's packets go through the relay", () => {
        if (Date.now() - sentAt >= 500) {
          sentAt = Date.now();
          void n1.agent.ping(n2.self!.address, { count: 1, timeoutMs: 500 });
        }
        return peerOf(n1, n2)?.path === "relay";
      }, 20_000);
      assert.equal(peerOf(n1, n2).via, "leader");
      assert.equal(peerOf(n1, n2).transport, "udp");
      // The relay in use, as the exit node's user asks it (lib/mesh/subnets/exit.ts); none to the
      // leader itself, reached directly.
      const leaderKey = lab.leader.agent.device.publicKey;
      assert.equal(n1.routes!.relayOf(n2.agent.device.publicKey), leaderKey);
      assert.equal(n1.routes!.relayOf(leaderKey), null);
      assert.ok(await pings(n2, n1), "n2 pings n1");
      assert.ok(await pings(n1, n2), "n1 pings n2");
      const m = lab.leader.agent.metrics.render();
      assert.ok((promMaybe(m, "weft_relay_forwarded_packets_total") ?? 0) > 0, m);
      const doc = n1.agent.metrics.render();
      assert.match(doc, /weft_paths\{state="relay"\} 1/);
      // Counted by the routes' next look (a move of the device's own is seen within 500 ms).
      await until(
        "the change counted",
        () =>
          promMaybe(n1.agent.metrics.render(), "weft_path_changes_total", { reason: "relay" }) ===
            1,
      );
      const moved = [n1, n2].map((n) =>
        promMaybe(n.agent.metrics.render(), "weft_fallbacks_total", { to: "relay" }) ?? 0
      );
      assert.ok(moved[0] + moved[1] >= 1, JSON.stringify(moved));
    }),
});

Deno.test({
  ...TEST,
  name: "mesh routes: a blocked direct path goes through the relay, and back once it opens",
  fn: () =>
    withLab(async (lab) => {
      lab.twoSites("cone");
      // Nothing passes between the two sites: only the leader reaches both.
      const unblock = lab.nats.block((from, to) =>
        (from.startsWith("198.51.100.") && to.startsWith("203.0.113.2:")) ||
        (from.startsWith("198.51.101.") && to.startsWith("203.0.113.1:"))
      );
      await lab.startLeader();
      // They keep each other: a session, and its route, from the start without traffic.
      const [n1, n2] = await lab.startPair({ keep: true });
      await until("relayed", () => peerOf(n1, n2)?.path === "relay", 20_000);
      assert.ok(await pings(n1, n2), "n1 pings n2 through the relay");
      unblock();
      const t0 = performance.now();
      await until(
        "direct again",
        () => peerOf(n1, n2).path === "direct" && peerOf(n2, n1).path === "direct",
        30_000,
      );
      console.log(`direct again ${Math.round(performance.now() - t0)} ms after the block went`);
      assert.match(peerOf(n1, n2).endpoint ?? "", /^203\.0\.113\.2:/);
      assert.ok(await pings(n1, n2), "n1 pings n2 directly");
      // Both peers (the leader and n2) direct in the figures too, once the table has caught up.
      const routes = () => promByLabel(n1.agent.metrics.render(), "weft_routes", "route");
      await until("routes figures all direct", () => {
        const r = routes();
        return r.direct === 2 && r.relay === 0 && r.tcp === 0 && r.none === 0;
      });
    }),
});

Deno.test({
  ...TEST,
  name: "mesh routes: with two relays, the pairs of one that stops move to the other",
  fn: () =>
    withLab(async (lab) => {
      lab.twoSites("symmetric");
      await lab.startLeader();
      const r2 = await lab.start("r2", "192.0.2.5", {
        relay: true,
        advertise: ["192.0.2.5:51820"],
      });
      // They keep each other: a session, and its route, from the start without traffic.
      const [n1, n2] = await lab.startPair({ keep: true });
      await until("n1 knows both relays", () =>
        parsePrometheus(n1.agent.metrics.render()).families.has("weft_relay_sessions") &&
        (n1.view().members.find((m) =>
          m.name === "r2"
        )?.relay ?? false));
      await until("n1 relays to n2", () => peerOf(n1, n2)?.path === "relay", 20_000);
      // Sessions with both relays, so the second is ready when the first goes.
      await until("two sessions", () =>
        (promMaybe(n1.agent.metrics.render(), "weft_relay_sessions", { role: "client" }) ?? 0) >=
          2);
      assert.ok(await pings(n1, n2));
      const via = peerOf(n1, n2).via;
      const gone = via === "r2" ? r2 : lab.leader;
      const other = via === "r2" ? "leader" : "r2";
      // Traffic keeps flowing while the relay goes (as it would for a user).
      let flowing = true;
      const traffic = (async () => {
        while (flowing) {
          await pings(n1, n2).catch(() =>
            false
          );
        }
      })();
      await lab.close(gone);
      const t0 = performance.now();
      await until(`n1 relays through ${other}`, () =>
        peerOf(n1, n2).via === other, 20_000);
      // The replies come back on n2's route, which moves on its own clock: wait for it too.
      await until(`n2 relays through ${other}`, () => peerOf(n2, n1).via === other, 20_000);
      flowing = false;
      await traffic;
      assert.ok(await pings(n1, n2), "n1 pings n2 through the other relay");
      console.log(`moved from ${via} to ${other} in ${Math.round(performance.now() - t0)} ms`);
    }),
});
