import assert from "node:assert/strict";
import { Device } from "./device.ts";
import { ManualClock } from "./clock.ts";
import { InitiationPace } from "./initiation_pace.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { selectSuite } from "../crypto/select.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../crypto/keys.ts";
import { DEFAULT_TIMERS } from "../protocol/constants.ts";
import { RecordingPackets, texts, udp } from "../../tests/fixtures/mesh.ts";
import type { Peer } from "../peer/peer.ts";

Deno.test("InitiationPace: a burst, then the rate; what waits keeps its order and retry mark", () => {
  const pace = new InitiationPace({ perSecond: 10, burst: 3 });
  assert.deepEqual([1, 2, 3, 4].map(() => pace.take(0)), [true, true, true, false]);
  assert.equal(pace.take(50), false); // half a token
  assert.equal(pace.take(100), true);
  assert.equal(pace.take(100), false);
  // Full again after long enough, never past the burst.
  assert.deepEqual([1, 2, 3, 4].map(() => pace.take(10_000)), [true, true, true, false]);
  const a = { counters: { handshakes: 2 } } as Peer;
  const b = { counters: { handshakes: 0 } } as Peer;
  pace.defer(a, false);
  pace.defer(b, true);
  pace.defer(a, true);
  assert.deepEqual([...pace.waiting], [[a, { retry: true, handshakes: 2, quietRx: -1 }], [b, {
    retry: true,
    handshakes: 0,
    quietRx: -1,
  }]]);
  // Asked for because the peer went quiet: its packets received then; any other reason clears it.
  const c = { counters: { handshakes: 1, rxPackets: 7 } } as Peer;
  pace.defer(c, false, true);
  assert.equal(pace.waiting.get(c)!.quietRx, 7);
  pace.defer(c, false, true);
  assert.equal(pace.waiting.get(c)!.quietRx, 7);
  pace.defer(c, false);
  assert.equal(pace.waiting.get(c)!.quietRx, -1);
  assert.throws(() => new InitiationPace({ perSecond: 0, burst: 1 }), RangeError);
});

/** A leader and `n` members that each know only the leader, on a manual clock and network. */
function fleet(n: number) {
  const clock = new ManualClock();
  const net = new MemoryNetwork({ manual: true });
  const suite = selectSuite();
  const node = (i: number) => {
    const key = generatePrivateKey();
    const packets = new RecordingPackets();
    const transport = net.bind(`198.18.${i >> 8}.${i & 255}`, 51820);
    const device = new Device({ privateKey: key, suite, transport, packets, clock, tickMs: 0 });
    return {
      device,
      packets,
      transport,
      privateKey: encodeKey(key),
      publicKey: encodeKey(publicKeyOf(key)),
      ip: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`,
      underlay: `198.18.${i >> 8}.${i & 255}:51820`,
    };
  };
  const leader = node(1);
  const members = Array.from({ length: n }, (_, k) => node(k + 2));
  for (const m of members) {
    leader.device.setPeer({
      publicKey: m.publicKey,
      endpoint: m.underlay,
      allowedIps: [`${m.ip}/32`],
    });
    m.device.setPeer({
      publicKey: leader.publicKey,
      endpoint: leader.underlay,
      allowedIps: [`${leader.ip}/32`],
    });
  }
  for (const x of [leader, ...members]) x.device.start();
  /** Each member sends the leader a packet, making its session: 50 a load window (100 ms). */
  const join = () => {
    for (let k = 0; k < n; k += 50) {
      for (const m of members.slice(k, k + 50)) m.packets.inject(udp(m.ip, leader.ip, "hello"));
      net.deliver();
      clock.advance(100);
    }
    assert.equal(texts(leader).length, n);
  };
  const initiations = () =>
    members.reduce((sum, m) => sum + leader.device.peer(m.publicKey)!.counters.initiationsSent, 0);
  return { clock, net, leader, members, join, initiations };
}

Deno.test("a leader whose sessions with many members expired together paces its handshakes", () => {
  // Each member joined and made its session (it initiated: the leader is the responder); then
  // nothing for longer than REJECT_AFTER_TIME (the members' rekeys did not get through), and the
  // leader has a packet for each. Every send finds no session and asks for a handshake: the
  // leader of a fleet started them all at once, and the responses, as many in one moment, put
  // it under load, so that it asked its own handshakes' responders for cookies.
  const N = 120;
  const { clock, net, leader, members, join, initiations } = fleet(N);
  join();
  assert.equal(initiations(), 0);
  clock.advance(DEFAULT_TIMERS.rejectAfterTime + 1000);
  for (const m of members) leader.packets.inject(udp(leader.ip, m.ip, "view"));
  const first = initiations();
  const perStep: number[] = [];
  let before = first;
  for (let t = 0; t < 30_000 && !members.every((m) => texts(m).includes("view")); t += 100) {
    net.deliver();
    clock.advance(100);
    // The leader's timers alone: the members answer its handshakes, and start none of their own.
    leader.device.tick();
    perStep.push(initiations() - before);
    before = initiations();
  }
  net.deliver();
  const stats = leader.device.stats;
  console.log(
    `${first} initiations at once, then at most ${Math.max(...perStep)} in 100 ms ` +
      `(${initiations()} in all); cookie replies the leader sent: ${stats.cookieRepliesSent}`,
  );
  assert.ok(first <= 25, `${first} initiations at once`);
  assert.ok(Math.max(...perStep) <= 11, `up to ${Math.max(...perStep)} initiations in 100 ms`);
  // Every member got its packet, on a session the leader's initiation made, without the leader
  // asking its own handshakes' responders for cookies.
  assert.equal(members.filter((m) => texts(m).includes("view")).length, N);
  assert.equal(initiations(), N);
  assert.equal(stats.cookieRepliesSent, 0);
});

Deno.test("an initiation that waited is not sent once the member's own handshake came", () => {
  const N = 60;
  const { clock, net, leader, members, join, initiations } = fleet(N);
  join();
  clock.advance(DEFAULT_TIMERS.rejectAfterTime + 1000);
  for (const m of members) leader.packets.inject(udp(leader.ip, m.ip, "view"));
  const first = initiations();
  assert.ok(first < N);
  // Before the leader's tick: the members whose initiations wait rekey themselves (their next
  // packet finds their own session expired).
  for (const m of members) m.packets.inject(udp(m.ip, leader.ip, "again"));
  net.deliver();
  for (let t = 0; t < 2000; t += 100) {
    clock.advance(100);
    for (const x of [leader, ...members]) x.device.tick();
    net.deliver();
  }
  console.log(`${first} initiations before the members' own, ${initiations()} in all`);
  assert.equal(initiations(), first);
  assert.equal(members.filter((m) => texts(m).includes("view")).length, N);
});

Deno.test("an initiation asked for because a member went quiet is not sent once it is heard", () => {
  // A loaded leader's socket dropped a hello of each member: it sent them data and heard nothing
  // for 15 s, so each one's new-handshake timer fired together and their initiations wait for
  // the pace. Then the members' next packets come in on the sessions those would replace.
  const N = 60;
  const { clock, net, leader, members, join, initiations } = fleet(N);
  join();
  for (const m of members) leader.packets.inject(udp(leader.ip, m.ip, "view"));
  net.deliver();
  const t = DEFAULT_TIMERS;
  clock.advance(t.keepaliveTimeout + t.rekeyTimeout + t.rekeyJitter + 1);
  leader.device.tick();
  const first = initiations();
  assert.ok(first > 0 && first < N, `${first} initiations at once`);
  for (const m of members) m.packets.inject(udp(m.ip, leader.ip, "again"));
  for (let k = 0; k < 20; k++) {
    net.deliver();
    clock.advance(100);
    leader.device.tick();
  }
  net.deliver();
  console.log(`${first} initiations at once, ${initiations()} in all (members heard: ${N})`);
  assert.equal(texts(leader).filter((x) => x === "again").length, N);
  assert.equal(initiations(), first);
  // The sessions work: the leader's next packet reaches every member.
  for (const m of members) leader.packets.inject(udp(leader.ip, m.ip, "next"));
  net.deliver();
  assert.equal(members.filter((m) => texts(m).includes("next")).length, N);
});
