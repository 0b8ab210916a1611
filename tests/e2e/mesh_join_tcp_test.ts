/**
 * Issue 14's join over TCP, through the real CLI in TUN mode: a member on a site whose router
 * drops all UDP from its LAN (tests/fixtures/nat_lab.ts, `blockUdp`) joins the leader on the
 * internet over TCP; with the leader's TCP off the same join fails, saying that the leader's TCP
 * port refused the connection (and it does so without waiting out the join's time).
 */
import assert from "node:assert/strict";
import { canBuildLabs, HANG_GUARD_MS, haveCommands } from "../fixtures/netns.ts";
import { LEADER, LEADER_IP, masqueradeMesh, type NatMesh, WG_PORT } from "../fixtures/nat_mesh.ts";
import { nodeList, startMeshNode, waitUp } from "../fixtures/mesh_lab.ts";
import type { Member } from "../../lib/members/member.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("iptables", "conntrack"));
const CIDR = "10.93.0.0/24";

/** The leader's member records (`weft node list --json` on it). */
async function leaderRecords(m: NatMesh): Promise<Member[]> {
  return (await nodeList(m.lab, LEADER, m.dir) ?? []) as Member[];
}

Deno.test({
  name: "a member whose site lets no UDP out joins over TCP; without the leader's TCP it cannot",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const m = await masqueradeMesh({ a: ["a1", "a2"] }, { ifPrefix: "tj", cidr: CIDR });
    try {
      await m.lab.blockUdp("a", true);
      const later = await m.token(1);
      await m.joinStart(["a1"]);
      const log = m.log("a1");
      assert.match(
        log,
        new RegExp(
          `INFO joined over tcp leader=tcp://${LEADER_IP.replaceAll(".", "\\.")}:${WG_PORT}`,
        ),
        log,
      );
      await waitUp(m.lab, "a1", m.dir, m.procs.get("a1")!);
      const records = await leaderRecords(m);
      const a1 = records.find((r) => r.name === "a1");
      assert.ok(a1, `the leader lists a1: ${JSON.stringify(records)}`);
      // Its TCP port from its request; no observed endpoint: it came from an ephemeral TCP port.
      assert.equal(a1.tcpPort, WG_PORT);
      assert.ok(!a1.endpoints.some((e) => e.includes(m.lab.router("a").wan)), a1.endpoints.join());
      const lead = records.find((r) => r.role === "leader")!;
      assert.equal(lead.relay, true);
      assert.equal(lead.tcpPort, WG_PORT);

      // The leader without TCP: its port refuses the connection and the join says so.
      await m.stop(LEADER);
      await m.start(LEADER, ["--advertise", `${LEADER_IP}:${WG_PORT}`, "--tcp-port", "0"]);
      const p = startMeshNode(
        m.lab,
        { dir: m.dir, cidr: CIDR, ifPrefix: "tj" },
        "a2",
        ["--join", later],
      );
      const guard = setTimeout(() => m.lab.stop(p.child), HANG_GUARD_MS);
      const status = await p.child.status;
      clearTimeout(guard);
      const out = p.output();
      assert.equal(status.code, 1, out);
      const ip = LEADER_IP.replaceAll(".", "\\.");
      assert.match(
        out,
        new RegExp(
          `no answer from the leader: tcp://${ip}:${WG_PORT} refused the connection 3 times ` +
            "\\(no weft listens on that TCP port",
        ),
      );
      assert.ok(!(await leaderRecords(m)).some((r) => r.name === "a2"));
    } finally {
      await m.close();
    }
  },
});
