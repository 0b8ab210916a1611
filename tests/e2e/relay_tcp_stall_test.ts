/**
 * A relayed pair whose one end reaches the leader over framed TCP, through the real CLI in TUN
 * mode in the NAT lab: a1's site lets out no UDP, so a1 joins over the leader's TCP port and its
 * packets to b1 go through the leader's relay on that connection. Then the site starts letting
 * out only TCP that begins as HTTP (tests/fixtures/http_only.ts): the TCP connection stalls (its
 * segments are dropped, the kernel keeps retrying; nothing closes it), and the WebSocket to the
 * same port gets through. a1 only pings b1: its traffic to the leader is relayed packets. The
 * stall is one way: the leader's packets (its own, and b1's relayed) still reach a1, so neither
 * the session's counters nor the watch on relayed traffic with nothing back see it; the health
 * probes to the leader, round trips, do (lib/mesh/relay/mesh_routes.ts). The relay's route must
 * leave the stalled TCP for ws://, and the pair's pings come back through the WebSocket.
 */
import assert from "node:assert/strict";
import { canBuildLabs, haveCommands } from "../fixtures/netns.ts";
import { LEADER, masqueradeMesh } from "../fixtures/nat_mesh.ts";
import { httpOnly, httpOnlyDrops } from "../fixtures/http_only.ts";

const ignore = !(await canBuildLabs()) || !(await haveCommands("iptables", "ping"));

Deno.test({
  name: "a relayed pair on a TCP link to the leader that stalls recovers through its WebSocket",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const m = await masqueradeMesh({ a: ["a1"], b: ["b1"] }, {
      ifPrefix: "rk",
      cidr: "10.95.7.0/24",
    });
    let ping: { child: Deno.ChildProcess; output: () => string } | null = null;
    try {
      await m.lab.blockUdp("a", true);
      await m.join(["a1", "b1"]);
      assert.match(m.log("a1"), /joined over tcp/, m.log("a1"));
      // a1 to b1 through the leader's relay, a1's side of it on framed TCP.
      assert.notEqual(await m.firstReply("a1", "b1"), null, m.log("a1").slice(-6000));
      await m.waitPeer(
        "a1",
        "b1",
        (v) => v.path === "relay" && v.via === LEADER && v.transport === "tcp",
        "relayed over tcp",
      );
      const before = await m.waitPeer("a1", LEADER, (v) => v.transport === "tcp", "on tcp");
      assert.match(String(before.endpoint), /^tcp:\/\//);

      // The site now drops framed TCP's segments: the connection stalls, it is not closed.
      await httpOnly(m, "a", true);
      // Only relayed traffic from here: a1 pings b1, never the leader.
      ping = m.lab.spawn("a1", "ping", ["-i", "0.2", m.addr["b1"]]);
      const moved = await m.waitPeer("a1", LEADER, (v) => v.transport === "websocket", "on ws");
      assert.match(String(moved.endpoint), /^ws:\/\/203\.0\.113\.1:/);
      assert.ok(await httpOnlyDrops(m, "a") > 0, "the site dropped the stalled TCP's segments");
      await m.waitPeer(
        "a1",
        "b1",
        (v) => v.path === "relay" && v.via === LEADER && v.transport === "websocket",
        "relayed over websocket",
      );
      assert.ok(await m.pings("a1", "b1", 5) >= 3, "a1 pings b1 through the relay again");
      assert.ok(await m.pings("b1", "a1", 5) >= 3, "b1 pings a1 through the relay again");
    } finally {
      if (ping) await m.lab.stop(ping.child).catch(() => {});
      // How a1's route to the leader went (for the note, not asserted).
      const moves = m.log("a1").split("\n").filter((l) => /path changed|joined over/.test(l));
      console.log(moves.join("\n"));
      await m.close();
    }
  },
});
