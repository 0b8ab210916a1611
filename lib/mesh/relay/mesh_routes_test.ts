/**
 * Routes with in-process mesh agents on a memory internet with NAT routers
 * (tests/fixtures/memory_mesh.ts): members behind symmetric NATs talk through the leader's
 * relay, and move back to a direct path when one opens. Then, on a fake clock with a fake
 * device and paths: a relay reached over TCP that carries only relayed traffic is watched.
 */
import assert from "node:assert/strict";
import type { Device, DeviceEvent } from "../../device/device.ts";
import type { Endpoint } from "../../io/driver.ts";
import { createLogger } from "../../log/logger.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import type { RelayClient } from "../../relay/client.ts";
import type { ControlPort } from "../sync/control_channel.ts";
import type { MeshPaths } from "../nat/mesh_paths.ts";
import { MeshRoutes } from "./mesh_routes.ts";
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

// ---- a relay over TCP carrying only relayed traffic (fake clock, device, paths, client) ----

const ME = "MEMEMEMEMEMEMEMEMEMEMEMEMEMEMEMEMEMEMEMEMEM=";
const LEADER = "LEADERLEADERLEADERLEADERLEADERLEADERLEADER=";
const N2 = "N2N2N2N2N2N2N2N2N2N2N2N2N2N2N2N2N2N2N2N2N2N=";

function fakeEndpoint(text: string): Endpoint & { fullText: string } {
  const m = /^(?:(tcp|ws|relay):\/\/)?([^:/]+)(?::(\d+))?/.exec(text)!;
  const proto = (m[1] ?? "udp") as Endpoint["proto"];
  return {
    address: m[2],
    port: Number(m[3] ?? 0),
    family: 4,
    proto,
    fullText: text,
    toString: () => text,
  };
}

function member(name: string, publicKey: string, address: string, extra: Partial<Member>): Member {
  return { name, publicKey, address, endpoints: [], labels: {}, ...extra } as Member;
}

/**
 * A member on TCP to the leader, relaying through it to n2 only: the leader's own session
 * carries nothing. `answer` says what the leader does: nothing over TCP (the site's firewall
 * dropped the flow, and lets only HTTP through: its WebSocket answers), the same one way only
 * (the leader's and n2's own packets still come in, the health probes to the leader go
 * unanswered), answer handshakes, or forward n2's replies.
 */
function relayedOnly(answer: "tcp-dropped" | "tcp-one-way" | "handshakes" | "replies") {
  let now = 0;
  let tick = () => {};
  const peers = new Map<string, {
    endpoint: Endpoint | null;
    otherEndpoint: Endpoint | null;
    earlierEndpoints: (Endpoint | null)[];
    earlierNext: number;
    counters: { rxPackets: number; txPackets: number; txBytes: number };
    current: object | null;
  }>();
  const counters = () => ({ rxPackets: 0, txPackets: 0, txBytes: 0 });
  /** A peer at `endpoint` with the places roaming keeps (lib/peer/peer.ts). */
  const peer = (endpoint: Endpoint | null) => ({
    endpoint,
    otherEndpoint: null,
    earlierEndpoints: [null, null, null, null],
    earlierNext: 0,
    counters: counters(),
    current: {},
  });
  peers.set(LEADER, peer(null));
  const relayed = fakeEndpoint(`relay://LEADER/N2`);
  peers.set(N2, peer(relayed));
  const listeners: ((e: DeviceEvent) => void)[] = [];
  const pending: DeviceEvent[] = [];
  const handshakes: string[] = [];
  const released: string[] = [];
  const device = {
    publicKey: ME,
    release: (ep: Endpoint) => released.push(ep.toString()),
    peer: (k: string) => peers.get(k),
    onEvent: (fn: (e: DeviceEvent) => void) => {
      listeners.push(fn);
      return () => {};
    },
    endpoint: fakeEndpoint,
    initiateHandshakeNow: (k: string) => {
      handshakes.push(k);
      // A leader that answers does so over the same connection, by the next look.
      const ws = peers.get(LEADER)!.endpoint?.proto === "ws";
      if ((answer === "handshakes" || ws) && k === LEADER) {
        pending.push({ type: "handshake-complete", peer: LEADER, role: "initiator" });
      }
    },
  } as unknown as Device;
  // The leader's own session looks fine: nothing was sent on it, so nothing went unanswered.
  const paths = {
    activeKeys: () => [LEADER, N2][Symbol.iterator](),
    info: (k: string) => ({ direct: null, works: k === LEADER, since: 0 }),
    probeSoon: () => {},
    routeChanged: () => {},
  } as unknown as MeshPaths;
  const failed: string[] = [];
  const client = {
    setRelay: () => {},
    removeRelay: () => {},
    setRtt: () => {},
    relayFailed: (k: string) => failed.push(k),
    relayFor: (k: string) => k === N2 ? LEADER : null,
    endpoint: () => relayed,
    hasSession: () => true,
    asked: () => true,
    sweep: () => [],
    closePeer: () => [],
  } as unknown as RelayClient;
  const channel = { listen: () => () => {}, send: () => {} } as unknown as ControlPort;
  // Health probes to the leader lost in a row: one each 2 s while TCP is stalled one way.
  let lost = 0;
  const routes = new MeshRoutes({
    probesLost: (k) => k === LEADER ? lost : 0,
    device,
    paths,
    client,
    channel,
    logger: createLogger({ level: "error" }),
    clock: {
      now: () => now,
      every: (fn) => {
        tick = fn;
        return () => {};
      },
    },
  });
  const view: MembershipView = {
    network: "100.64.0.0/10",
    version: 1,
    members: [
      member("me", ME, "100.64.0.2", {}),
      member("leader", LEADER, "100.64.0.1", {
        role: "leader",
        tcpPort: 51821,
        endpoints: ["203.0.113.1:51820"],
      }),
      member("n2", N2, "100.64.0.3", {}),
    ],
  };
  routes.startOnTcp(LEADER);
  routes.start(view);
  /** Runs `ms` of looks, n2's packets going out through the leader all along. */
  const run = (ms: number) => {
    for (let t = 0; t < ms; t += 500) {
      const n2 = peers.get(N2)!.counters;
      n2.txPackets += 10;
      n2.txBytes += 10 * 1_200;
      if (answer === "replies") n2.rxPackets += 10;
      if (answer === "tcp-one-way") {
        // Ours to the leader are dropped; the leader's and n2's own packets still come in.
        peers.get(LEADER)!.counters.rxPackets += 1;
        n2.rxPackets += 1;
        const ws = peers.get(LEADER)!.endpoint?.proto === "ws";
        if (t % 2_000 === 0) lost = ws ? 0 : lost + 1;
      }
      for (const e of pending.splice(0)) for (const fn of listeners) fn(e);
      now += 500;
      tick();
    }
  };
  const leaderAt = () => peers.get(LEADER)!.endpoint?.toString() ?? "";
  return { routes, run, leaderAt, failed, handshakes, released };
}

Deno.test("mesh routes: relayed traffic only, over TCP the leader stopped answering: to its WebSocket", () => {
  const f = relayedOnly("tcp-dropped");
  assert.equal(f.leaderAt(), "tcp://203.0.113.1:51821");
  // The handshake asking the leader for an answer goes at once and is given 6 s.
  f.run(8_000);
  assert.equal(f.leaderAt(), "ws://203.0.113.1:51821", "the leader's route left the stalled TCP");
  assert.deepEqual(f.failed, [LEADER], "the relay was marked failed once");
  f.routes.close();
});

Deno.test("mesh routes: over TCP stalled one way (packets still come in), probes lost: to its WebSocket", () => {
  const f = relayedOnly("tcp-one-way");
  f.run(4_000);
  assert.equal(f.leaderAt(), "tcp://203.0.113.1:51821", "two probes lost: not yet");
  assert.deepEqual(f.released, []);
  f.run(4_000);
  assert.equal(f.leaderAt(), "ws://203.0.113.1:51821", "the leader's route left the stalled TCP");
  // Its connection is closed: the leader's packets still coming in on it would roam us back.
  assert.deepEqual(f.released, ["tcp://203.0.113.1:51821"]);
  assert.deepEqual(f.failed, [LEADER], "the relay was marked failed once");
  f.run(10_000);
  assert.equal(f.leaderAt(), "ws://203.0.113.1:51821", "and stays on the WebSocket");
  f.routes.close();
});

Deno.test("mesh routes: relayed traffic only, the leader answers its handshakes: TCP stays", () => {
  const f = relayedOnly("handshakes");
  f.run(30_000);
  assert.equal(f.leaderAt(), "tcp://203.0.113.1:51821");
  assert.deepEqual(f.failed, []);
  // n2 never answers: the leader is asked for an answer, but at most once each 6 s (the move's
  // handshake first, then one each 6 s of the 30).
  assert.ok(f.handshakes.length >= 3 && f.handshakes.length <= 6, f.handshakes.join());
  f.routes.close();
});

Deno.test("mesh routes: relayed traffic answered through the relay: TCP stays, no handshake", () => {
  const f = relayedOnly("replies");
  f.run(30_000);
  assert.equal(f.leaderAt(), "tcp://203.0.113.1:51821");
  assert.deepEqual(f.failed, []);
  // The startOnTcp move's handshake only: replies through the relay say it works.
  assert.deepEqual(f.handshakes, [LEADER]);
  f.routes.close();
});

Deno.test("mesh routes: the leader back on UDP for a member that roamed it onto its stream sends a keepalive there", () => {
  // A leader that restarted: a member's handshake came over its WebSocket and the device roamed
  // there; a pong then comes from the member's UDP place. The route moves back to UDP, and the
  // keepalive it sends there brings the member's sending along (its roaming follows it), where
  // the member's next packet on its WebSocket would move the leader back at once.
  let now = 0;
  let tick = () => {};
  const MEMBER = "MEMBER";
  const ws = fakeEndpoint("ws://203.0.113.101:40000");
  const peer = {
    endpoint: ws as Endpoint,
    otherEndpoint: null,
    earlierEndpoints: [null, null, null, null],
    earlierNext: 0,
    endpointMoves: 0,
    counters: { rxPackets: 0, txPackets: 0, txBytes: 0 },
    current: {},
  };
  const calls: string[] = [];
  const device = {
    publicKey: ME,
    // The member dialled its WebSocket: the transport keeps it (Transport.release).
    release: () => {},
    peer: (k: string) => k === MEMBER ? peer : undefined,
    onEvent: () => () => {},
    endpoint: fakeEndpoint,
    initiateHandshakeNow: (k: string) => calls.push(`handshake ${k}`),
    backOnUdp: (k: string) => calls.push(`keepalive ${k} to ${peer.endpoint}`),
  } as unknown as Device;
  let lastPongAt = -Infinity;
  const paths = {
    activeKeys: () => [MEMBER][Symbol.iterator](),
    info: () => ({
      direct: { endpoint: "203.0.113.101:51820", lastPongAt, rttMs: 1, misses: 0 },
      works: true,
      since: 0,
    }),
    probeSoon: () => {},
    routeChanged: () => {},
  } as unknown as MeshPaths;
  const client = {
    setRelay: () => {},
    removeRelay: () => {},
    relayFor: () => null,
    sweep: () => [],
  } as unknown as RelayClient;
  const routes = new MeshRoutes({
    device,
    paths,
    client,
    channel: { listen: () => () => {}, send: () => {} } as unknown as ControlPort,
    logger: createLogger({ level: "error" }),
    clock: {
      now: () => now,
      every: (fn) => {
        tick = fn;
        return () => {};
      },
    },
  });
  routes.start({
    network: "100.64.0.0/10",
    version: 1,
    members: [
      member("leader", ME, "100.64.0.1", { role: "leader", tcpPort: 51821 }),
      member("m", MEMBER, "100.64.0.2", { endpoints: ["203.0.113.101:51820"] }),
    ],
  });
  for (; now <= 2_000; now += 500) {
    // The member's pong comes after the roam was seen.
    if (now === 1_000) lastPongAt = 900;
    tick();
  }
  assert.equal(peer.endpoint.toString(), "203.0.113.101:51820");
  assert.deepEqual(calls, ["keepalive MEMBER to 203.0.113.101:51820"]);
});
