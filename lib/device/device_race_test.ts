/**
 * Two peers that start talking at the same moment both send an initiation. Whatever order the
 * four handshake messages arrive in, both must have a session within that one round trip, with
 * no retransmission (the manual clock never moves past the 5 s rekey timeout here).
 */
import assert from "node:assert/strict";
import { makeMesh, run, type TestNode, texts, udp } from "../../tests/fixtures/mesh.ts";
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
