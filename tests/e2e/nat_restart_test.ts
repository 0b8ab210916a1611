/**
 * Issue 45 (item 4): a member restarted while the leader runs gets its direct paths back, to the
 * leader and to another member, also from behind a NAT. Before, the restarted node's path probes
 * were dropped by the leader as `not-member` and its pongs as `misdirected-pong`, and `weft status`
 * showed path `none` to the leader until the leader restarted. The lab (tests/fixtures/nat_lab.ts):
 * the leader on the internet, a1 behind a masquerading NAT, b1 behind another; the real CLI in
 * TUN mode. The test waits for the events (status path direct), never for a time.
 */
import assert from "node:assert/strict";
import { canBuildLabs, haveCommands } from "../fixtures/netns.ts";
import {
  directVia,
  LEADER,
  LEADER_IP,
  masqueradeMesh,
  type NatMesh,
  WG_PORT,
} from "../fixtures/nat_mesh.ts";
import { metricsOf, metricValue, peerView } from "../fixtures/mesh_lab.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("ping", "iptables", "conntrack"));
const EXTRA = ["--log-level", "debug"];

/** A node's path probe drops by reason (those the issue saw after a restart, and two more). */
async function drops(m: NatMesh, host: string): Promise<Record<string, number>> {
  const t = await metricsOf(m.lab, host);
  return Object.fromEntries(
    ["not-member", "misdirected-pong", "inactive", "auth"].map((
      reason,
    ) => [reason, metricValue(t, "weft_path_drops_total", { reason })]),
  );
}

for (const signal of ["SIGTERM", "SIGKILL"] as const) {
  Deno.test({
    name: `a member behind a NAT restarted (${signal}): direct to the leader and a member again`,
    ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const m = await masqueradeMesh({ a: ["a1"], b: ["b1"] }, {
        ifPrefix: signal === "SIGTERM" ? "r4" : "r5",
        extra: EXTRA,
      });
      try {
        const ra = m.lab.router("a");
        const rb = m.lab.router("b");
        await m.join(["a1", "b1"]);
        assert.notEqual(await m.firstReply("a1", "b1"), null, "a1 -> b1 before the restart");
        await m.waitPeer("a1", LEADER, directVia(`${LEADER_IP}:${WG_PORT}`), "direct");
        await m.waitPeer(LEADER, "a1", directVia(`${ra.wan}:`), `direct via ${ra.wan}`);
        await m.waitPeer("a1", "b1", directVia(`${rb.wan}:`), `direct via ${rb.wan}`);
        const before = await drops(m, LEADER);

        await m.stop("a1", signal);
        await m.start("a1", []);

        const v = await m.waitPeer("a1", LEADER, directVia(`${LEADER_IP}:${WG_PORT}`), "direct");
        await m.waitPeer(LEADER, "a1", directVia(`${ra.wan}:`), `direct via ${ra.wan}`);
        assert.notEqual(await m.firstReply("a1", "b1"), null, "a1 -> b1 after the restart");
        await m.waitPeer("a1", "b1", directVia(`${rb.wan}:`), `direct via ${rb.wan}`);
        await m.waitPeer("b1", "a1", directVia(`${ra.wan}:`), `direct via ${ra.wan}`);
        const after = await drops(m, LEADER);
        console.log(
          `after the ${signal} restart: a1 -> lead ${v.endpoint}; the leader's probe drops ` +
            `before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`,
        );
      } catch (e) {
        // The other side of a path that never came: what the leader made of a1.
        console.log(
          `--- ${LEADER}'s view of a1 ---\n${
            JSON.stringify(await peerView(m.lab, LEADER, "a1"))
          }\n${LEADER}'s probe drops ${JSON.stringify(await drops(m, LEADER))}`,
        );
        console.log(`--- ${LEADER} log ---\n${m.log(LEADER).slice(-6000)}`);
        throw e;
      } finally {
        await m.close();
      }
    },
  });
}
