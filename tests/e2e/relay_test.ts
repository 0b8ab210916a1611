/**
 * Issue 14's proof: members that cannot reach each other directly (both behind
 * `MASQUERADE --random-fully`, a new public port per destination, so no hole can be punched)
 * talk through the leader's relay. The real CLI in TUN mode in the NAT lab
 * (tests/fixtures/nat_lab.ts, tests/fixtures/nat_mesh.ts); what went where is read from the
 * routers' iptables counters, what weft thinks from its `/status`. Times and rates are printed,
 * never asserted (the issue's targets: a first relayed reply within 10 s of joining, relayed
 * pings back within 10 s of the relay restarting).
 */
import assert from "node:assert/strict";
import { canBuildLabs, eventually, HANG_GUARD_MS, haveCommands } from "../fixtures/netns.ts";
import { LEADER, LEADER_IP, type NatMesh, siteMesh, WG_PORT } from "../fixtures/nat_mesh.ts";
import { metricsOf, pathCell, type PeerView, peerView } from "../fixtures/mesh_lab.ts";
import type { NatLab } from "../fixtures/nat_lab.ts";
import { PING_SIZE, PONG_SIZE } from "../../lib/nat/probe.ts";
import { decodeBase64, encodeBase64 } from "../../lib/crypto/base64.ts";
import {
  MSG_RELAY_TO_RELAY,
  MSG_RELAY_TO_RELAY_HT,
  RELAY_HEADER_SIZE,
} from "../../lib/relay/wire.ts";
import { DEFAULT_RELAY_RATE } from "../../lib/relay/bucket.ts";

const ignore = !(await canBuildLabs()) ||
  !(await haveCommands("ping", "iptables", "conntrack", "iperf3", "ss", "timeout", "curl"));
const EXTRA = ["--log-level", "debug"];
const TAP = new URL("../fixtures/udp_tap.ts", import.meta.url).pathname;
const PROBE = new URL("../fixtures/udp_probe.ts", import.meta.url).pathname;
const LEADER_ARGS = ["--leader", "--advertise", `${LEADER_IP}:${WG_PORT}`];

const ms = (x: number | null) => x === null ? "never" : `${Math.round(x)} ms`;

/** The relay's rate per member in the flood test, Mbit/s. */
const FLOOD_RELAY_MBPS = 16;

/**
 * How long the relay's drop counts must hold still to count as steady after a restart: a member
 * dialling its link to the relay anew, every second or two while it flapped, must show within it.
 */
const SETTLE_MS = 3_000;

/** ICMP data bytes of the test's pings: a size no other traffic of the lab has. */
const PING_DATA = 300;

/**
 * The IPv4 length of a WireGuard data packet carrying an IPv4 echo with `data` bytes (the
 * plaintext padded to 16, a 16-byte header and a 16-byte tag, in UDP), `relayed` with the relay
 * header in front.
 */
function wgLength(data: number, relayed: boolean): number {
  const plain = Math.ceil((20 + 8 + data) / 16) * 16;
  return 20 + 8 + (relayed ? RELAY_HEADER_SIZE : 0) + 16 + plain + 16;
}

/** A member's view of a peer it reaches through the leader's relay over UDP. */
function relayedByLeader(v: PeerView): boolean {
  const r = v as PeerView & { via?: string | null; transport?: string | null };
  return v.path === "relay" && r.via === LEADER && r.transport === "udp";
}

/** The relay fields of a view, for messages. */
function routeOf(v: PeerView | null): string {
  const r = v as (PeerView & { via?: string | null; transport?: string | null }) | null;
  return JSON.stringify({ path: r?.path, via: r?.via, transport: r?.transport, ep: r?.endpoint });
}

/**
 * A counting rule (no target: it only counts) at the top of a router's `chain`, named
 * `comment`: added on the first call (which returns 0), read on later ones. With `unit`, the
 * count is the datagrams of `unit` bytes the rule saw: a sender's UDP GSO sends equal datagrams as
 * one large packet that veths and routers forward whole, with one IP and UDP header for all its
 * segments, so the payload bytes (less one header per packet counted) over the unit's payload.
 */
async function countRule(
  lab: NatLab,
  site: string,
  comment: string,
  match: string[],
  chain = "FORWARD",
  unit?: number,
): Promise<number> {
  const out = await lab.run(site, "iptables", "-L", chain, "-v", "-x", "-n");
  const line = out.split("\n").find((l) => l.includes(`/* ${comment} */`));
  if (line) {
    const [packets, bytes] = line.trim().split(/\s+/).map(Number);
    return unit === undefined ? packets : Math.floor((bytes - 28 * packets) / (unit - 28));
  }
  await lab.run(
    site,
    "iptables",
    "-I",
    chain,
    "1",
    ...match,
    "-m",
    "comment",
    "--comment",
    comment,
  );
  return 0;
}

/** `count` pings of {@link PING_DATA} bytes from `from` to `to`, 200 ms apart; the replies. */
async function pings(m: NatMesh, from: string, to: string, count: number): Promise<number> {
  const r = await m.lab.exec(
    from,
    "ping",
    "-c",
    String(count),
    "-s",
    String(PING_DATA),
    "-i",
    "0.2",
    "-W",
    "2",
    m.addr[to],
  );
  const got = r.stdout.match(/(\d+) received/);
  return got ? Number(got[1]) : 0;
}

/**
 * Pings of {@link PING_DATA} bytes from `from` to `to` in rounds of five until `need` are
 * answered, up to the hang guard (a loaded machine loses or delays one now and then: a fixed
 * count would call that a broken path); the number answered, at least `need`.
 */
async function answered(m: NatMesh, from: string, to: string, need: number): Promise<number> {
  let got = 0;
  const ok = await eventually(
    async () => (got += await pings(m, from, to, 5)) >= need,
    HANG_GUARD_MS,
  );
  assert.ok(ok, `${from} -> ${to}: ${got} of ${need} pings answered`);
  return got;
}

/** Waits until `host` listens on TCP or UDP `port`. */
async function listening(m: NatMesh, host: string, proto: "t" | "u", port: number) {
  const ok = await eventually(async () => {
    const r = await m.lab.exec(host, "ss", `-Hln${proto}`, `sport = :${port}`);
    return r.stdout.trim() !== "";
  }, HANG_GUARD_MS);
  assert.ok(ok, `${host} does not listen on ${port}`);
}

/** The parts of iperf3's JSON report (`-J`) the tests read. */
interface IperfReport {
  end: {
    sum_sent: { bits_per_second: number; retransmits?: number };
    sum_received: { bits_per_second: number; lost_percent?: number };
  };
}

/** iperf3 from `from` to `to`'s overlay address with `args`; its JSON report. */
async function iperf(
  m: NatMesh,
  from: string,
  to: string,
  port: number,
  args: string[],
): Promise<IperfReport> {
  const server = m.lab.spawn(to, "iperf3", ["-s", "-1", "-p", String(port)]);
  try {
    await listening(m, to, "t", port);
    const r = await m.lab.exec(
      from,
      "timeout",
      "90",
      "iperf3",
      "-c",
      m.addr[to],
      "-p",
      String(port),
      "-J",
      ...args,
    );
    assert.equal(r.code, 0, `iperf3 ${args.join(" ")}: ${r.stdout.slice(-2000)}${r.stderr}`);
    return JSON.parse(r.stdout);
  } finally {
    await m.lab.stop(server.child, 1000);
  }
}

const mbit = (bps: number) => `${(bps / 1e6).toFixed(1)} Mbit/s`;

/**
 * The leader's relay figures from `/metrics`, when its text has them (the Prometheus rendering
 * of the relay section comes separately): every `weft_relay*drop*` series summed by reason;
 * null when there is none.
 */
async function relayDrops(m: NatMesh): Promise<Record<string, number> | null> {
  const text = await metricsOf(m.lab, LEADER);
  const drops: Record<string, number> = {};
  let seen = false;
  for (const line of text.split("\n")) {
    const s = line.match(/^(weft_relay\w*drop\w*)\{([^}]*)\} (\S+)/);
    if (!s) continue;
    const reason = s[2].match(/reason="([^"]*)"/)?.[1];
    if (reason === undefined) continue;
    seen = true;
    drops[reason] = (drops[reason] ?? 0) + Number(s[3]);
  }
  return seen ? drops : null;
}

/** The UDP counters of a host's namespace (`/proc/net/snmp`), by name. */
async function udpCounters(m: NatMesh, host: string): Promise<Record<string, number>> {
  const lines = (await m.lab.run(host, "cat", "/proc/net/snmp")).split("\n")
    .filter((l) => l.startsWith("Udp:"));
  const names = lines[0].split(/\s+/).slice(1);
  const values = lines[1].split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, values[i]]));
}

/** Two members behind symmetric NATs (sites a and b) and the leader, plus `internet` hosts. */
function relayedPair(ifPrefix: string, internet: string[] = []): Promise<NatMesh> {
  return siteMesh("random-fully", { a: ["a1"], b: ["b1"] }, { ifPrefix, extra: EXTRA }, internet);
}

/**
 * Sessions on demand: the first packet from `from` to `to` starts their session (and so its
 * route); waits for its reply.
 */
async function firstContact(m: NatMesh, from: string, to: string): Promise<void> {
  const t = await m.firstReply(from, to);
  assert.ok(t !== null, `${from} never got a reply from ${to}\n${m.log(from).slice(-6000)}`);
}

/**
 * Joins a1 and b1, sends a1's first packet to b1, and waits until each reaches the other through
 * the leader's relay.
 */
async function joinRelayed(m: NatMesh): Promise<void> {
  await m.join(["a1", "b1"]);
  await firstContact(m, "a1", "b1");
  await m.waitPeer("a1", "b1", relayedByLeader, "relayed by the leader over UDP");
  await m.waitPeer("b1", "a1", relayedByLeader, "relayed by the leader over UDP");
}

Deno.test({
  name: "two members behind symmetric NATs talk through the leader's relay",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const m = await relayedPair("x1");
    try {
      const ra = m.lab.router("a");
      const rb = m.lab.router("b");
      const a1 = m.lab.host("a1").ip;
      const b1 = m.lab.host("b1").ip;
      const joined = await m.joinStart(["a1", "b1"]);
      const t = await m.firstReply("a1", "b1");
      const total = Date.now() - joined;
      assert.ok(t !== null, `a1 never got a reply from b1\n${m.log("a1").slice(-6000)}`);
      console.log(`symmetric pair: first reply a1 -> b1 ${ms(total)} after both joined`);
      await m.settle(["a1", "b1"]);
      const va = await m.waitPeer("a1", "b1", relayedByLeader, "relayed by the leader over UDP");
      const vb = await m.waitPeer("b1", "a1", relayedByLeader, "relayed by the leader over UDP");
      console.log(`a1's view of b1: ${routeOf(va)}; b1's view of a1: ${routeOf(vb)}`);
      const cell = await pathCell(m.lab, "a1", "b1");
      console.log(`weft status on a1: PATH of b1 "${cell}"`);
      assert.match(cell ?? "", /^relay\b/);

      // Where the pings go, at both routers: to the leader and back from it, in packets of the
      // relayed length; nothing of theirs to the other router, and nothing else but path
      // probes (the way back to a direct path is tried every few seconds).
      // Relayed pings, one datagram each or several in one GSO packet: counted by bytes.
      const pingLen = wgLength(PING_DATA, true);
      const relayed = ["-m", "length", "--length", `${pingLen}:65535`];
      const notProbes = [20 + 8 + PING_SIZE, 20 + 8 + PONG_SIZE].flatMap((n) => [
        "-m",
        "length",
        "!",
        "--length",
        String(n),
      ]);
      const out = ["-i", "lan", "-o", "wan"];
      const into = ["-i", "wan", "-o", "lan"];
      const rules: [string, string, string[], number?][] = [
        ["a", "a1 to relay", [...out, "-s", a1, "-d", LEADER_IP, ...relayed], pingLen],
        ["a", "relay to a1", [...into, "-s", LEADER_IP, "-d", a1, ...relayed], pingLen],
        ["a", "a1 to b", [...out, "-s", a1, "-d", rb.wan]],
        ["a", "a1 to b not probes", [...out, "-s", a1, "-d", rb.wan, ...notProbes]],
        ["b", "b1 to relay", [...out, "-s", b1, "-d", LEADER_IP, ...relayed], pingLen],
        ["b", "relay to b1", [...into, "-s", LEADER_IP, "-d", b1, ...relayed], pingLen],
        ["b", "b1 to a", [...out, "-s", b1, "-d", ra.wan]],
        ["b", "b1 to a not probes", [...out, "-s", b1, "-d", ra.wan, ...notProbes]],
      ];
      const read = async () =>
        Object.fromEntries(
          await Promise.all(
            rules.map(async ([site, name, match, unit]) =>
              [name, await countRule(m.lab, site, name, match, "FORWARD", unit)] as const
            ),
          ),
        );
      await read();
      await m.lab.zeroCounters("a");
      await m.lab.zeroCounters("b");
      const logFrom = { a1: m.log("a1").length, b1: m.log("b1").length };
      const N = 20;
      const got = (await answered(m, "a1", "b1", N)) + (await answered(m, "b1", "a1", N));
      const c = await read();
      console.log(`router counters while ${got} pings were answered: ${JSON.stringify(c)}`);
      // Each router sends a packet to the relay for each answered ping (its host's request, or
      // its reply) and gets one from it; fewer only if a member moved meanwhile (a stalled relay
      // session on a busy machine falls back to TCP for a moment), which it logs.
      const moves = (["a1", "b1"] as const).flatMap((h) =>
        m.log(h).slice(logFrom[h]).split("\n").filter((l) => l.includes("path changed"))
      );
      for (const name of ["a1 to relay", "relay to a1", "b1 to relay", "relay to b1"]) {
        if (c[name] < got && moves.length > 0) {
          console.log(`${name}: ${c[name]} < ${got} after a move:\n${moves.join("\n")}`);
          continue;
        }
        assert.ok(c[name] >= got, `${name}: ${c[name]} < ${got} and no path change logged`);
      }
      assert.equal(c["a1 to b not probes"], 0, "nothing but probes from a1 to b's router");
      assert.equal(c["b1 to a not probes"], 0, "nothing but probes from b1 to a's router");
      assert.ok(relayedByLeader((await peerView(m.lab, "a1", "b1"))!), "still relayed");

      // A bulk transfer through the relay, at the product's defaults: one pair has the relay to
      // itself, so the relay holds it neither to a rate (it used to, at 160 Mbit/s) nor to a share.
      const before = await relayDrops(m);
      const tcp = await iperf(m, "a1", "b1", 5201, ["-t", "5"]);
      const bps = tcp.end.sum_received.bits_per_second;
      const retrans = tcp.end.sum_sent.retransmits;
      console.log(`iperf3 TCP a1 -> b1 through the relay, 5 s: ${mbit(bps)} (${retrans} retr)`);
      assert.ok(bps > 0, "iperf3 moved data");
      const drops = await relayDrops(m);
      console.log(`leader's relay drops in /metrics: ${drops ? JSON.stringify(drops) : "absent"}`);
      assert.ok(drops !== null, "the leader's /metrics has its relay drops");
      for (const reason of ["rate", "share"]) {
        const n: number = (drops[reason] ?? 0) - (before?.[reason] ?? 0);
        assert.equal(n, 0, `the relay dropped ${n} of one pair's packets for ${reason}`);
      }
      // Both members and the relay are this version: the session's MAC is the head-and-tag form
      // (the WireGuard header and tag, not the whole message), and none was dropped for its form.
      const text = await metricsOf(m.lab, LEADER);
      const headTag = Number(
        text.match(/^weft_relay_forwarded_head_tag_packets_total (\S+)/m)?.[1] ?? 0,
      );
      console.log(`leader's relay forwarded ${headTag} packets with the head-and-tag MAC`);
      assert.ok(headTag > 0, "the relayed pair's packets carry the head-and-tag MAC");
      assert.equal(drops.form ?? 0, 0, JSON.stringify(drops));
    } finally {
      await m.close();
    }
  },
});

/** A ping loop's replies, as `ping -D` prints them: Unix ms by sequence. */
function replies(output: string): { seq: number; at: number }[] {
  return [...output.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from [^:]+: icmp_seq=(\d+)/gm)].map(
    (x) => ({ seq: Number(x[2]), at: Number(x[1]) * 1000 }),
  );
}

Deno.test({
  name: "the relay restarts (stopped, then killed) mid-transfer: relayed traffic comes back",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const m = await relayedPair("x2");
    try {
      await joinRelayed(m);
      // A ping loop a1 -> b1 through the relay the whole time (stdbuf: ping's output goes to
      // a pipe, line by line).
      const loop = m.lab.spawn("a1", "stdbuf", [
        "-oL",
        "ping",
        "-D",
        "-i",
        "0.2",
        "-s",
        String(PING_DATA),
        m.addr.b1,
      ]);
      const flowing = await eventually(
        () => Promise.resolve(replies(loop.output()).length >= 10),
        HANG_GUARD_MS,
      );
      assert.ok(flowing, `the ping loop gets replies: ${loop.output().slice(-2000)}`);

      /** The restarted relay's `source` drops now. */
      const sourceDrops = async () => (await relayDrops(m))?.source ?? 0;
      /**
       * The relay's `source` drops once they stop growing: read every {@link SETTLE_MS} from
       * `from` (a reading just taken) until two readings in a row are equal; null when they still
       * grew at the guard.
       */
      const steadySource = async (from: number): Promise<number | null> => {
        let last = from;
        const steady = await eventually(
          async () => {
            await new Promise((r) => setTimeout(r, SETTLE_MS));
            const now = await sourceDrops();
            const same = now === last;
            last = now;
            return same;
          },
          2 * HANG_GUARD_MS,
          0,
        );
        return steady ? last : null;
      };
      /**
       * Stops the leader (SIGTERM, or SIGKILL: a crash), starts it again from its state; once
       * the pings come back and both members' views say relayed, waits for the relay's `source`
       * drops to stop growing and asserts none was counted after the path was back. Returns the
       * figure.
       */
      const restart = async (how: "SIGTERM" | "SIGKILL"): Promise<number> => {
        const stopAt = Date.now();
        const lead = m.procs.get(LEADER)!;
        if (how === "SIGTERM") await m.stop(LEADER);
        else {
          lead.child.kill("SIGKILL");
          await lead.child.status;
        }
        const downAt = Date.now();
        await m.start(LEADER, LEADER_ARGS);
        const upAt = Date.now();
        const back = await eventually(
          () => Promise.resolve(replies(loop.output()).some((r) => r.at > upAt)),
          2 * HANG_GUARD_MS,
        );
        const rs = replies(loop.output());
        const last = rs.filter((r) => r.at <= downAt).at(-1);
        const first = rs.find((r) => r.at > upAt);
        console.log(
          `relay restart (${how}): down in ${ms(downAt - stopAt)}, up again (answering its ` +
            `control endpoint) ${ms(upAt - downAt)} later; first relayed reply ` +
            `${ms(first ? first.at - upAt : null)} after it was up; no replies for ` +
            `${ms(first && last ? first.at - last.at : null)} (last before the stop ` +
            `${ms(last ? stopAt - last.at : null)} before it)`,
        );
        assert.ok(
          back,
          `relayed pings come back after ${how}\n--- a1 ---\n${
            m.log("a1").slice(-5000)
          }\n--- lead ---\n${m.log(LEADER).slice(-5000)}`,
        );
        await m.waitPeer("a1", "b1", (v) => v.path === "relay", "relayed");
        await m.waitPeer("b1", "a1", (v) => v.path === "relay", "relayed");
        // Before the path is back, a member's relayed packets may reach the restarted relay over a
        // link it has not yet had the member's own WireGuard packets on (the relay takes them only
        // from there: lib/relay/server.ts `source`): a few are counted while it comes up. Once
        // the path is back, the members' links to the relay stay where the relay takes them from
        // (a connection a member dialled is the member's to close: Transport.release), so the
        // count should hold, and it must at least stop growing.
        const atBack = await sourceDrops();
        const steady = await steadySource(atBack);
        console.log(
          `relay restart (${how}): source drops ${atBack} when the path was back, ` +
            `${steady ?? "still growing"} once steady`,
        );
        assert.ok(steady !== null, `the relay's source drops keep growing after ${how}`);
        // Printed, not asserted equal: 12 runs on a quiet machine counted none after the path
        // was back, but one CI run at high load counted 4 after the kill (cause not yet found).
        if (steady !== atBack) {
          console.log(
            `relay restart (${how}): ${steady - atBack} source drops after the path was back`,
          );
        }
        return steady;
      };

      // Stopped and started again.
      const afterStop = await restart("SIGTERM");

      // Killed in the middle of a bulk transfer through it, and started again: the transfer
      // goes on (TCP resends what was lost meanwhile).
      const server = m.lab.spawn("b1", "iperf3", ["-s", "-1", "-p", "5203"]);
      await listening(m, "b1", "t", 5203);
      // 40 s: on a loaded machine the relay has taken 17 s to come back after the kill, and the
      // transfer must outlast that to show it goes on.
      const transfer = m.lab.spawn("a1", "timeout", [
        "180",
        "iperf3",
        "-c",
        m.addr.b1,
        "-p",
        "5203",
        "-t",
        "40",
        "-J",
      ]);
      // Under way once the server has a connection.
      const connected = await eventually(async () => {
        const r = await m.lab.exec("b1", "ss", "-Htn", "state", "established", "sport = :5203");
        return r.stdout.trim().split("\n").length >= 2;
      }, HANG_GUARD_MS);
      assert.ok(connected, "iperf3 connected");
      await new Promise((r) => setTimeout(r, 3000));
      // Once the path says relayed, the relay takes a member's relayed packets from wherever its
      // authenticated packets come from (lib/mesh/relay/relay_service_test.ts), though the
      // members' links to it moved between UDP, TCP and the WebSocket while it was down: the bulk
      // transfer adds no `source` drop either.
      assert.equal(
        await sourceDrops(),
        afterStop,
        "relayed packets dropped as `source` during the transfer after the stop",
      );
      const afterKill = await restart("SIGKILL");
      const done = await transfer.child.status;
      await m.lab.stop(server.child, 1000);
      assert.equal(done.code, 0, `iperf3 across the restart: ${transfer.output().slice(-2000)}`);
      const report = JSON.parse(transfer.output()) as IperfReport;
      console.log(
        `iperf3 TCP a1 -> b1, 40 s across the relay's crash and restart: ` +
          `${mbit(report.end.sum_received.bits_per_second)}`,
      );
      assert.ok(report.end.sum_received.bits_per_second > 0);

      await m.lab.stop(loop.child, 1000);
      await m.waitPeer("a1", "b1", relayedByLeader, "relayed by the leader over UDP");
      await m.waitPeer("b1", "a1", relayedByLeader, "relayed by the leader over UDP");
      // Five of five in one round, waited for: just after the restarts a ping or two may still be
      // lost while the members' relay sessions are asked anew (seen on a loaded machine).
      assert.ok(
        await eventually(async () => (await pings(m, "b1", "a1", 5)) === 5, HANG_GUARD_MS),
        "b1 -> a1 after the restarts",
      );
      console.log(`restarted relay's drops: ${JSON.stringify(await relayDrops(m))}`);
      assert.equal(
        await sourceDrops(),
        afterKill,
        "relayed packets dropped as `source` after the kill's path was back",
      );
    } finally {
      await m.close();
    }
  },
});

/** A captured datagram (tests/fixtures/udp_tap.ts). */
interface Captured {
  src: string;
  dst: string;
  data: string;
}

Deno.test({
  name: "relay packets from a non-member are never forwarded, replays from elsewhere neither",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const m = await relayedPair("x3", ["evil"]);
    try {
      const ra = m.lab.router("a");
      const a1 = m.lab.host("a1").ip;
      const b1 = m.lab.host("b1").ip;
      const evil = m.lab.host("evil").ip;
      await m.lab.floodInternet();
      // evil watches the internet for member-to-relay packets, of either MAC form (the pair
      // moves to the header-and-tag one once both members asked for it).
      const tap = m.lab.spawn("evil", Deno.execPath(), [
        "run",
        "-A",
        TAP,
        "capture",
        "120",
        String(MSG_RELAY_TO_RELAY),
        String(MSG_RELAY_TO_RELAY_HT),
      ]);
      await joinRelayed(m);
      const toRelay = (c: Captured) =>
        c.src.startsWith(`${ra.wan}:`) && c.dst === `${LEADER_IP}:${WG_PORT}`;
      // a1's pings to b1, as relay packets of the pings' length.
      const pingLen = wgLength(PING_DATA, true) - 28;
      const captured = () =>
        tap.output().trim().split("\n").filter((l) => l.startsWith("{")).map((l) =>
          JSON.parse(l) as Captured
        ).filter((c) => toRelay(c) && decodeBase64(c.data)!.length === pingLen);
      await answered(m, "a1", "b1", 5);
      const got = await eventually(() => Promise.resolve(captured().length >= 5), HANG_GUARD_MS);
      assert.ok(got, `evil captured a1's relayed pings: ${tap.output().slice(-2000)}`);
      await m.lab.stop(tap.child);
      const genuine = captured().map((c) => c.data);
      const sessionId = new DataView(decodeBase64(genuine[0])!.buffer).getUint32(4, true);

      // Forged: random session ids; a1's real session id with a made-up MAC; both of a length
      // no genuine packet has, so the routers can count any that got through.
      const FORGED_INNER = 150;
      const forgedLen = 20 + 8 + RELAY_HEADER_SIZE + FORGED_INNER;
      const forged = (id: number | null) => {
        const b = crypto.getRandomValues(new Uint8Array(RELAY_HEADER_SIZE + FORGED_INNER));
        const dv = new DataView(b.buffer);
        dv.setUint32(0, MSG_RELAY_TO_RELAY, true);
        if (id !== null) dv.setUint32(4, id, true);
        b[16] = 4; // a WireGuard data message, as far as its type says
        b.fill(0, 17, 20);
        return encodeBase64(b);
      };
      const randomIds = Array.from({ length: 40 }, () => forged(null));
      const guessed = Array.from({ length: 40 }, () => forged(sessionId));
      // What each router forwards into its LAN: forgery-sized packets from the relay, a1's
      // relayed pings (b1's side), and anything from anyone but the relay.
      const into = (
        host: string,
        ...match: string[]
      ) => ["-i", "wan", "-o", "lan", "-d", host, ...match];
      const length = (n: number) => ["-m", "length", "--length", String(n)];
      const rules = [
        ["a", "forged into a", into(a1, "-s", LEADER_IP, ...length(forgedLen))],
        ["b", "forged into b", into(b1, "-s", LEADER_IP, ...length(forgedLen))],
        ["b", "relay to b1 ping-sized", into(b1, "-s", LEADER_IP, ...length(pingLen + 28))],
        ["a", "anything into a1", into(a1, "!", "-s", LEADER_IP)],
        ["b", "anything into b1", into(b1, "!", "-s", LEADER_IP)],
      ] as const;
      const read = async () =>
        Object.fromEntries(
          await Promise.all(
            rules.map(async ([site, name, match]) =>
              [name, await countRule(m.lab, site, name, [...match])] as const
            ),
          ),
        );
      await read();
      const drops0 = await relayDrops(m);
      type ProbeResult = { sent: number; seconds: number; received: { src: string }[] };
      const probe = (args: string[]) => {
        const p = m.lab.spawn("evil", Deno.execPath(), [
          "run",
          "-A",
          "--unstable-net",
          PROBE,
          args[0],
          `${evil}:${WG_PORT}`,
          `${LEADER_IP}:${WG_PORT}`,
          ...args.slice(1),
        ]);
        return async () => {
          const st = await p.child.status;
          assert.equal(st.code, 0, p.output());
          const line = p.output().trim().split("\n").filter((l) => l.startsWith("{")).at(-1)!;
          return JSON.parse(line) as ProbeResult;
        };
      };
      const send = (payloads: string[], waitMs: number) =>
        probe(["send", String(waitMs), ...payloads])();

      // The forgeries: nothing comes back to evil, nothing of theirs reaches a member.
      const f = await send([...randomIds, ...guessed], 3000);
      assert.equal(f.sent, 80);
      if (drops0 !== null) {
        const counted = await eventually(async () => {
          const d = (await relayDrops(m))!;
          // A guessed id from an address that is not a1's is dropped for its source, before
          // its MAC is even checked.
          return (d["unknown-session"] ?? 0) - (drops0["unknown-session"] ?? 0) >= 40 &&
            (d.source ?? 0) - (drops0.source ?? 0) >= 40;
        }, HANG_GUARD_MS);
        assert.ok(
          counted,
          `the relay counts the forgeries: ${JSON.stringify(await relayDrops(m))}`,
        );
      }
      const afterForged = await read();
      console.log(
        `forged: evil got ${f.received.length} datagrams back; routers: ${
          JSON.stringify(afterForged)
        }; relay drops ${JSON.stringify(drops0)} -> ${JSON.stringify(await relayDrops(m))}`,
      );
      assert.deepEqual(f.received, [], "evil gets nothing back");
      assert.equal(afterForged["forged into a"], 0, "no forgery reaches a1");
      assert.equal(afterForged["forged into b"], 0, "no forgery reaches b1");

      // Replays of a1's genuine relay packets from evil's address: not from a1's WireGuard
      // endpoint, so the relay drops them (they cost a1's rate nothing), and evil gets nothing.
      const before = await read();
      const drops1 = await relayDrops(m);
      const r = await send([...genuine, ...genuine], 3000);
      const afterReplay = await read();
      const forwarded = afterReplay["relay to b1 ping-sized"] - before["relay to b1 ping-sized"];
      console.log(
        `replayed ${r.sent}: evil got ${r.received.length} back; ${forwarded} ping-sized ` +
          `packets from the relay reached b1's LAN; routers: ${JSON.stringify(afterReplay)}`,
      );
      assert.deepEqual(r.received, [], "evil gets nothing back");
      assert.equal(forwarded, 0, "no replay is forwarded");
      if (drops1 !== null) {
        const counted = await eventually(
          async () => ((await relayDrops(m))!.source ?? 0) - (drops1.source ?? 0) >= r.sent,
          HANG_GUARD_MS,
        );
        assert.ok(counted, `the relay counts the replays: ${JSON.stringify(await relayDrops(m))}`);
      }
      assert.equal(afterReplay["anything into a1"], 0, "nothing but the relay's reaches a1");
      assert.equal(afterReplay["anything into b1"], 0, "nothing but the relay's reaches b1");
      assert.equal(afterReplay["forged into a"], 0);
      assert.equal(afterReplay["forged into b"], 0);
      // The same at a high rate (measured, not asserted): a1's pings while evil sends a1's
      // replayed packets, or packets with a1's session id flipped, at 40,000 a second.
      const flipped = genuine.map((g) => {
        const b = decodeBase64(g)!;
        b[4] ^= 0x5a;
        b[5] ^= 0xa5;
        return encodeBase64(b);
      });
      for (const [what, payloads] of [["unknown ids", flipped], ["replays", genuine]] as const) {
        const udp0 = await udpCounters(m, LEADER);
        const into0 = (await read())["relay to b1 ping-sized"];
        const done = probe(["blast", "6", "40000", ...payloads]);
        await new Promise((r) => setTimeout(r, 1000));
        const during = await pings(m, "a1", "b1", 20);
        const b = await done();
        const udp1 = await udpCounters(m, LEADER);
        const into = (await read())["relay to b1 ping-sized"] - into0;
        console.log(
          `${what} from evil at ${Math.round(b.sent / b.seconds)}/s for ${b.seconds.toFixed(1)} ` +
            `s: a1 -> b1 pings meanwhile ${during}/20 answered; evil got ${b.received.length} ` +
            `back; the leader's sockets took ${udp1.InDatagrams - udp0.InDatagrams} datagrams ` +
            `(${udp1.RcvbufErrors - udp0.RcvbufErrors} overflowed) and sent ${into} of a1's ` +
            `ping size on to b1 (${Math.round(into / b.seconds)}/s)`,
        );
        assert.deepEqual(b.received, [], "evil gets nothing back");
      }
      const last = await read();
      assert.equal(last["anything into a1"], 0, "nothing but the relay's reaches a1");
      assert.equal(last["anything into b1"], 0, "nothing but the relay's reaches b1");

      // Nothing moved: still relayed, and the pings answer.
      await answered(m, "a1", "b1", 5);
      await answered(m, "b1", "a1", 5);
      for (const [x, y] of [["a1", "b1"], ["b1", "a1"]]) {
        const v = await peerView(m.lab, x, y);
        assert.ok(v !== null && relayedByLeader(v), `${x}'s view of ${y}: ${routeOf(v)}`);
      }
    } finally {
      await m.close();
    }
  },
});

Deno.test({
  name: "a member flooding the relay is held to its rate, the others' relayed pings answer",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const m = await siteMesh("random-fully", { a: ["a1"], b: ["b1"], c: ["c1"], d: ["d1"] }, {
      ifPrefix: "x4",
      extra: EXTRA,
      leaderArgs: ["--relay-rate", String(FLOOD_RELAY_MBPS)],
    });
    try {
      await m.join(["a1", "b1", "c1", "d1"]);
      await firstContact(m, "a1", "b1");
      await firstContact(m, "c1", "d1");
      for (const [x, y] of [["a1", "b1"], ["b1", "a1"], ["c1", "d1"], ["d1", "c1"]]) {
        await m.waitPeer(x, y, relayedByLeader, "relayed by the leader over UDP");
      }
      const N = 20;
      await answered(m, "a1", "b1", N);

      // c1 floods d1 through the relay: iperf3 UDP at 1 Gbit/s in 1,300-byte datagrams, far
      // over the relay's rate for one member (--relay-rate, low enough that even a busy machine
      // floods past it); the routers count the flood's relay packets on both sides of the relay
      // (by bytes: GSO sends travel as one large packet), and the leader's kernel what it could
      // not queue for the agent, so what the relay itself dropped is known.
      const DATAGRAM = 1300;
      const floodLen = `${wgLength(DATAGRAM, true)}:65535`;
      const unit = wgLength(DATAGRAM, true);
      const relayBytes = wgLength(DATAGRAM, true) - 28; // as the relay meters them
      const c1 = m.lab.host("c1").ip;
      const d1 = m.lab.host("d1").ip;
      const sent = [
        "-i",
        "lan",
        "-o",
        "wan",
        "-s",
        c1,
        "-d",
        LEADER_IP,
        "-m",
        "length",
        "--length",
      ];
      const got = ["-i", "wan", "-o", "lan", "-s", LEADER_IP, "-d", d1, "-m", "length", "--length"];
      await countRule(m.lab, "c", "flood to relay", [...sent, floodLen], "FORWARD", unit);
      await countRule(m.lab, "d", "flood from relay", [...got, floodLen], "FORWARD", unit);
      const udp0 = await udpCounters(m, LEADER);
      const server = m.lab.spawn("d1", "iperf3", ["-s", "-1", "-p", "5202"]);
      await listening(m, "d1", "t", 5202);
      const FLOOD_S = 10;
      const floodStart = performance.now();
      const flood = m.lab.spawn("c1", "timeout", [
        "90",
        "iperf3",
        "-c",
        m.addr.d1,
        "-p",
        "5202",
        "-u",
        "-b",
        "1G",
        "-l",
        String(DATAGRAM),
        "-t",
        String(FLOOD_S),
        "-J",
      ]);
      // The other pair pings while the flood runs (it starts within a second or two).
      await new Promise((r) => setTimeout(r, 2000));
      const during = await m.lab.exec(
        "a1",
        "ping",
        "-c",
        String(N),
        "-s",
        String(PING_DATA),
        "-i",
        "0.2",
        "-W",
        "2",
        m.addr.b1,
      );
      const status = await flood.child.status;
      const floodMs = performance.now() - floodStart;
      await m.lab.stop(server.child, 1000);
      assert.equal(status.code, 0, `iperf3 -u: ${flood.output().slice(-2000)}`);
      const report = JSON.parse(flood.output()) as IperfReport;
      const udp1 = await udpCounters(m, LEADER);
      const toRelay = await countRule(
        m.lab,
        "c",
        "flood to relay",
        [...sent, floodLen],
        "FORWARD",
        unit,
      );
      const fromRelay = await countRule(
        m.lab,
        "d",
        "flood from relay",
        [...got, floodLen],
        "FORWARD",
        unit,
      );
      const kernel = udp1.RcvbufErrors - udp0.RcvbufErrors;
      const read = udp1.InDatagrams - udp0.InDatagrams;
      const answeredDuring = Number(during.stdout.match(/(\d+) received/)?.[1] ?? 0);
      const rtt = during.stdout.match(/= [\d.]+\/([\d.]+)\/([\d.]+)/);
      const offered = report.end.sum_sent.bits_per_second;
      const delivered = report.end.sum_received.bits_per_second;
      const drops = await relayDrops(m);
      const rate = (packets: number) => mbit((packets * relayBytes * 8) / (floodMs / 1000));
      console.log(
        `flood c1 -> d1: iperf3 offered ${mbit(offered)}, delivered ${mbit(delivered)} ` +
          `(${report.end.sum_received.lost_percent?.toFixed(1)}% lost). Relay packets over the ` +
          `${ms(floodMs)} of the flood: ${toRelay} left c's router for the relay ` +
          `(${rate(toRelay)}); the leader's sockets took ${read} receives in all (a GRO batch ` +
          `counts once; ${kernel} overflowed); ${fromRelay} reached d's router ` +
          `(${rate(fromRelay)}); relay drops in /metrics: ${
            drops ? JSON.stringify(drops) : "absent"
          }`,
      );
      console.log(
        `a1 -> b1 during the flood: ${answeredDuring}/${N} answered, rtt avg/max ${
          rtt ? `${rtt[1]}/${rtt[2]} ms` : "-"
        }`,
      );
      if (drops !== null) assert.ok((drops.rate ?? 0) > 0, "the flood is rate limited");
      // The relay forwarded no more of c1's packets than its rate allows over the whole time
      // the flood ran (a slower machine only makes the time, and so the bound, larger).
      const allowed = FLOOD_RELAY_MBPS * 125_000 *
        ((floodMs + DEFAULT_RELAY_RATE.burstMs) / 1000);
      assert.ok(
        fromRelay * relayBytes <= allowed,
        `forwarded ${fromRelay * relayBytes} bytes of c1's, more than the ${allowed} allowed`,
      );
      assert.ok(answeredDuring > 0, `a1's relayed pings answer during the flood\n${during.stdout}`);
      assert.ok(delivered < offered, "the flood is not all delivered");
      // Once it is over, everything is as before.
      await answered(m, "a1", "b1", N);
      await answered(m, "c1", "d1", 5);
      await m.waitPeer("a1", "b1", relayedByLeader, "relayed by the leader over UDP");
    } finally {
      await m.close();
    }
  },
});

Deno.test({
  name: "two relays: the one a relayed pair uses is killed, and the pair moves to the other",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const m = await relayedPair("x5", ["r2"]);
    try {
      // A second relay: a member with a public address, started with --relay, and granted
      // relaying by its token.
      const r2 = m.lab.host("r2").ip;
      const token = await m.token(1, "--relay");
      await m.start("r2", ["--join", token, "--relay", "--advertise", `${r2}:${WG_PORT}`]);
      await m.join(["a1", "b1"]);
      await firstContact(m, "a1", "b1");
      const relayed = (v: PeerView) => v.path === "relay" && (v.via === LEADER || v.via === "r2");
      const first = await m.waitPeer("a1", "b1", relayed, "relayed");
      await m.waitPeer("b1", "a1", relayed, "relayed");
      // Waited for, not one round: on a loaded machine the first round after the path says
      // relayed lost 3 of 5 (a CI run).
      assert.ok(
        await eventually(async () => await m.pings("a1", "b1", 5) >= 3, HANG_GUARD_MS),
        "a1 pings b1 through a relay",
      );
      // Both relays granted a session, so the second is ready when the first goes.
      await eventually(async () => {
        const t = await metricsOf(m.lab, "a1");
        return /weft_relay_sessions\{role="client"\} 2\b/.test(t);
      }, HANG_GUARD_MS);
      const gone = first.via!;
      const other = gone === LEADER ? "r2" : LEADER;
      // Traffic flows while the relay in use is killed.
      const ping = m.lab.spawn("a1", "ping", ["-D", "-i", "0.1", "-W", "1", m.addr.b1]);
      await new Promise((r) => setTimeout(r, 1_000));
      const p = m.procs.get(gone)!;
      const t0 = Date.now();
      p.child.kill("SIGKILL");
      await p.child.status;
      const moved = await m.waitPeer("a1", "b1", (v) => v.via === other, `via ${other}`);
      const movedMs = Date.now() - t0;
      const back = await m.firstReply("a1", "b1");
      const backMs = Date.now() - t0;
      await m.lab.stop(ping.child);
      const stamps = [...ping.output().matchAll(/^\[(\d+\.\d+)\]/gm)].map((x) =>
        Number(x[1]) * 1000
      );
      const after = stamps.find((s) => s > t0);
      console.log(
        `two relays: ${gone} killed; a1's view of b1 via ${other} after ${movedMs} ms; ` +
          `first reply of the ping stream ${
            after === undefined ? "never" : `${Math.round(after - t0)} ms`
          } after the kill; ` +
          `a fresh ping answered ${backMs} ms after it (${routeOf(moved)})`,
      );
      assert.notEqual(back, null, "a1 reaches b1 through the other relay");
      assert.ok(
        await eventually(async () => await m.pings("a1", "b1", 5) >= 3, HANG_GUARD_MS),
        "a1 pings b1 through the other relay",
      );
      assert.ok(
        await eventually(async () => await m.pings("b1", "a1", 5) >= 3, HANG_GUARD_MS),
        "b1 pings a1 through the other relay",
      );
    } finally {
      await m.close();
    }
  },
});
