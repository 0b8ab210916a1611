/**
 * Issue 49's WebSocket transport, through the real CLI in TUN mode in the NAT lab: a member whose
 * site firewall lets out no UDP and, of TCP to the leader's port, only connections that start as
 * HTTP (the site router marks a connection whose first payload starts `GET` and passes it, and
 * drops every other segment with a payload: framed TCP never gets a byte through). The leader is
 * started as every other test starts it, the token made as always: the member joins over the
 * leader's TCP port as a WebSocket, reaches the leader and, through the leader's relay, another
 * member, and its status and /metrics say websocket. Then the HTTP-only rules are lifted (UDP
 * still blocked): the member moves back up to framed TCP by itself; then UDP is let out, and it
 * moves to UDP. iperf3 to the leader on each (figures for the note, not asserted).
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands } from "../fixtures/netns.ts";
import { LEADER, masqueradeMesh, type NatMesh } from "../fixtures/nat_mesh.ts";
import { httpOnly, httpOnlyDrops as dropped } from "../fixtures/http_only.ts";
import { metricsOf, metricValue, pathCell, type PeerView } from "../fixtures/mesh_lab.ts";

const ignore = !(await canBuildLabs()) ||
  !(await haveCommands("iptables", "ping", "curl", "iperf3"));
const CIDR = "10.95.0.0/24";

/** iperf3 (TCP, 3 s) from `from` to `to` through the mesh: Mbit/s received. */
async function iperf(m: NatMesh, from: string, to: string): Promise<number> {
  const server = m.lab.spawn(to, "iperf3", ["-s", "-1"]);
  try {
    await eventually(
      async () => (await m.lab.exec(to, "ss", "-ltn")).stdout.includes(":5201"),
      HANG_GUARD_MS,
    );
    const r = await m.lab.exec(from, "iperf3", "-c", m.addr[to], "-t", "3", "-J");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    return Math.round(JSON.parse(r.stdout).end.sum_received.bits_per_second / 1e6);
  } finally {
    await m.lab.stop(server.child);
  }
}

const onWs = (v: PeerView) => v.transport === "websocket";

Deno.test({
  name: "a member behind an HTTP-only firewall joins and reaches the mesh over a WebSocket",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const m = await masqueradeMesh({ a: ["a1"], b: ["b1"] }, { ifPrefix: "wf", cidr: CIDR });
    try {
      await m.lab.blockUdp("a", true);
      await httpOnly(m, "a", true);
      await m.join(["a1", "b1"]);
      assert.match(m.log("a1"), /joined over websocket/, m.log("a1"));
      // Framed TCP was tried, and the firewall dropped it: the WebSocket is a fallback, not a
      // first choice.
      assert.ok(await dropped(m, "a") > 0, "the firewall dropped framed TCP");
      const reply = await m.firstReply("a1", LEADER);
      assert.notEqual(reply, null, m.log("a1").slice(-6000));
      const v = await m.waitPeer("a1", LEADER, onWs, "over websocket");
      // It starts on the WebSocket it joined over, not on UDP or TCP that it would find failing.
      const first = m.log("a1").split("\n").find((l) => /path changed peer=lead /.test(l));
      assert.match(first ?? "", /endpoint=ws:\/\/203\.0\.113\.1:51820 .*reason=websocket/);
      assert.equal(v.path, "direct");
      assert.match(String(v.endpoint), /^ws:\/\/203\.0\.113\.1:51820$/);
      assert.ok(await m.answers("a1", LEADER, 3), "a1 pings the leader over a WebSocket");
      // The leader sees a1 on a WebSocket too.
      await m.waitPeer(LEADER, "a1", onWs, "over websocket on the leader's side");
      // b1 through the leader's relay; a1's side of it is the WebSocket.
      const toB = await m.firstReply("a1", "b1");
      assert.notEqual(toB, null, `a1's first ping reaches b1\n${m.log("a1").slice(-6000)}`);
      await m.waitPeer(
        "a1",
        "b1",
        (v) => v.path === "relay" && v.via === LEADER && v.transport === "websocket",
        "relayed over websocket",
      );
      assert.ok(await m.answers("a1", "b1", 3), "a1 pings b1 through the relay");
      assert.ok(await m.answers("b1", "a1", 3), "b1 pings a1 through the relay");
      // /metrics on both ends: a1 dialled WebSockets, the leader upgraded them.
      const mine = await metricsOf(m.lab, "a1");
      assert.ok(metricValue(mine, "weft_websocket_handshakes_total", { result: "dialled" }) > 0);
      assert.ok(metricValue(mine, "weft_fallbacks_total", { to: "websocket" }) >= 1, mine);
      const lead = await metricsOf(m.lab, LEADER);
      assert.ok(metricValue(lead, "weft_websocket_handshakes_total", { result: "upgraded" }) > 0);
      assert.ok(metricValue(lead, "weft_websocket_connections") >= 1, lead);
      // The table `weft status` prints says so too.
      assert.equal(await pathCell(m.lab, "a1", LEADER), "direct/websocket");

      const overWs = await iperf(m, "a1", LEADER);

      // Framed TCP gets through again (UDP still does not): a1 moves back up to TCP.
      await httpOnly(m, "a", false);
      await m.waitPeer("a1", LEADER, (v) => v.transport === "tcp", "back on tcp");
      assert.ok(await m.answers("a1", LEADER, 3), "a1 pings the leader over TCP");
      const overTcp = await iperf(m, "a1", LEADER);
      // And UDP: up to the direct path.
      await m.lab.blockUdp("a", false);
      await m.waitPeer("a1", LEADER, (v) => v.transport === "udp", "on udp");
      const overUdp = await iperf(m, "a1", LEADER);
      console.log(
        `iperf3 a1→leader, same run: websocket ${overWs} Mbit/s, tcp ${overTcp} Mbit/s, ` +
          `udp ${overUdp} Mbit/s`,
      );
      assert.ok(overWs > 0 && overTcp > 0 && overUdp > 0);
    } finally {
      // How a1's path to the leader went (figures for the note, not asserted).
      const moves = m.log("a1").split("\n").filter((l) => /path changed|joined over/.test(l));
      console.log(moves.join("\n"));
      await m.close();
    }
  },
});
