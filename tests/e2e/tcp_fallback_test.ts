/**
 * Issue 14's TCP fallback, through the real CLI in TUN mode in the NAT lab: a member whose site
 * lets no UDP out joins over TCP, reaches the leader over TCP and another member through the
 * leader's relay over TCP, and runs iperf3 to it; when the block is lifted it moves to UDP, and
 * when the block comes back it moves to TCP again. The times of each switch and the gap in a
 * ping stream across it are printed (figures, not asserted bounds).
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands } from "../fixtures/netns.ts";
import { LEADER, masqueradeMesh, type NatMesh } from "../fixtures/nat_mesh.ts";
import { metricsOf, metricValue, type PeerView, peerView } from "../fixtures/mesh_lab.ts";

const ignore = !(await canBuildLabs()) ||
  !(await haveCommands("iptables", "conntrack", "iperf3", "ping"));
const CIDR = "10.94.0.0/24";

/** Milliseconds until `host`'s view of `peer` satisfies `ok`; throws with the view if never. */
async function until(
  m: NatMesh,
  host: string,
  peer: string,
  ok: (v: PeerView) => boolean,
  what: string,
): Promise<number> {
  const t = performance.now();
  await m.waitPeer(host, peer, ok, what);
  return Math.round(performance.now() - t);
}

/**
 * Pings `to` from `from` every 100 ms while `during` runs; the longest stretch without a reply
 * (ms) and how many of the pings were answered.
 */
async function gapAcross(
  m: NatMesh,
  from: string,
  to: string,
  during: () => Promise<void>,
): Promise<{ gapMs: number; answered: number; sent: number }> {
  const start = Date.now();
  const child = m.lab.spawn(from, "ping", ["-D", "-i", "0.1", "-W", "1", m.addr[to]]);
  const out = child.output;
  let end = 0;
  try {
    await during();
    await new Promise((r) => setTimeout(r, 1_000));
  } finally {
    end = Date.now();
    await m.lab.stop(child.child);
  }
  const stamps = [...out().matchAll(/^\[(\d+\.\d+)\].*icmp_seq=(\d+)/gm)].map((x) =>
    Number(x[1]) * 1000
  );
  const sent = Math.max(0, ...[...out().matchAll(/icmp_seq=(\d+)/g)].map((x) => Number(x[1])));
  // Unanswered at the start or the end counts as a gap from the start or up to the end.
  let gap = stamps.length
    ? Math.max(stamps[0] - start, end - stamps[stamps.length - 1])
    : end - start;
  for (let i = 1; i < stamps.length; i++) gap = Math.max(gap, stamps[i] - stamps[i - 1]);
  return { gapMs: Math.round(gap), answered: stamps.length, sent };
}

/**
 * Runs iperf3 TCP from `from` to `to` for `seconds` (reporting every 0.5 s) while `during` runs
 * (started 2 s in); the longest stretch of intervals that carried under 1 Mbit/s, in ms, and
 * the mean Mbit/s.
 */
async function iperfAcross(
  m: NatMesh,
  from: string,
  to: string,
  seconds: number,
  during: () => Promise<void>,
): Promise<{ stallMs: number; mbps: number }> {
  const server = m.lab.spawn(to, "iperf3", ["-s", "-1"]);
  try {
    await eventually(
      async () => (await m.lab.exec(to, "ss", "-ltn")).stdout.includes(":5201"),
      HANG_GUARD_MS,
    );
    const client = m.lab.spawn(from, "iperf3", [
      "-c",
      m.addr[to],
      "-t",
      String(seconds),
      "-i",
      "0.5",
      "-J",
    ]);
    await new Promise((r) => setTimeout(r, 2_000));
    await during();
    await client.child.status;
    const doc = JSON.parse(client.output().slice(client.output().indexOf("{")));
    const rates: number[] = doc.intervals.map((i: { sum: { bits_per_second: number } }) =>
      i.sum.bits_per_second
    );
    let run = 0;
    let longest = 0;
    for (const r of rates) {
      run = r < 1e6 ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
    return {
      stallMs: longest * 500,
      mbps: Math.round(doc.end.sum_received.bits_per_second / 1e6),
    };
  } finally {
    await m.lab.stop(server.child);
  }
}

const onTcp = (v: PeerView) => v.transport === "tcp";
const onUdp = (v: PeerView) => v.transport === "udp";

Deno.test({
  name: "a member whose site drops UDP goes over TCP, to UDP when it can, and back to TCP",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const m = await masqueradeMesh({ a: ["a1"], b: ["b1"] }, { ifPrefix: "tf", cidr: CIDR });
    try {
      await m.lab.blockUdp("a", true);
      await m.join(["a1", "b1"]);
      assert.match(m.log("a1"), /joined over tcp/);
      const leaderReply = await m.firstReply("a1", LEADER);
      assert.notEqual(leaderReply, null, m.log("a1"));
      const v = await m.waitPeer("a1", LEADER, onTcp, "over tcp");
      assert.equal(v.path, "direct");
      // b1 is idle for a1 until traffic goes (sessions on demand): the first ping starts the
      // handshake, and the route it takes is the leader's relay over TCP.
      const firstToB = await m.firstReply("a1", "b1");
      assert.notEqual(firstToB, null, `a1's first ping reaches b1\n${m.log("a1").slice(-4000)}`);
      const relayed = await m.waitPeer(
        "a1",
        "b1",
        (v) => v.path === "relay" && v.via === LEADER && v.transport === "tcp",
        "relayed over tcp",
      );
      assert.ok(relayed);
      assert.ok(await m.answers("a1", "b1", 3), "a1 pings b1 through the relay over TCP");
      assert.ok(await m.answers("b1", "a1", 3), "b1 pings a1 through the relay");

      // iperf3 from a1 to b1 through the relay, over TCP on a1's side.
      const server = m.lab.spawn("b1", "iperf3", ["-s", "-1"]);
      await eventually(
        async () => (await m.lab.exec("b1", "ss", "-ltn")).stdout.includes(":5201"),
        HANG_GUARD_MS,
      );
      const ip = await m.lab.exec("a1", "iperf3", "-c", m.addr.b1, "-t", "5", "-J");
      await m.lab.stop(server.child);
      assert.equal(ip.code, 0, ip.stdout + ip.stderr);
      const bps = JSON.parse(ip.stdout).end.sum_received.bits_per_second as number;
      console.log(`iperf3 a1→b1 through the relay over TCP: ${(bps / 1e6).toFixed(0)} Mbit/s`);
      // The TUN and UDP figures of a TUN-mode agent are in its /metrics.
      const text = await metricsOf(m.lab, "a1");
      assert.ok(metricValue(text, "weft_tun_packets_total", { dir: "in" }) > 0, text);
      assert.ok(metricValue(text, "weft_tcp_frames_total", { dir: "out" }) > 0, text);
      assert.ok(text.includes("weft_udp_datagrams_total"), text);

      // The block lifted: a1 moves to UDP with the leader.
      let toUdp = 0;
      const up = await gapAcross(m, "a1", LEADER, async () => {
        await m.lab.blockUdp("a", false);
        toUdp = await until(m, "a1", LEADER, onUdp, "back on udp");
      });
      console.log(
        `block lifted: a1 on UDP with the leader after ${toUdp} ms; ` +
          `longest ping gap ${up.gapMs} ms (${up.answered}/${up.sent} answered)`,
      );
      const toB = await until(m, "a1", "b1", (v) => v.transport === "udp", "a1-b1 on udp");
      console.log(`a1-b1 on UDP ${toB} ms later (${(await peerView(m.lab, "a1", "b1"))?.path})`);
      assert.ok(await m.answers("a1", "b1", 3), "a1 pings b1 over UDP");

      // iperf3 across each switch: UDP → TCP, then TCP → UDP.
      const toTcpRun = await iperfAcross(m, "a1", LEADER, 14, async () => {
        await m.lab.blockUdp("a", true);
        await m.waitPeer("a1", LEADER, onTcp, "on tcp");
      });
      const toUdpRun = await iperfAcross(m, "a1", LEADER, 14, async () => {
        await m.lab.blockUdp("a", false);
        await m.waitPeer("a1", LEADER, onUdp, "on udp");
      });
      console.log(
        `iperf3 a1→leader across UDP→TCP: stalled ${toTcpRun.stallMs} ms, ${toTcpRun.mbps} ` +
          `Mbit/s overall; across TCP→UDP: stalled ${toUdpRun.stallMs} ms, ${toUdpRun.mbps} Mbit/s`,
      );
      assert.ok(toTcpRun.mbps > 0 && toUdpRun.mbps > 0);

      // The block back: a1 back on TCP.
      let toTcp = 0;
      const down = await gapAcross(m, "a1", LEADER, async () => {
        await m.lab.blockUdp("a", true);
        toTcp = await until(m, "a1", LEADER, onTcp, "back on tcp");
      });
      console.log(
        `block back: a1 on TCP with the leader after ${toTcp} ms; ` +
          `longest ping gap ${down.gapMs} ms (${down.answered}/${down.sent} answered)`,
      );
      // The first reply over TCP, however long the inner TCP's retransmissions take to resume.
      const resumed = await m.firstReply("a1", LEADER);
      console.log(`first reply a1 → leader ${Math.round(resumed ?? -1)} ms after the switch`);
      assert.notEqual(resumed, null, `a1 pings the leader over TCP again\n${m.log("a1")}`);
      assert.ok(await m.answers("a1", LEADER, 3), "a1 pings the leader over TCP again");
      await m.waitPeer(
        "a1",
        "b1",
        (v) => v.path === "relay" && v.transport === "tcp",
        "relayed over tcp again",
      );
      // Through the relay over TCP: the first reply, however long the inner TCP takes to resume.
      const again = await m.firstReply("a1", "b1");
      console.log(`first reply a1 → b1 relayed over TCP ${Math.round(again ?? -1)} ms later`);
      assert.notEqual(again, null, `a1 pings b1 over TCP again\n${m.log("a1").slice(-4000)}`);
    } finally {
      await m.close();
    }
  },
});
