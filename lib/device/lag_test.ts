/**
 * A device that reads late (lag.ts), over the memory network with a manual clock: each datagram
 * is handed over with the wait in the receive queue a test sets, as the Linux UDP driver reports
 * it from the kernel's receive time.
 */
import assert from "node:assert/strict";
import { makeMesh, type TestNode, texts, udp } from "../../tests/fixtures/mesh.ts";
import { INITIATION_SIZE, MSG_INITIATION } from "../protocol/constants.ts";
import { LAG_HOLD_MS, LAG_MS } from "./lag.ts";

/** Hands `node` every datagram as having waited `wait.ms` in its receive queue. */
function waiting(node: TestNode): { ms: number } {
  const wait = { ms: 0 };
  const inner = node.transport.sink!;
  node.transport.sink = {
    datagram: (data, from) => inner.datagram(data, from, wait.ms),
    flush: () => inner.flush(),
  };
  return wait;
}

Deno.test("lag: an initiation that waited past its sender's resend is shed before any MAC or DH, and counted; a fresh one is answered", () => {
  const { nodes: [a, b], net } = makeMesh(2);
  const wait = waiting(b);
  const late = b.device.timers.rekeyTimeout + b.device.timers.rekeyJitter + 1;
  wait.ms = late;
  a.device.initiateHandshake(b.publicKey);
  net.deliver();
  assert.equal(b.device.drops.get("late-initiation"), 1);
  assert.equal(b.device.stats.handshakesReceived, 0, "no DH");
  assert.equal(a.device.peer(b.publicKey)!.lastHandshakeUnixMs, 0, "no response");
  // Before any MAC: a forged one is shed as late too, not counted as a bad MAC1.
  const forged = new Uint8Array(INITIATION_SIZE).fill(7);
  forged[0] = MSG_INITIATION;
  forged.fill(0, 1, 4);
  a.transport.send(forged, a.transport.endpoint("192.0.2.2:51820"));
  net.deliver();
  assert.equal(b.device.drops.get("late-initiation"), 2);
  assert.equal(b.device.drops.get("mac1"), 0);
  // One that waited as long as the sender's resend interval is still answered.
  wait.ms = b.device.timers.rekeyTimeout;
  a.device.initiateHandshakeNow(b.publicKey);
  net.deliver();
  assert.equal(b.device.stats.handshakesReceived, 1);
  assert.ok(a.device.peer(b.publicKey)!.lastHandshakeUnixMs > 0, "a session");
  assert.equal(b.device.drops.get("late-initiation"), 2);
});

Deno.test("lag: a response, a cookie reply and transport data are not shed for their wait; the device says how long the datagram read last waited", () => {
  const { nodes: [a, b], net } = makeMesh(2);
  const wait = waiting(a);
  wait.ms = 60_000;
  // a's initiation goes out fresh; b's response reaches a a minute late and still makes the session.
  a.device.initiateHandshake(b.publicKey);
  net.deliver();
  assert.ok(a.device.peer(b.publicKey)!.lastHandshakeUnixMs > 0, "the response was taken");
  // Data a minute late is delivered: the layers above judge what is still worth it.
  b.packets.inject(udp(b.ip, a.ip, "late"));
  net.deliver();
  assert.deepEqual(texts(a), ["late"]);
  // The layers above can tell how long what they are handed waited (a leader's bye deadline).
  assert.equal(a.device.readWaitMs, 60_000);
  wait.ms = 0;
  b.packets.inject(udp(b.ip, a.ip, "fresh"));
  net.deliver();
  assert.equal(a.device.readWaitMs, 0);
  wait.ms = 60_000;
  // A cookie reply a minute late is taken for the next initiation's MAC2.
  const { nodes: [c, d], net: net2, clock } = makeMesh(2, { device: { underLoadThreshold: 0 } });
  waiting(c).ms = 60_000;
  c.device.initiateHandshake(d.publicKey);
  net2.deliver();
  assert.equal(d.device.stats.cookieRepliesSent, 1);
  assert.equal(c.device.drops.get("cookie-invalid"), 0);
  assert.equal(c.device.drops.get("unknown-index"), 0);
  // Its next initiation, once c has caught up, carries MAC2 and is answered.
  clock.advance(LAG_HOLD_MS);
  c.device.initiateHandshakeNow(d.publicKey);
  net2.deliver();
  assert.equal(d.device.stats.handshakesReceived, 1);
  assert.equal(d.device.stats.cookieRepliesSent, 1);
  assert.equal(c.device.drops.get("late-initiation") + a.device.drops.get("late-initiation"), 0);
});

Deno.test("lag: while the device reads datagrams a second old it starts no handshake; they go once it has caught up", () => {
  const { nodes: [a, b], clock, net } = makeMesh(2);
  const wait = waiting(b);
  const sent = () => b.device.peer(a.publicKey)!.counters.initiationsSent;
  assert.equal(b.device.lagging, false);
  // Any datagram read a second late makes it behind (junk included: the wait is the queue's).
  wait.ms = LAG_MS;
  a.transport.send(new Uint8Array(32).fill(9), a.transport.endpoint("192.0.2.2:51820"));
  net.deliver();
  assert.equal(b.device.lagging, true);
  b.device.initiateHandshake(a.publicKey);
  assert.equal(sent(), 0, "held while behind");
  assert.equal(net.pending, 0);
  // Still behind at the tick: it keeps waiting.
  clock.advance(LAG_HOLD_MS - 1);
  b.device.tick();
  assert.equal(sent(), 0);
  // Caught up (nothing late read for a second): the tick sends it.
  clock.advance(1);
  assert.equal(b.device.lagging, false);
  b.device.tick();
  assert.equal(sent(), 1);
  wait.ms = 0;
  net.deliver();
  assert.ok(b.device.peer(a.publicKey)!.lastHandshakeUnixMs > 0);
});

Deno.test("lag: datagrams that waited less than a second leave the device as it was", () => {
  const { nodes: [a, b], net } = makeMesh(2);
  const wait = waiting(b);
  wait.ms = LAG_MS - 1;
  a.transport.send(new Uint8Array(32).fill(9), a.transport.endpoint("192.0.2.2:51820"));
  net.deliver();
  assert.equal(b.device.lagging, false);
  b.device.initiateHandshake(a.publicKey);
  assert.equal(b.device.peer(a.publicKey)!.counters.initiationsSent, 1);
});
