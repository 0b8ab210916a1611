/**
 * A member whose site stops letting UDP out (what comes in still comes in): its route leaves UDP
 * for the leader's TCP, and the leader's packets still coming over UDP, sent before it heard the
 * member on TCP, must not roam the member back onto the UDP that does not get out. Two real
 * devices on loopback (UDP and TCP on one port each), the member's routes on a fake clock with
 * fake paths saying its pings to the leader went unanswered.
 */
import assert from "node:assert/strict";
import { Device } from "../../device/device.ts";
import { ManualClock } from "../../device/clock.ts";
import { moveEndpoint, UDP_PREFERRED_MS } from "../../device/roaming.ts";
import { nobleAead, nobleDh } from "../../crypto/noble.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../../crypto/keys.ts";
import { DualTransport } from "../../../drivers/dual.ts";
import { createLogger } from "../../log/logger.ts";
import type { Member } from "../../members/member.ts";
import type { RelayClient } from "../../relay/client.ts";
import type { ControlPort } from "../sync/control_channel.ts";
import type { MeshPaths } from "../nat/mesh_paths.ts";
import { RecordingPackets, udp } from "../../../tests/fixtures/mesh.ts";
import { eventually } from "../../../tests/fixtures/netns.ts";
import { MeshRoutes } from "./mesh_routes.ts";

/** Waits (up to 5 s) for `cond`, failing with `what`. */
async function until(cond: () => boolean, what: string): Promise<void> {
  assert.ok(
    await eventually(() => Promise.resolve(cond()), 5000, 5),
    `timed out waiting for ${what}`,
  );
}

function node(transport: DualTransport, clock: ManualClock) {
  const key = generatePrivateKey();
  const packets = new RecordingPackets();
  const device = new Device({
    privateKey: key,
    suite: { aead: nobleAead, dh: nobleDh },
    transport,
    packets,
    tickMs: 0,
    clock,
  });
  return { device, packets, publicKey: encodeKey(publicKeyOf(key)) };
}

Deno.test("routes: a member that left UDP for TCP because its pings went unanswered is not roamed back by the leader's packets still on UDP", async () => {
  const tl = await DualTransport.open({ port: 0, hostname: "127.0.0.1" });
  const tm = await DualTransport.open({ port: 0, hostname: "127.0.0.1" });
  const leaderClock = new ManualClock();
  const clock = new ManualClock();
  const leader = node(tl, leaderClock);
  const me = node(tm, clock);
  const L = "10.0.0.1";
  const M = "10.0.0.2";
  let routes: MeshRoutes | null = null;
  try {
    me.device.setPeer({
      publicKey: leader.publicKey,
      endpoint: `127.0.0.1:${tl.port}`,
      allowedIps: [`${L}/32`],
    });
    leader.device.setPeer({ publicKey: me.publicKey, allowedIps: [`${M}/32`] });
    me.device.start();
    leader.device.start();
    const toLeader = me.device.peer(leader.publicKey)!;
    const toMe = leader.device.peer(me.publicKey)!;
    /** The leader sends one packet to the member (wherever it sends to it) and it arrives. */
    const leaderSends = async (text: string) => {
      const n = toLeader.counters.rxPackets;
      leader.packets.inject(udp(L, M, text));
      await until(() => toLeader.counters.rxPackets > n, `the member to get "${text}"`);
    };
    /** The member sends one packet to the leader and it arrives. */
    const memberSends = async (text: string) => {
      const n = toMe.counters.rxPackets;
      me.packets.inject(udp(M, L, text));
      await until(() => toMe.counters.rxPackets > n, `the leader to get "${text}"`);
    };
    await memberSends("over udp");
    await leaderSends("over udp");
    assert.equal(toLeader.endpoint?.proto ?? "udp", "udp");

    // The member's routes: its pings to the leader's UDP place now go unanswered.
    let misses = 0;
    let givenUp = false;
    const paths = {
      activeKeys: () => [leader.publicKey][Symbol.iterator](),
      info: () => ({
        direct: givenUp
          ? null
          : { endpoint: `127.0.0.1:${tl.port}`, lastPongAt: 0, rttMs: 1, misses },
        works: true,
        since: 0,
      }),
      probeSoon: () => {},
      routeChanged: () => {},
    } as unknown as MeshPaths;
    const client = {
      setRelay: () => {},
      removeRelay: () => {},
      setRtt: () => {},
      relayFailed: () => {},
      relayFor: () => null,
      hasSession: () => true,
      sweep: () => [],
    } as unknown as RelayClient;
    let tick = () => {};
    const moves: string[] = [];
    const logger = createLogger({ level: "info" });
    logger.warn = () => {};
    logger.info = (event: string, fields?: Record<string, unknown>) => {
      if (event === "path changed") moves.push(`${fields?.reason}: ${fields?.endpoint}`);
    };
    routes = new MeshRoutes({
      device: me.device,
      paths,
      client,
      channel: { listen: () => () => {}, send: () => {} } as unknown as ControlPort,
      logger,
      clock: {
        now: () => clock.now(),
        every: (fn) => {
          tick = fn;
          return () => {};
        },
      },
    });
    const member = (name: string, publicKey: string, address: string, extra: Partial<Member>) =>
      ({ name, publicKey, address, endpoints: [], labels: {}, ...extra }) as Member;
    routes.start({
      network: "10.0.0.0/24",
      version: 1,
      members: [
        member("m", me.publicKey, M, {}),
        member("lead", leader.publicKey, L, {
          role: "leader",
          tcpPort: tl.port,
          endpoints: [`127.0.0.1:${tl.port}`],
        }),
      ],
    });
    const look = () => {
      clock.advance(500);
      tick();
    };
    look();
    assert.deepEqual(moves, []);
    misses = 3;
    look();
    assert.deepEqual(moves, [`tcp: tcp://127.0.0.1:${tl.port}`]);
    const moved = toLeader.endpointMoves;
    // The session no longer runs on the direct path, so the paths judge it by its pongs alone
    // and give it up (lib/mesh/nat/mesh_paths.ts).
    givenUp = true;

    // The leader has not heard the member on TCP yet: what it sends still goes over UDP, and
    // gets in (it also keeps the session looking alive). The member stays on TCP, which gets
    // out, and its looks move nothing for as long as the grace a roam onto a direct path gets.
    await leaderSends("still over udp");
    await leaderSends("still over udp, later");
    assert.equal(toMe.endpoint?.proto ?? "udp", "udp", "the leader still sends over UDP");
    for (let i = 0; i < 12; i++) look();
    assert.deepEqual(moves, [`tcp: tcp://127.0.0.1:${tl.port}`], "not roamed back onto UDP");
    assert.equal(toLeader.endpoint?.proto, "tcp");
    assert.equal(toLeader.endpointMoves, moved);

    // The member's packets over TCP take the leader there once it has not heard it over UDP
    // for a while; the leader's answer over TCP ends the hold.
    leaderClock.advance(UDP_PREFERRED_MS + 1);
    await memberSends("over tcp");
    assert.equal(toMe.endpoint?.proto, "tcp");
    await leaderSends("over tcp");
    assert.equal(toLeader.endpoint?.proto, "tcp");

    // The leader's own route moves it back onto UDP later (a pong of the member's came from
    // there: its UDP gets out again), with a keepalive there: the member follows at once, as
    // WireGuard roaming does.
    moveEndpoint(toMe, leader.device.endpoint(`127.0.0.1:${tm.port}`));
    const n = toLeader.counters.rxPackets;
    leader.device.backOnUdp(me.publicKey);
    await until(() => toLeader.counters.rxPackets > n, "the member to get the keepalive");
    assert.equal(toLeader.endpoint?.proto ?? "udp", "udp", "followed the leader back to UDP");
  } finally {
    routes?.close();
    await me.device.close();
    await leader.device.close();
  }
});
