/**
 * After the leader restarts, it and its members settle on one path each: UDP, where it works.
 * Two members behind symmetric NATs talk through the leader's relay (tests/fixtures/nat_mesh.ts)
 * while the leader is stopped or killed and started again; while it is down the members fall back
 * to its TCP and its WebSocket. Once the path is back (the relayed pings answered, each side
 * reaching the other over UDP) and over a window watched after, a member's endpoint for the leader
 * moves at most once more, and the restarted leader's for a member at most three times since it
 * started: before, the leader moved its sending between a member's stream and UDP at every look
 * of its routes, and members moved between UDP, TCP and a WebSocket dialled anew each time. The moves are the peers' `endpointMoves` in `/status`; the window is a
 * stretch watched, never a time asserted.
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands } from "../fixtures/netns.ts";
import { LEADER, LEADER_IP, type NatMesh, siteMesh, WG_PORT } from "../fixtures/nat_mesh.ts";
import { metricsOf, type PeerView, peerView } from "../fixtures/mesh_lab.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("ping", "iptables", "conntrack"));
const LEADER_ARGS = ["--leader", "--advertise", `${LEADER_IP}:${WG_PORT}`];
/** How long the endpoints are watched once the path is back. */
const WATCH_MS = 15_000;
/**
 * The restarted leader's endpoint moves for a member, at most: onto the stream the member's first
 * handshake came on, and back to UDP, and once more for a second stream the member's handshake
 * may come on before that (its TCP probe from the WebSocket).
 */
const LEADER_MOST = 3;
/** The pairs whose endpoint moves are counted: [host, its peer]. */
const PAIRS = [[LEADER, "a1"], [LEADER, "b1"], ["a1", LEADER], ["b1", LEADER]] as const;

/** Over UDP, not relayed: what each side of a member and the leader should come back to. */
const overUdp = (v: PeerView) => v.path === "direct" && v.transport === "udp";

/** The relay's `source` drops (relayed packets from a place the member's were not heard from). */
async function sourceDrops(m: NatMesh): Promise<number> {
  const text = await metricsOf(m.lab, LEADER);
  const s = text.match(/^weft_relay\w*drop\w*\{[^}]*reason="source"[^}]*\} (\S+)/m);
  return s ? Number(s[1]) : 0;
}

/** Each pair's `endpointMoves` now. */
async function moves(m: NatMesh): Promise<number[]> {
  return await Promise.all(PAIRS.map(async ([host, peer]) => {
    const v = await peerView(m.lab, host, peer);
    assert.ok(typeof v?.endpointMoves === "number", `${host}'s view of ${peer}: no endpointMoves`);
    return v.endpointMoves;
  }));
}

Deno.test({
  name: "after the leader restarts, it and its members settle on UDP: one endpoint move at most",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const m = await siteMesh("random-fully", { a: ["a1"], b: ["b1"] }, {
      ifPrefix: "s9",
      extra: ["--log-level", "debug"],
    });
    try {
      await m.join(["a1", "b1"]);
      assert.notEqual(await m.firstReply("a1", "b1"), null, "a1 -> b1 first contact");
      const relayed = (v: PeerView) => v.path === "relay";
      await m.waitPeer("a1", "b1", relayed, "relayed");
      await m.waitPeer("b1", "a1", relayed, "relayed");
      // Relayed traffic all along: the members' relayed packets go the way they reach the leader.
      const loop = m.lab.spawn("a1", "ping", ["-D", "-i", "0.2", "-s", "300", m.addr.b1]);
      const failures: string[] = [];
      for (const how of ["SIGTERM", "SIGKILL", "SIGTERM"] as const) {
        const lead = m.procs.get(LEADER)!;
        if (how === "SIGTERM") await m.stop(LEADER);
        else {
          lead.child.kill("SIGKILL");
          await lead.child.status;
        }
        const upAt = Date.now();
        await m.start(LEADER, LEADER_ARGS);
        // Relayed pings answered again, and both members relayed.
        const answered = () =>
          [...loop.output().matchAll(/^\[(\d+\.\d+)\] \d+ bytes from/gm)].some((x) =>
            Number(x[1]) * 1000 > upAt
          );
        assert.ok(
          await eventually(() => Promise.resolve(answered()), 2 * HANG_GUARD_MS),
          `relayed pings come back after ${how}`,
        );
        await m.waitPeer("a1", "b1", relayed, "relayed");
        await m.waitPeer("b1", "a1", relayed, "relayed");
        // The members' moves are counted once each side is over UDP (a member still on its
        // fallback then comes back once); the restarted leader's from its start: onto the
        // member's stream its first handshake came on, and back to UDP, is all it takes (before,
        // its sending moved between the member's stream and UDP at every look).
        const dropsAt = await sourceDrops(m);
        for (const [host, peer] of PAIRS) await m.waitPeer(host, peer, overUdp, "over UDP");
        const at = [0, 0, ...(await moves(m)).slice(2)];
        const seen: number[][] = [];
        const end = Date.now() + WATCH_MS;
        while (Date.now() < end) {
          await new Promise((r) => setTimeout(r, 1_000));
          seen.push((await moves(m)).map((n, i) => n - at[i]));
        }
        const last = seen.at(-1)!;
        const dropsAfter = (await sourceDrops(m)) - dropsAt;
        console.log(
          `after ${how}: endpoint moves (the leader's since its start, the members' once over UDP) ` +
            PAIRS.map(([h, p], i) => `${h}->${p} ${last[i]}`).join(", ") +
            ` (each second: ${JSON.stringify(seen)}); source drops after ${dropsAfter}`,
        );
        PAIRS.forEach(([h, p], i) => {
          const most = h === LEADER ? LEADER_MOST : 1;
          if (last[i] > most) {
            failures.push(`${how}: ${h}'s endpoint for ${p} moved ${last[i]} times`);
          }
        });
      }
      await m.lab.stop(loop.child, 1000);
      assert.deepEqual(failures, [], "endpoints settle once the path is back");
    } finally {
      await m.close();
    }
  },
});
