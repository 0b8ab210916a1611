/**
 * Paths through NATs with in-process mesh agents on a memory network whose routers translate as
 * MASQUERADE does (tests/fixtures/memory_nat.ts): members behind one NAT without hairpin, behind
 * two NATs, behind symmetric ones; call-me; forged probes and call-me; the LAN key; LAN
 * discovery with the leader down.
 */
import assert from "node:assert/strict";
import { MeshAgent, type MeshOptions } from "../mesh_agent.ts";
import { sendMessage } from "../sync/protocol.ts";
import { MSG_PATH_PING, PathCrypto } from "../../nat/probe.ts";
import { DEFAULT_PATH_TIMING } from "../../nat/paths.ts";
import { generateKeyPair, parseKey } from "../../crypto/keys.ts";
import { encodeBase64 } from "../../crypto/base64.ts";
import { selectSuite } from "../../crypto/select.ts";
import { readU32 } from "../../protocol/bytes.ts";
import type { DatagramSink } from "../../io/driver.ts";

import {
  direct,
  LEADER_IP,
  peerOf,
  pings,
  PORT,
  TEST,
  until,
  withLab,
} from "../../../tests/fixtures/memory_mesh.ts";

// Sessions on demand: these members keep each other (`--keep-peer`), so they want a session, and
// its paths, from the start without traffic (the symmetric-NAT test starts one with a packet).
const KEEP_N1: Partial<MeshOptions> = { keepPeers: ["n1"] };
const KEEP_N2: Partial<MeshOptions> = { keepPeers: ["n2"] };

Deno.test({
  ...TEST,
  name: "nat paths: two members behind one NAT without hairpin go direct on the LAN",
  fn: () =>
    withLab(async (lab) => {
      lab.nats.site("home", "198.51.100.", "203.0.113.1", "cone");
      await lab.startLeader();
      const n1 = await lab.start("n1", "198.51.100.10", KEEP_N2);
      const n2 = await lab.start("n2", "198.51.100.20", KEEP_N1);
      // The hellos carried their LAN candidates; the leader holds them in the records.
      await until("lan in the records", () =>
        lab.leader.view().members.filter((m) => m.lan?.length).length === 3);
      const rec = lab.leader.view().members.find((m) =>
        m.name === "n1"
      )!;
      assert.deepEqual(rec.lan, ["198.51.100.10:51820"]);
      assert.equal(
        rec.endpoints[0],
        "203.0.113.1:51820",
        "the NAT's address, as the leader sees it",
      );
      await until("direct both ways", () => direct(n1, n2) && direct(n2, n1));
      // n2's record reaches n1 (a ping from n2 may have told n1 the address before).
      // The session may follow n2's LAN address (roaming) before a pong confirms it.
      await until("n2's LAN path confirmed at n1", () =>
        peerOf(n1, n2).candidates!.some((c) => c.kind === "lan" && c.confirmed && c.chosen));
      const p = peerOf(n1, n2);
      assert.equal(p.endpoint, "198.51.100.20:51820");
      const lan = p.candidates!.find((c) =>
        c.endpoint === "198.51.100.20:51820"
      )!;
      assert.deepEqual([lan.kind, lan.confirmed, lan.chosen], ["lan", true, true]);
      assert.ok(lan.rttMs !== null);
      const observed = p.candidates!.find((c) => c.kind === "observed")!;
      assert.equal(observed.confirmed, false, "no hairpin: the public door never answers");
      assert.ok(!Number.isNaN(Date.parse(p.pathChangedAt ?? "")));
      assert.ok(await pings(n1, n2));
      assert.ok(await pings(n2, n1));
      assert.match(
        lab.logs.get("n1")!.join("\n"),
        /path chosen.*peer=n2.*endpoint=198\.51\.100\.20/,
      );
      const m = n1.agent.metrics.render();
      assert.match(m, /weft_paths\{state="direct"\} 2/);
      assert.match(m, /weft_path_changes_total\{reason="lan"\}|reason="punched"/);
    }),
});

Deno.test({
  ...TEST,
  name: "nat paths: members behind two NATs punch through to each other's public address",
  fn: () =>
    withLab(async (lab) => {
      const [n1, n2] = await lab.directPair();
      assert.equal(peerOf(n1, n2).endpoint, "203.0.113.2:51820");
      assert.equal(peerOf(n2, n1).endpoint, "203.0.113.1:51820");
      assert.ok(await pings(n1, n2));
      // Router to router: each let the other's packets in.
      assert.ok(lab.nats.counters.get("a")!.inbound > 0 && lab.nats.counters.get("b")!.inbound > 0);
      // The leader, on the internet, is direct with both.
      assert.ok(direct(lab.leader, n1) && direct(n1, lab.leader));
      // Our own reflexive address was learnt (from the leader's record and from pongs).
      assert.ok(n1.paths!.candidates.some((c) => c.kind === "observed"));
    }),
});

Deno.test({
  ...TEST,
  name: "nat paths: after a NAT rebinding the path table follows the device's roaming at once",
  fn: () =>
    withLab(async (lab) => {
      const [n1, n2] = await lab.directPair();
      assert.equal(peerOf(n1, n2).endpoint, "203.0.113.2:51820");
      // b's router forgets its mappings and gives n2 a new public port.
      lab.nats.flush("b", { newPorts: true });
      assert.ok(await pings(n2, n1));
      await until("n1's device roamed", () => peerOf(n1, n2).endpoint !== "203.0.113.2:51820");
      // "At once": from the device's roam, well before the next keep probe (10 s) could find it;
      // the bound is half that interval, not the pings' time (a first round on a loaded machine
      // may take seconds).
      const t0 = Date.now();
      const moved = peerOf(n1, n2).endpoint!;
      const atOnce = DEFAULT_PATH_TIMING.keepIntervalMs / 2;
      await until("the table follows", () =>
        peerOf(n1, n2).candidates!.some((c) => c.chosen && c.endpoint === moved), atOnce);
      const took = Date.now() - t0;
      const p = peerOf(n1, n2);
      assert.equal(
        p.candidates!.filter((c) =>
          c.chosen
        ).length,
        1,
      );
      assert.ok(took < atOnce, `${took} ms`);
      assert.match(
        n1.agent.metrics.render(),
        /weft_path_changes_total\{reason="roamed"\} 1/,
      );
      const lines = lab.logs.get("n1")!.filter((l) =>
        /path changed.*peer=n2.*reason=roamed/.test(l)
      );
      assert.equal(lines.length, 1, lines.join("\n"));
      assert.ok(await pings(n1, n2));
    }),
});

Deno.test({
  ...TEST,
  name: "nat paths: behind symmetric NATs there is no direct path; it says so once, nothing flaps",
  fn: () =>
    withLab(async (lab) => {
      lab.twoSites("symmetric");
      await lab.startLeader();
      const [n1, n2] = await lab.startPair();
      await until("direct with the leader", () => direct(n1, lab.leader) && direct(n2, lab.leader));
      // Sessions on demand: n1's first packet to n2 starts the punching (and the call-me).
      assert.equal(n1.paths!.activeCount, 1, "only the leader's paths are probed before traffic");
      // One round, answered or not: the routes may carry it through the leader's relay.
      await n1.agent.ping(n2.self!.address, { count: 3, timeoutMs: 1000, intervalMs: 100 });
      // Waited for, not slept on: n1 gives up on a direct path once its active punching (1 s
      // here) is over, and they ask each other, through the leader, to punch too; a loaded
      // machine may take longer than a fixed wait for either. (A member that was asked first does
      // not ask back; a call-me to the newer member may come before it holds the view that makes
      // the caller a member, and is refused.)
      const saidNone = () => lab.logs.get("n1")!.filter((l) => /no direct path.*peer=n2/.test(l));
      const callmes = () => [n1.paths!.callmes, n2.paths!.callmes];
      await until("n1 says it has no direct path to n2", () => saidNone().length > 0);
      await until("call-mes sent and received", () => {
        const [c1, c2] = callmes();
        return c1.sent + c2.sent > 0 && c1.received + c2.received > 0;
      });
      // Then a while for a flap to show (a negative: a slow machine can only hide one).
      await new Promise((r) => setTimeout(r, 3_000));
      // The paths' own view: no direct path (the routes' relay is theirs to say).
      assert.equal(n1.paths!.peerStatus(n2.agent.device.publicKey).path, "none");
      assert.ok(peerOf(n1, n2).candidates!.every((c) => !c.confirmed));
      const said = saidNone();
      assert.equal(said.length, 1, said.join("\n"));
      assert.ok(!lab.logs.get("n1")!.some((l) => /path chosen.*peer=n2/.test(l)));
      console.log(`call-mes (sent, received): ${JSON.stringify(callmes())}`);
    }),
});

Deno.test({
  ...TEST,
  name: "nat paths: a call-me from the leader makes the peer punch; forged ones change nothing",
  fn: () =>
    withLab(async (lab) => {
      const [n1, n2] = await lab.directPair();
      // Past the punching (1 s here): pings to n1 are rare now.
      await new Promise((r) => setTimeout(r, 1_500));
      let fromN2 = 0;
      lab.nats.block((from, to, data) => {
        if (from === "198.51.101.20:51820" && to.startsWith("203.0.113.1:")) {
          if (data.length >= 4 && readU32(data, 0) === MSG_PATH_PING) fromN2++;
        }
        return false;
      });
      const called = n2.paths!.callmes.received; // at the start, each asked the other
      const n1Key = n1.agent.device.publicKey;
      const c = [{ k: "observed", e: "203.0.113.1:51820" }];
      // Counted from here: a call-me may have been refused at the start (see above).
      const before = n2.paths!.metrics().drops;
      const drops = () => {
        const now = n2.paths!.metrics().drops;
        return Object.fromEntries(Object.keys(now).map((k) => [k, now[k] - before[k]]));
      };
      // From a member that is not the leader: refused.
      sendMessage(n1.agent.control, n2.self!.address, { t: "callme", from: n1Key, c });
      // From the leader, naming no member: refused.
      const stranger = generateKeyPair().publicKey;
      sendMessage(lab.leader.agent.control, n2.self!.address, { t: "callme", from: stranger, c });
      // From the leader, malformed candidates: refused.
      sendMessage(lab.leader.agent.control, n2.self!.address, {
        t: "callme",
        from: n1Key,
        c: [{ k: "observed", e: "nowhere.example:1" }],
      });
      await until("refusals counted", () =>
        drops()["callme-not-leader"] === 1 && drops()["callme-not-member"] === 1 &&
        drops()["callme-malformed"] === 1);
      await new Promise((r) =>
        setTimeout(r, 600)
      );
      assert.ok(fromN2 <= 1, `no punching: ${fromN2} pings`);
      assert.equal(n2.paths!.callmes.received, called);
      // n1 asks the leader, which passes it on: n2 punches (every 250 ms).
      sendMessage(n1.agent.control, lab.leader.self!.address, {
        t: "callme",
        to: n2.agent.device.publicKey,
        c,
      });
      await until("n2 called", () => n2.paths!.callmes.received === called + 1);
      // Three pings at 250 ms: waited for, not counted in a fixed 800 ms (a loaded machine's
      // timers run late).
      await until(`n2 punched (${fromN2} pings)`, () => fromN2 >= 3);
      // The leader refuses a call-me naming a stranger, or coming with `from` from a node (only
      // another leader names the caller).
      const ld = () => lab.leader.paths!.metrics().drops;
      sendMessage(n1.agent.control, lab.leader.self!.address, { t: "callme", to: stranger, c });
      sendMessage(n1.agent.control, lab.leader.self!.address, { t: "callme", from: n1Key, c });
      await until("leader refusals", () =>
        ld()["callme-not-member"] === 1 && ld()["callme-not-leader"] === 1);
      assert.ok(direct(n1, n2) && direct(n2, n1));
    }),
});

Deno.test({
  ...TEST,
  name: "nat paths: probes from a non-member (or under a member's key, forged) change nothing",
  fn: () =>
    withLab(async (lab) => {
      await lab.startLeader();
      // The wire as an eavesdropper sees it: n1's genuine pings to the leader.
      const captured: Uint8Array[] = [];
      lab.nats.block((from, to, data) => {
        if (from === "192.0.2.10:51820" && to === `${LEADER_IP}:${PORT}`) {
          if (data.length >= 4 && readU32(data, 0) === MSG_PATH_PING) captured.push(data.slice());
        }
        return false;
      });
      const n1 = await lab.start("n1", "192.0.2.10");
      await until("direct", () => direct(lab.leader, n1) && captured.length > 0);
      const endpoints = () => peerOf(lab.leader, n1).candidates!.map((c) => c.endpoint).sort();
      const before = endpoints();
      const stranger = generateKeyPair();
      const crypto = new PathCrypto({
        dh: selectSuite().dh,
        privateKey: parseKey(stranger.privateKey, "key"),
        isMember: () => true,
      });
      const t = lab.net.bind("192.0.2.66", PORT);
      const heard: Uint8Array[] = [];
      t.start({ datagram: (d) => heard.push(d.slice()), flush: () => {} } as DatagramSink);
      const leaderKey = lab.leader.agent.device.publicKey;
      const to = t.endpoint(`${LEADER_IP}:${PORT}`);
      t.send(crypto.ping(leaderKey).bytes, to);
      const { txid } = crypto.ping(leaderKey);
      t.send(crypto.pong(leaderKey, txid, { address: "192.0.2.66", port: PORT }), to);
      // A ping claiming n1's key: its MAC cannot be made without n1's key.
      const forged = crypto.ping(leaderKey).bytes;
      forged.set(parseKey(n1.agent.device.publicKey, "key"), 4);
      t.send(forged, to);
      // A genuine ping of n1's, replayed from elsewhere: refused, not answered there.
      t.send(captured[0], to);
      const drops = () => lab.leader.paths!.metrics().drops;
      await until("dropped", () =>
        drops()["not-member"] === 2 && drops().auth === 1 && drops().replay === 1);
      await new Promise((r) =>
        setTimeout(r, 100)
      );
      assert.deepEqual(heard, [], "no pong");
      assert.deepEqual(endpoints(), before, "no candidate at the sender's address");
      assert.ok(direct(lab.leader, n1));
      assert.match(
        lab.leader.agent.metrics.render(),
        /weft_path_drops_total\{reason="not-member"\} 2/,
      );
      await t.close();
    }),
});

Deno.test({
  ...TEST,
  name: "nat paths: the LAN key reaches nodes and their file, and no status, view or metrics",
  fn: () =>
    withLab(async (lab) => {
      await lab.startLeader();
      const n1 = await lab.start("n1", "192.0.2.10");
      const key = encodeBase64(lab.leader.leader!.lanKey);
      const file = async () =>
        JSON.parse(await Deno.readTextFile(`${lab.dir}/n1/node.json`)).lanKey as string;
      await until("key sent", () => n1.paths !== null);
      let saved: string | undefined;
      const end = Date.now() + 5_000;
      while ((saved = await file().catch(() => undefined)) !== key && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(saved, key);
      for (const a of [lab.leader, n1]) {
        assert.ok(!JSON.stringify(a.agent.status()).includes(key), "status");
        assert.ok(!JSON.stringify(a.view()).includes(key), "view");
        assert.ok(!a.agent.metrics.render().includes(key), "metrics");
      }
      for (const lines of lab.logs.values()) assert.ok(!lines.join("\n").includes(key), "logs");
    }),
});

Deno.test({
  ...TEST,
  name: "nat paths: LAN announcements join members on one LAN, also restarted with the leader down",
  fn: () =>
    withLab(async (lab) => {
      lab.nats.site("home", "198.51.100.", "203.0.113.1", "cone");
      await lab.startLeader();
      // No interface addresses in their records: only the announcements tell the LAN address.
      const lanOpts = (ip: string): Partial<MeshOptions> => ({
        interfaces: () => [],
        lanDiscovery: true,
        lanAnnounce: { createSocket: lab.hub.socket(ip), intervalMs: 300 },
      });
      let n1 = await lab.start("n1", "198.51.100.10", { ...lanOpts("198.51.100.10"), ...KEEP_N2 });
      let n2 = await lab.start("n2", "198.51.100.20", { ...lanOpts("198.51.100.20"), ...KEEP_N1 });
      await until("direct on the LAN", () =>
        peerOf(n1, n2)?.endpoint === "198.51.100.20:51820" && direct(n1, n2));
      // Known from n2's announcement, or from n2's ping that n1's announcement set off.
      const lanPath = (a: MeshAgent, b: MeshAgent, ep: string) =>
        peerOf(a, b).candidates!.find((c) =>
          c.endpoint === ep
        )!;
      const kind = lanPath(n1, n2, "198.51.100.20:51820").kind;
      assert.ok(kind === "lan-announce" || kind === "peer-observed", kind);
      assert.ok(await pings(n1, n2));
      // A forged announcement (no LAN key) from another LAN host: refused and counted.
      const mal = lab.hub.socket("198.51.100.66")();
      mal.bind(0, "0.0.0.0", () => {});
      await new Promise((r) => setTimeout(r, 10));
      mal.send(new Uint8Array(131), 51822, "239.255.82.21", () => {});
      await until("announcement refused", () =>
        /weft_lan_announce_drops_total\{reason="magic"\} 1/.test(
          n1.agent.metrics.render(),
        ));
      mal.close();
      assert.ok(
        !peerOf(n1, n2).candidates!.some((c) =>
          c.endpoint.startsWith("198.51.100.66")
        ),
      );
      // The leader goes; the members restart from their files (view and LAN key).
      await lab.close(lab.leader);
      await lab.close(n1);
      await lab.close(n2);
      lab.token = "";
      n1 = await lab.start("n1", "198.51.100.10", { ...lanOpts("198.51.100.10"), ...KEEP_N2 });
      n2 = await lab.start("n2", "198.51.100.20", { ...lanOpts("198.51.100.20"), ...KEEP_N1 });
      await until("direct again", () => direct(n1, n2) && direct(n2, n1));
      assert.ok(await pings(n1, n2));
    }),
});
