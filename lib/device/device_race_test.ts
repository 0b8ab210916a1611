/**
 * Two peers that start talking at the same moment both send an initiation. Whatever order the
 * four handshake messages arrive in, both must have a session within that one round trip, with
 * no retransmission (the manual clock never moves past the 5 s rekey timeout here).
 */
import assert from "node:assert/strict";
import {
  makeMesh,
  RecordingPackets,
  run,
  type TestNode,
  texts,
  udp,
} from "../../tests/fixtures/mesh.ts";
import { Device } from "./device.ts";
import { nobleAead, nobleDh } from "../crypto/noble.ts";
import { encodeKey, generatePresharedKey } from "../crypto/keys.ts";
import { messageType } from "../protocol/messages.ts";
import { MSG_INITIATION, MSG_RESPONSE } from "../protocol/constants.ts";
import type { MemoryNetwork } from "../../drivers/memory.ts";
import type { Endpoint } from "../io/driver.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

type Pick = (data: Uint8Array, from: Endpoint, to: Endpoint) => boolean;

const kind = (t: number, toAddress: string): Pick => (d, _f, to) =>
  messageType(d) === t && to.address === toAddress;

/** Both sides queue a packet for the other before any datagram moves. */
function bothStart(psk?: string) {
  const mesh = makeMesh(2, { presharedKey: psk });
  const [a, b] = mesh.nodes;
  a.packets.inject(udp(a.ip, b.ip, "a->b"));
  b.packets.inject(udp(b.ip, a.ip, "b->a"));
  assert.equal(mesh.net.pending, 2, "two initiations in flight");
  return mesh;
}

function assertSessions(net: MemoryNetwork, a: TestNode, b: TestNode): void {
  net.deliver();
  assert.deepEqual(texts(b), ["a->b"]);
  assert.deepEqual(texts(a), ["b->a"]);
  for (const [x, y] of [[a, b], [b, a]]) {
    const p = x.device.peer(y.publicKey)!;
    assert.equal(p.counters.initiationsSent, 1, "no retransmission was needed");
    assert.equal(p.timers.retransmitHandshake, 0, "no retransmission is pending");
    assert.ok(p.current, "a current session");
  }
  // Later traffic flows both ways on the sessions the race left.
  for (let i = 0; i < 3; i++) {
    a.packets.inject(udp(a.ip, b.ip, `a${i}`));
    b.packets.inject(udp(b.ip, a.ip, `b${i}`));
    net.deliver();
  }
  assert.deepEqual(texts(b), ["a->b", "a0", "a1", "a2"]);
  assert.deepEqual(texts(a), ["b->a", "b0", "b1", "b2"]);
  assert.equal(a.device.drops.total() + b.device.drops.total(), 0, "nothing dropped");
}

Deno.test("handshake race: both initiations cross on the wire (delivered together)", () => {
  for (const psk of [undefined, encodeKey(generatePresharedKey())]) {
    const { nodes: [a, b], net } = bothStart(psk);
    assertSessions(net, a, b);
  }
});

Deno.test("handshake race: each initiation arrives before the other side's, one at a time", () => {
  const { nodes: [a, b], net } = bothStart();
  assert.equal(net.deliverSome(kind(MSG_INITIATION, "192.0.2.1")), 1); // b's reaches a
  assert.equal(net.deliverSome(kind(MSG_INITIATION, "192.0.2.2")), 1); // a's reaches b
  // Both responses are now in flight; deliver b's first.
  assert.equal(net.deliverSome(kind(MSG_RESPONSE, "192.0.2.1")), 1);
  assertSessions(net, a, b);
});

Deno.test("handshake race: a response overtakes the other side's initiation", () => {
  const { nodes: [a, b], net } = bothStart();
  // a's initiation reaches b, and b's answer reaches a before b's own initiation does.
  assert.equal(net.deliverSome(kind(MSG_INITIATION, "192.0.2.2")), 1);
  assert.equal(net.deliverSome(kind(MSG_RESPONSE, "192.0.2.1")), 1);
  assertSessions(net, a, b);
});

Deno.test("handshake race: the sessions it leaves rekey and carry traffic for minutes", () => {
  const { nodes: [a, b], net, clock } = bothStart();
  assertSessions(net, a, b);
  for (let s = 0; s < 400; s++) {
    a.packets.inject(udp(a.ip, b.ip, `x${s}`));
    b.packets.inject(udp(b.ip, a.ip, `y${s}`));
    run(clock, net, [a, b], 1000, 500);
  }
  assert.equal(texts(b).filter((t) => t.startsWith("x")).length, 400);
  assert.equal(texts(a).filter((t) => t.startsWith("y")).length, 400);
  assert.ok(a.device.peer(b.publicKey)!.counters.handshakes >= 3, "rekeyed");
  assert.equal(a.device.drops.total() + b.device.drops.total(), 0);
});

/** Delivers one queued datagram chosen at random; returns false when none is queued. */
function deliverOneAtRandom(net: MemoryNetwork, random: () => number, trace?: string[]): boolean {
  if (net.pending === 0) return false;
  const chosen = Math.floor(random() * net.pending);
  let i = 0;
  return net.deliverSome((d, _f, to) => {
    const ok = i++ === chosen;
    if (ok) trace?.push(`${messageType(d)}->${to.address.slice(-1)}`);
    return ok;
  }) === 1;
}

Deno.test("handshake race: every delivery order gives sessions at once, and both settle on one", () => {
  const random = seededRandom(20261122);
  for (let trial = 0; trial < 300; trial++) {
    const trace: string[] = [];
    const { nodes: [a, b], net, clock } = makeMesh(2);
    // Each side starts at a random moment of the other's exchange (both at once included) and
    // may send a second packet later; a millisecond or two passes between deliveries.
    const at = [0, 1, 2, 3].map(() => Math.floor(random() * 5));
    for (let step = 0; step <= 8 || net.pending > 0; step++) {
      if (step === at[0]) a.packets.inject(udp(a.ip, b.ip, "a->b"));
      if (step === at[1]) b.packets.inject(udp(b.ip, a.ip, "b->a"));
      if (step === at[0] + at[2]) a.packets.inject(udp(a.ip, b.ip, "a-more"));
      if (step === at[1] + at[3]) b.packets.inject(udp(b.ip, a.ip, "b-more"));
      clock.advance(Math.floor(random() * 3));
      deliverOneAtRandom(net, random, trace);
    }
    const pa = a.device.peer(b.publicKey)!;
    const pb = b.device.peer(a.publicKey)!;
    const ctx = `trial ${trial}: ${trace.join(" ")} at ${at} aWins=${pb.winsCrossing}`;
    assert.deepEqual(texts(b).sort(), ["a->b", "a-more"], ctx);
    assert.deepEqual(texts(a).sort(), ["b->a", "b-more"], ctx);
    // A few packets each way, in order, and both send on the same session.
    for (let i = 0; i < 2; i++) {
      a.packets.inject(udp(a.ip, b.ip, "x"));
      b.packets.inject(udp(b.ip, a.ip, "y"));
      net.deliver();
    }
    assert.ok(pa.counters.initiationsSent <= 1 && pb.counters.initiationsSent <= 1, ctx);
    assert.ok(pa.current && pb.current, ctx);
    assert.equal(pa.current.remoteIndex, pb.current.localIndex, `${ctx}: one session`);
    assert.equal(pb.current.remoteIndex, pa.current.localIndex, `${ctx}: one session`);
    assert.notEqual(pa.current.isInitiator, pb.current.isInitiator, ctx);
    assert.equal(a.device.drops.total() + b.device.drops.total(), 0, ctx);
  }
});

/**
 * A peer that restarts (a fresh device, same key and address, no sessions) soon after a handshake
 * looks, to the side that stayed up, like the other half of a crossing: its new session was
 * started within the rekey timeout of ours. It is not one: the restarted side holds only its new
 * session, so whatever we send on the old one it drops (unknown index). Traffic must flow both
 * ways as soon as the restarted side's handshake completes, whichever key is the larger.
 */
type Before = "survivor" | "restarted" | "both" | "survivor, one way";

/**
 * Two nodes that completed a handshake `before` (started by whom; "one way": the restarted side
 * never sent on it), then, 1.5 s later, the one whose key is the larger (`restartedWins`) or the
 * smaller restarts: `r` is its fresh device, `s` the survivor.
 */
async function restartSoonAfterHandshake(restartedWins: boolean, before: Before) {
  const mesh = makeMesh(2);
  const { net, clock } = mesh;
  // Which node restarts: the one whose key is the larger, or the smaller, as asked.
  const [x, y] = mesh.nodes;
  const xWins = !x.device.peer(y.publicKey)!.winsCrossing;
  const [r, s] = xWins === restartedWins ? [x, y] : [y, x];
  const sIndex = mesh.nodes.indexOf(s);
  if (before === "survivor" || before === "survivor, one way") {
    s.packets.inject(udp(s.ip, r.ip, "s->r"));
  } else if (before === "restarted") {
    r.packets.inject(udp(r.ip, s.ip, "r->s"));
  } else {
    s.packets.inject(udp(s.ip, r.ip, "s->r"));
    r.packets.inject(udp(r.ip, s.ip, "r->s"));
  }
  net.deliver();
  if (before !== "survivor, one way") {
    // An answer each way (a ping), so both used the session before the restart.
    s.packets.inject(udp(s.ip, r.ip, "s-again"));
    r.packets.inject(udp(r.ip, s.ip, "r-again"));
    net.deliver();
  }
  const old = s.device.peer(r.publicKey)!;
  assert.ok(old.current, "a session before the restart");
  // Well inside the crossing window (the rekey timeout, 5 s).
  clock.advance(1500);
  await r.device.close();
  const packets = new RecordingPackets();
  const transport = net.bind(r.transport.address, r.transport.port);
  const device = new Device({
    privateKey: r.privateKey,
    suite: { aead: nobleAead, dh: nobleDh },
    transport,
    packets,
    clock,
    tickMs: 0,
  });
  device.setPeer({
    publicKey: s.publicKey,
    endpoint: `192.0.2.${sIndex + 1}:51820`,
    allowedIps: [`${s.ip}/32`],
  });
  device.start();
  const fresh: TestNode = { ...r, device, packets, transport };
  return { net, clock, s, r: fresh, ctx: `restarted wins=${restartedWins}, before=${before}` };
}

/** Both ways now, then more, all on one session, nothing dropped, no timer needed. */
function assertFlows(net: MemoryNetwork, s: TestNode, r: TestNode, ctx: string): void {
  assertFlowsFrom(net, s, r, ctx, 0);
}

/** As assertFlows, when the restarted side had already dropped `lost` packets. */
function assertFlowsFrom(
  net: MemoryNetwork,
  s: TestNode,
  r: TestNode,
  ctx: string,
  lost: number,
): void {
  const ps = s.device.peer(r.publicKey)!;
  const pr = r.device.peer(s.publicKey)!;
  for (let i = 0; i < 3; i++) {
    s.packets.inject(udp(s.ip, r.ip, `s${i}`));
    r.packets.inject(udp(r.ip, s.ip, `r${i}`));
    net.deliver();
  }
  assert.deepEqual(texts(r).filter((t) => /^s\d$/.test(t)), ["s0", "s1", "s2"], ctx);
  assert.deepEqual(texts(s).filter((t) => /^r\d$/.test(t)), ["r0", "r1", "r2"], ctx);
  assert.ok(ps.current && pr.current, ctx);
  assert.equal(ps.current.remoteIndex, pr.current.localIndex, `${ctx}: one session`);
  assert.equal(pr.current.remoteIndex, ps.current.localIndex, `${ctx}: one session`);
  assert.equal(r.device.drops.total(), lost, `${ctx}: the restarted side dropped nothing more`);
  assert.ok(pr.counters.initiationsSent <= 1, `${ctx}: no retransmission`);
}

const BEFORE: Before[] = ["survivor", "restarted", "both", "survivor, one way"];

/** Runs every case and reports all that fail, not only the first. */
async function everyCase(
  cases: [boolean, Before][],
  fn: (restartedWins: boolean, before: Before) => Promise<void>,
) {
  const failed: string[] = [];
  for (const [restartedWins, before] of cases) {
    try {
      await fn(restartedWins, before);
    } catch (e) {
      failed.push(e instanceof Error ? e.message.split("\n")[0] : String(e));
    }
  }
  assert.deepEqual(failed, []);
}

Deno.test("restart within the crossing window: the restarted side's handshake is taken at once", async () => {
  const cases = [true, false].flatMap((w) => BEFORE.map((b): [boolean, Before] => [w, b]));
  await everyCase(cases, async (restartedWins, before) => {
    const { net, s, r, ctx } = await restartSoonAfterHandshake(restartedWins, before);
    // The restarted side has something to say: its handshake, then its packet.
    r.packets.inject(udp(r.ip, s.ip, "hello again"));
    net.deliver();
    assert.ok(texts(s).includes("hello again"), ctx);
    // The answer comes back within that same round trip, on a session r holds.
    s.packets.inject(udp(s.ip, r.ip, "welcome back"));
    net.deliver();
    assert.deepEqual(texts(r), ["welcome back"], `${ctx}: the answer`);
    assertFlows(net, s, r, ctx);
  });
});

Deno.test("restart within the crossing window: a handshake the survivor starts is taken at once", async () => {
  // The survivor may start one only when it did not within the last rekey timeout: here the
  // handshake before the restart was the restarted side's. The mesh does so when a peer's
  // endpoint changes; the restarted side has said nothing yet and must get what follows.
  await everyCase([[true, "restarted"], [false, "restarted"]], async (restartedWins, before) => {
    const { net, s, r, ctx } = await restartSoonAfterHandshake(restartedWins, before);
    s.device.initiateHandshake(r.publicKey);
    net.deliver();
    s.packets.inject(udp(s.ip, r.ip, "are you there"));
    net.deliver();
    assert.deepEqual(texts(r), ["are you there"], `${ctx}: the survivor's packet`);
    assertFlows(net, s, r, ctx);
  });
});

Deno.test("restart within the crossing window: every delivery order, both settle on a session the restarted side holds", async () => {
  const random = seededRandom(20261123);
  for (let trial = 0; trial < 200; trial++) {
    const restartedWins = random() < 0.5;
    const before = BEFORE[Math.floor(random() * BEFORE.length)];
    const { net, clock, s, r, ctx: base } = await restartSoonAfterHandshake(restartedWins, before);
    const trace: string[] = [];
    // The restarted side speaks first or the survivor does (on its old session, which the
    // restarted side cannot read); each may speak again; deliveries come in any order.
    const at = [0, 1, 2, 3].map(() => Math.floor(random() * 5));
    for (let step = 0; step <= 8 || net.pending > 0; step++) {
      if (step === at[0]) r.packets.inject(udp(r.ip, s.ip, "r:hello"));
      if (step === at[1]) s.packets.inject(udp(s.ip, r.ip, "s:hello"));
      if (step === at[0] + at[2]) r.packets.inject(udp(r.ip, s.ip, "r:more"));
      if (step === at[1] + at[3]) s.packets.inject(udp(s.ip, r.ip, "s:more"));
      clock.advance(Math.floor(random() * 3));
      deliverOneAtRandom(net, random, trace);
    }
    const ctx = `trial ${trial}: ${base}, ${trace.join(" ")} at ${at}`;
    assert.deepEqual(texts(s).filter((t) => t.startsWith("r:")).sort(), ["r:hello", "r:more"], ctx);
    // Only what the survivor sent on its old session before the restarted side's handshake
    // reached it is lost; from then on it sends where it can be read.
    const lost = r.device.drops.total();
    assert.equal(r.device.drops.get("unknown-index"), lost, ctx);
    assertFlowsFrom(net, s, r, ctx, lost);
  }
});
