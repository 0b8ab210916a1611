/**
 * PeerTimers: the deadlines each protocol event sets, the jitter on them, and the order in which
 * `due()` hands them out. Time is a number passed in: no wall clock is involved.
 */
import assert from "node:assert/strict";
import { PeerTimers, type TimerKind } from "./timers.ts";
import { DEFAULT_TIMERS, type ProtocolTimers, resolveTimers } from "../protocol/constants.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

const T = DEFAULT_TIMERS;
const T0 = 1_000;

/** Every timer due at `now`, in the order `due()` gives them. */
function drain(timers: PeerTimers, now: number): TimerKind[] {
  const out: TimerKind[] = [];
  for (let k = timers.due(now); k; k = timers.due(now)) out.push(k);
  return out;
}

function timers(opts: { t?: ProtocolTimers; keepaliveMs?: number; random?: () => number } = {}) {
  return new PeerTimers(opts.t ?? T, opts.keepaliveMs ?? 0, opts.random ?? (() => 0));
}

Deno.test("timers: a new timer set has nothing due", () => {
  const p = timers({ keepaliveMs: 25_000 });
  assert.equal(p.due(0), null);
  assert.equal(p.due(Number.MAX_SAFE_INTEGER), null);
  assert.equal(p.handshakeAttempts, 0);
  assert.equal(p.sentLastMinuteHandshake, false);
});

Deno.test("timers: data sent and nothing heard asks for a new handshake after keepalive + rekey timeout", () => {
  const p = timers();
  p.dataSent(T0);
  const deadline = T0 + T.keepaliveTimeout + T.rekeyTimeout;
  assert.equal(p.newHandshake, deadline);
  // More data does not push the deadline: the first unanswered packet counts.
  p.dataSent(T0 + 4_000);
  assert.equal(p.newHandshake, deadline);
  assert.deepEqual(drain(p, deadline - 1), []);
  assert.deepEqual(drain(p, deadline), ["new-handshake"]);
  assert.deepEqual(drain(p, deadline + 60_000), [], "fires once");
  // Once it fired, the next data packet arms it again from its own time.
  p.dataSent(deadline + 1);
  assert.equal(p.newHandshake, deadline + 1 + T.keepaliveTimeout + T.rekeyTimeout);
});

Deno.test("timers: any authenticated packet received cancels the new-handshake deadline", () => {
  const p = timers();
  p.dataSent(T0);
  p.anyAuthenticatedPacketReceived();
  assert.equal(p.newHandshake, 0);
  assert.deepEqual(drain(p, T0 + 10 * T.rekeyAttemptTime), []);
});

Deno.test("timers: data received and nothing sent back asks for a keepalive after keepalive timeout", () => {
  const p = timers();
  p.dataReceived(T0);
  const deadline = T0 + T.keepaliveTimeout;
  assert.equal(p.sendKeepalive, deadline);
  p.dataReceived(T0 + 9_000);
  assert.equal(p.sendKeepalive, deadline, "not pushed by more data");
  assert.deepEqual(drain(p, deadline - 1), []);
  assert.deepEqual(drain(p, deadline), ["send-keepalive"]);
  assert.deepEqual(drain(p, deadline + 1), []);
  // Anything we send carries our liveness: the keepalive is not needed.
  p.dataReceived(T0 + 20_000);
  p.anyAuthenticatedPacketSent();
  assert.equal(p.sendKeepalive, 0);
  assert.deepEqual(drain(p, T0 + 100_000), []);
});

Deno.test("timers: the passive keepalive has no jitter, whatever the random source", () => {
  const p = timers({ random: () => 0.999 });
  p.dataReceived(T0);
  assert.equal(p.sendKeepalive, T0 + T.keepaliveTimeout);
});

Deno.test("timers: an initiation is retransmitted after rekey timeout plus jitter", () => {
  const p = timers();
  p.handshakeInitiated(T0);
  assert.equal(p.retransmitHandshake, T0 + T.rekeyTimeout);
  assert.deepEqual(drain(p, T0 + T.rekeyTimeout - 1), []);
  assert.deepEqual(drain(p, T0 + T.rekeyTimeout), ["retransmit-handshake"]);
  assert.deepEqual(drain(p, T0 + T.rekeyTimeout + 1), []);
  // A retransmission rearms it from its own time (not from the first initiation).
  p.handshakeInitiated(T0 + 7_000);
  assert.equal(p.retransmitHandshake, T0 + 7_000 + T.rekeyTimeout);
});

Deno.test("timers: jitter is taken from the injected random source, within [0, rekeyJitter)", () => {
  const cases: [number, number][] = [[0, 0], [0.5, Math.floor(0.5 * T.rekeyJitter)], [
    1 - 2 ** -53,
    T.rekeyJitter - 1,
  ]];
  for (const [r, jitter] of cases) {
    const p = timers({ random: () => r });
    p.handshakeInitiated(T0);
    assert.equal(p.retransmitHandshake, T0 + T.rekeyTimeout + jitter, `random ${r}`);
    p.dataSent(T0);
    assert.equal(p.newHandshake, T0 + T.keepaliveTimeout + T.rekeyTimeout + jitter, `random ${r}`);
  }
  // Many draws: all within bounds, integers, and spread over the range (not a constant).
  const p = timers({ random: seededRandom(7) });
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    p.handshakeInitiated(T0);
    const j = p.retransmitHandshake - T0 - T.rekeyTimeout;
    assert.ok(Number.isInteger(j) && j >= 0 && j < T.rekeyJitter, `jitter ${j}`);
    seen.add(j);
  }
  assert.ok(seen.size > T.rekeyJitter / 2, `only ${seen.size} distinct jitters`);
  assert.ok(Math.min(...seen) < T.rekeyJitter / 10 && Math.max(...seen) > T.rekeyJitter * 0.9);
});

Deno.test("timers: a completed handshake stops retransmission and resets the attempt state", () => {
  const p = timers();
  p.handshakeInitiated(T0);
  p.handshakeAttempts = 5;
  p.sentLastMinuteHandshake = true;
  p.handshakeComplete();
  assert.equal(p.retransmitHandshake, 0);
  assert.equal(p.handshakeAttempts, 0);
  assert.equal(p.sentLastMinuteHandshake, false);
  assert.deepEqual(drain(p, T0 + T.rekeyAttemptTime), []);
});

Deno.test("timers: give up after rekey attempt time / rekey timeout attempts (at least one)", () => {
  assert.equal(timers().maxAttempts, 18, "90 s / 5 s as in wireguard-go");
  const custom = (a: number, r: number) =>
    timers({ t: resolveTimers({ rekeyAttemptTime: a, rekeyTimeout: r }) }).maxAttempts;
  assert.equal(custom(10_000, 3_000), 3);
  assert.equal(custom(1_000, 5_000), 1, "never zero attempts");
  // Retransmitting every time the timer fires until maxAttempts spans about rekeyAttemptTime.
  const p = timers({ random: () => 0 });
  let now = T0;
  p.handshakeInitiated(now);
  let sent = 1;
  while (sent < p.maxAttempts) {
    const k = p.due(now);
    if (k === "retransmit-handshake") {
      p.handshakeInitiated(now);
      sent++;
    }
    now += 100;
  }
  assert.ok(now - T0 <= T.rekeyAttemptTime, `gave up after ${now - T0} ms`);
  assert.ok(now - T0 >= T.rekeyAttemptTime - 2 * T.rekeyTimeout, `gave up after ${now - T0} ms`);
});

Deno.test("timers: key material is zeroed 3 x reject-after-time after the last session", () => {
  const p = timers();
  p.sessionDerived(T0);
  const deadline = T0 + 3 * T.rejectAfterTime;
  assert.equal(p.zeroKeyMaterial, deadline);
  assert.deepEqual(drain(p, deadline - 1), []);
  // A fresher session moves the deadline.
  p.sessionDerived(T0 + 60_000);
  assert.deepEqual(drain(p, deadline), []);
  assert.deepEqual(drain(p, deadline + 60_000), ["zero-key-material"]);
  assert.deepEqual(drain(p, deadline + 120_000), []);
});

Deno.test("timers: the persistent keepalive restarts on every authenticated packet", () => {
  const p = timers({ keepaliveMs: 25_000 });
  p.anyAuthenticatedPacketTraversal(T0);
  assert.equal(p.persistentKeepalive, T0 + 25_000);
  p.anyAuthenticatedPacketTraversal(T0 + 10_000);
  assert.equal(p.persistentKeepalive, T0 + 35_000, "pushed by traffic");
  assert.deepEqual(drain(p, T0 + 34_999), []);
  assert.deepEqual(drain(p, T0 + 35_000), ["persistent-keepalive"]);
  assert.deepEqual(drain(p, T0 + 35_001), []);
  // Turned off: traffic no longer arms it.
  p.persistentKeepaliveMs = 0;
  p.anyAuthenticatedPacketTraversal(T0 + 40_000);
  assert.equal(p.persistentKeepalive, 0);
  assert.deepEqual(drain(p, T0 + 1_000_000), []);
});

Deno.test("timers: without a persistent keepalive interval traffic arms nothing", () => {
  const p = timers({ keepaliveMs: 0 });
  p.anyAuthenticatedPacketTraversal(T0);
  assert.equal(p.persistentKeepalive, 0);
});

Deno.test("timers: due() hands out each due timer once, in a fixed order, then null", () => {
  const p = timers({ keepaliveMs: 1 });
  p.handshakeInitiated(T0);
  p.dataReceived(T0);
  p.dataSent(T0);
  p.sessionDerived(T0);
  p.anyAuthenticatedPacketTraversal(T0);
  const far = T0 + 10 * T.rejectAfterTime;
  assert.deepEqual(drain(p, far), [
    "retransmit-handshake",
    "send-keepalive",
    "new-handshake",
    "zero-key-material",
    "persistent-keepalive",
  ]);
  assert.equal(p.due(far), null);
  // Only what is due comes out; later deadlines wait.
  p.handshakeInitiated(T0);
  p.sessionDerived(T0);
  assert.deepEqual(drain(p, T0 + T.rekeyTimeout), ["retransmit-handshake"]);
  assert.equal(p.zeroKeyMaterial, T0 + 3 * T.rejectAfterTime);
});

Deno.test("timers: stopAll turns every timer off", () => {
  const p = timers({ keepaliveMs: 25_000 });
  p.handshakeInitiated(T0);
  p.dataReceived(T0);
  p.dataSent(T0);
  p.sessionDerived(T0);
  p.anyAuthenticatedPacketTraversal(T0);
  p.stopAll();
  assert.deepEqual(
    [p.retransmitHandshake, p.sendKeepalive, p.newHandshake, p.zeroKeyMaterial],
    [0, 0, 0, 0],
  );
  assert.equal(p.persistentKeepalive, 0);
  assert.deepEqual(drain(p, T0 + 100 * T.rejectAfterTime), []);
});

Deno.test("timers: deadlines follow the injected protocol timers, not the defaults", () => {
  const t = resolveTimers({
    rekeyAfterTime: 1_000,
    rejectAfterTime: 2_000,
    rekeyTimeout: 50,
    keepaliveTimeout: 100,
    rekeyJitter: 10,
  });
  const p = timers({ t, random: () => 0.95 });
  p.handshakeInitiated(0);
  assert.equal(p.retransmitHandshake, 50 + 9);
  p.dataSent(0);
  assert.equal(p.newHandshake, 150 + 9);
  p.dataReceived(0);
  assert.equal(p.sendKeepalive, 100);
  p.sessionDerived(0);
  assert.equal(p.zeroKeyMaterial, 6_000);
});
