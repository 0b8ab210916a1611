import assert from "node:assert/strict";
import { type HealthEvent, type HealthOptions, HealthTracker, idleHealth } from "./health.ts";

const T0 = 1_700_000_000_000;

/**
 * A tracker on a hand-moved clock, with every transition collected. `probe` moves the clock one
 * interval; an answered probe also refreshes the handshake (traffic keeps sessions rekeyed, as
 * in the real mesh) unless `refreshHandshake` is false.
 */
function setup(opts: HealthOptions = {}, refreshHandshake = true) {
  const clock = { t: T0 };
  const tracker = new HealthTracker({ now: () => clock.t, ...opts });
  const events: HealthEvent[] = [];
  tracker.subscribe((e) => events.push(e));
  const probe = (peer: string, rtt: number | null) => {
    clock.t += tracker.options.probeIntervalMs;
    if (rtt !== null && refreshHandshake) tracker.setHandshake(peer, clock.t - 1);
    tracker.recordProbe(peer, rtt);
  };
  const feed = (peer: string, rtts: (number | null)[]) => {
    for (const r of rtts) probe(peer, r);
  };
  return { clock, tracker, events, probe, feed };
}

const state = (t: HealthTracker, peer: string) => t.get(peer)?.state;
const repeat = <T>(v: T, n: number): T[] => Array.from({ length: n }, () => v);

Deno.test("health: a new peer is unknown, the first answered probe makes it up at once", () => {
  const { tracker, events, probe } = setup();
  tracker.addPeer("a");
  assert.equal(state(tracker, "a"), "unknown");
  tracker.tick();
  assert.equal(state(tracker, "a"), "unknown", "no handshake and no probe says nothing");
  probe("a", 12);
  assert.equal(state(tracker, "a"), "up");
  assert.equal(events.length, 1);
  assert.deepEqual(
    { peer: events[0].peer, from: events[0].from, to: events[0].to, rtt: events[0].rttMs },
    { peer: "a", from: "unknown", to: "up", rtt: 12 },
  );
  assert.equal(events[0].loss, 0);
  assert.equal(events[0].at, T0 + 5000);
});

Deno.test("health: a recent handshake alone makes a peer up", () => {
  const { tracker, clock } = setup();
  tracker.setHandshake("a", clock.t - 10_000);
  tracker.tick();
  assert.equal(state(tracker, "a"), "up");
  assert.match(tracker.get("a")!.reason, /handshake 10 s ago/);
});

Deno.test("health: loss over 20% of the window degrades, after two agreeing evaluations", () => {
  const { tracker, events, feed, probe } = setup();
  feed("a", repeat(10, 10));
  feed("a", [null, 10, null, 10]); // 2 of 10 lost: 20% is not over 20%
  assert.equal(state(tracker, "a"), "up");
  probe("a", null); // 3 of 10 lost: first evaluation that says degraded
  assert.equal(tracker.get("a")!.loss, 0.3);
  assert.equal(state(tracker, "a"), "up", "one evaluation is not enough");
  probe("a", 10); // still 30%: the second agrees
  assert.equal(state(tracker, "a"), "degraded");
  const last = events.at(-1)!;
  assert.equal(last.from, "up");
  assert.equal(last.to, "degraded");
  assert.equal(last.loss, 0.3);
  assert.match(last.reason, /loss 30% > 20%/);
});

Deno.test("health: loss is not judged on fewer probes than minLossSamples", () => {
  const { tracker, feed } = setup();
  feed("a", [10, null, 10, 10]); // 25% of 4
  assert.equal(state(tracker, "a"), "up");
  assert.equal(tracker.get("a")!.loss, 0.25);
});

Deno.test("health: median RTT over 250 ms degrades; it recovers only at or under 200 ms", () => {
  const { tracker, events, feed, probe } = setup();
  feed("a", repeat(10, 10));
  feed("a", repeat(300, 5)); // median of five 10s and five 300s is 155
  assert.equal(state(tracker, "a"), "up");
  probe("a", 300); // median 300: first vote
  assert.equal(state(tracker, "a"), "up");
  probe("a", 300);
  assert.equal(state(tracker, "a"), "degraded");
  assert.match(events.at(-1)!.reason, /median rtt 300 ms > 250 ms/);
  // Between the exit and the enter threshold: it stays degraded, however long.
  feed("a", repeat(220, 20));
  assert.equal(state(tracker, "a"), "degraded");
  assert.equal(events.length, 2);
  assert.match(tracker.get("a")!.reason, /median rtt 220 ms > 200 ms/);
  // Under the exit threshold: recovery after two agreeing evaluations.
  feed("a", repeat(50, 5)); // five 220s and five 50s: median 135, the first vote
  assert.equal(state(tracker, "a"), "degraded");
  probe("a", 50);
  assert.equal(state(tracker, "a"), "up");
  assert.equal(events.at(-1)!.from, "degraded");
  assert.equal(events.at(-1)!.to, "up");
});

Deno.test("health: the RTT figure can be the mean and the thresholds are configurable", () => {
  const { tracker, feed } = setup({ rttStatistic: "mean", degradedRttMs: 50, recoverRttMs: 40 });
  feed("a", [10, 10, 10, 10, 200]); // median 10, mean 48
  assert.equal(state(tracker, "a"), "up");
  feed("a", [200, 200]); // mean (40+600)/7 = 91
  assert.equal(state(tracker, "a"), "degraded");
  assert.match(tracker.get("a")!.reason, /mean rtt/);
});

Deno.test("health: alternating answers and losses do not flap", () => {
  const { tracker, events, feed } = setup();
  feed("a", repeat(10, 10));
  for (let i = 0; i < 50; i++) feed("a", [null, 10]);
  // One move to degraded (50% loss), then nothing: never down (never 3 lost in a row), never up.
  assert.deepEqual(events.map((e) => e.to), ["up", "degraded"]);
  assert.equal(state(tracker, "a"), "degraded");
  // Loss hovering around the enter threshold does not flap either: exit needs <= 10%.
  for (let i = 0; i < 30; i++) feed("a", [null, 10, 10, 10, 10]); // 20% loss
  assert.deepEqual(events.map((e) => e.to), ["up", "degraded"]);
});

Deno.test("health: a single disagreeing evaluation resets the confirmation count", () => {
  // A window of one probe makes every evaluation a vote on that probe alone.
  const { tracker, feed } = setup({ confirmations: 3, window: 1, minRttSamples: 1 });
  feed("a", [10]);
  feed("a", [300, 300, 10, 300, 300]);
  assert.equal(state(tracker, "a"), "up", "two votes, a disagreement, two votes");
  feed("a", [300]);
  assert.equal(state(tracker, "a"), "degraded", "three votes in a row");
});

Deno.test("health: ticks do not vote while probes flow; they take over when probes stop", () => {
  const { tracker, clock, feed } = setup();
  feed("a", repeat(10, 10));
  feed("a", repeat(300, 6)); // median 300: one vote for degraded
  clock.t += 5000;
  tracker.tick(); // the same probes again: no second vote
  assert.equal(state(tracker, "a"), "up");
  clock.t += 2600; // 7.6 s without a probe: the prober is stuck, ticks evaluate
  tracker.tick();
  assert.equal(state(tracker, "a"), "degraded");
});

Deno.test("health: three probes lost in a row make a peer down at once", () => {
  const { tracker, events, feed, probe } = setup();
  feed("a", repeat(10, 10));
  probe("a", null);
  probe("a", null);
  assert.equal(state(tracker, "a"), "up");
  probe("a", null);
  assert.equal(state(tracker, "a"), "down");
  assert.equal(events.at(-1)!.to, "down");
  assert.match(events.at(-1)!.reason, /3 probes lost in a row/);
  assert.equal(tracker.get("a")!.lostInARow, 3);
});

Deno.test("health: recovery from down needs agreeing answers, and the outage is not held as loss", () => {
  const { tracker, events, feed, probe } = setup();
  feed("a", repeat(10, 10));
  feed("a", repeat(null, 6));
  assert.equal(state(tracker, "a"), "down");
  // While down, alternating answers keep it down: the newest probe must be answered, twice.
  for (let i = 0; i < 10; i++) feed("a", [10, null]);
  assert.equal(state(tracker, "a"), "down");
  const moves = events.length;
  probe("a", 10);
  assert.equal(state(tracker, "a"), "down");
  probe("a", 10);
  assert.equal(state(tracker, "a"), "up", "down -> up, not degraded by the outage's losses");
  assert.equal(events.length, moves + 1);
  assert.equal(tracker.get("a")!.loss, 0);
  assert.equal(tracker.get("a")!.samples, 2);
  // Afterwards the normal rules apply to the new window.
  feed("a", [10, 10, 10, null, null, 10, null, 10]);
  assert.equal(state(tracker, "a"), "degraded");
});

Deno.test("health: no handshake within 180 s is down; a fresh handshake recovers", () => {
  const { tracker, events, clock } = setup();
  tracker.setHandshake("a", clock.t);
  tracker.tick();
  assert.equal(state(tracker, "a"), "up");
  clock.t += 180_000;
  tracker.tick();
  assert.equal(state(tracker, "a"), "up", "exactly 180 s is not over");
  clock.t += 1000;
  tracker.tick();
  assert.equal(state(tracker, "a"), "up", "evaluated 1 s ago: tick waits for the interval");
  clock.t += 4000;
  tracker.tick();
  assert.equal(state(tracker, "a"), "down");
  assert.match(events.at(-1)!.reason, /no handshake for 185 s/);
  tracker.setHandshake("a", clock.t);
  clock.t += 5000;
  tracker.tick();
  assert.equal(state(tracker, "a"), "down", "one evaluation");
  // tick does not evaluate more often than the probe interval: ten ticks now are no votes.
  for (let i = 0; i < 10; i++) tracker.tick();
  assert.equal(state(tracker, "a"), "down");
  clock.t += 5000;
  tracker.tick();
  assert.equal(state(tracker, "a"), "up");
});

Deno.test("health: stale handshake wins over answered probes; a peer never handshaken goes down", () => {
  const { tracker, clock, feed } = setup({}, false);
  tracker.setHandshake("a", clock.t);
  feed("a", repeat(10, 40)); // 200 s of probes, but the handshake is 200 s old
  assert.equal(state(tracker, "a"), "down");
  tracker.addPeer("b");
  clock.t += 181_000;
  tracker.tick();
  assert.equal(state(tracker, "b"), "down");
  assert.match(tracker.get("b")!.reason, /no handshake in 181 s/);
  // With the handshake rule off, only probes decide.
  const off = setup({ handshakeTimeoutMs: 0 });
  off.tracker.addPeer("c");
  off.clock.t += 1_000_000;
  off.feed("c", [10]);
  assert.equal(state(off.tracker, "c"), "up");
});

Deno.test("health: handshakeOf reads the handshake time from the caller", () => {
  let hs = 0;
  const { tracker, clock } = setup({ handshakeOf: () => hs });
  tracker.addPeer("a");
  hs = clock.t;
  tracker.tick();
  assert.equal(state(tracker, "a"), "up");
  assert.equal(tracker.get("a")!.lastHandshakeMs, hs);
});

Deno.test("health: figures: last, mean and median RTT, loss, counts and the histogram", () => {
  const { tracker, feed } = setup();
  feed("a", [1, 2, null, 9, 30]);
  const h = tracker.get("a")!;
  assert.deepEqual(h.rttMs, { last: 30, avg: 10.5, median: 5.5 });
  assert.equal(h.loss, 0.2);
  assert.equal(h.samples, 5);
  assert.equal(h.probesSent, 5);
  assert.equal(h.probesLost, 1);
  assert.equal(h.rttHistogram.count, 4);
  assert.ok(Math.abs(h.rttHistogram.sum - 0.042) < 1e-12);
  const le = (b: number) => h.rttHistogram.counts[h.rttHistogram.buckets.indexOf(b)];
  assert.equal(le(0.001), 1); // 1 ms
  assert.equal(le(0.0025), 2); // 2 ms
  assert.equal(le(0.01), 3); // 9 ms
  assert.equal(le(0.05), 4); // 30 ms
  // The window keeps the last 10 probes.
  feed("a", repeat(7, 10));
  assert.deepEqual(tracker.get("a")!.rttMs, { last: 7, avg: 7, median: 7 });
  assert.equal(tracker.get("a")!.loss, 0);
  assert.equal(tracker.snapshot().length, 1);
  tracker.removePeer("a");
  assert.equal(tracker.get("a"), undefined);
});

Deno.test("health: several peers are judged apart", () => {
  const { tracker, feed } = setup();
  feed("a", repeat(10, 5));
  feed("b", [10, null, null, null]);
  assert.equal(state(tracker, "a"), "up");
  assert.equal(state(tracker, "b"), "down");
  assert.deepEqual(tracker.peers().sort(), ["a", "b"]);
});

Deno.test("health: the async iterator delivers transitions in order and ends on close", async () => {
  const { tracker, feed } = setup();
  const it = tracker.events();
  feed("a", [10]); // unknown -> up, queued before anyone waits
  const got: string[] = [];
  const reader = (async () => {
    for await (const e of { [Symbol.asyncIterator]: () => it }) got.push(`${e.from}>${e.to}`);
  })();
  await Promise.resolve();
  feed("a", [null, null, null]); // -> down, delivered to a waiting reader
  feed("a", [10, 10]); // -> up
  tracker.close();
  await reader;
  assert.deepEqual(got, ["unknown>up", "up>down", "down>up"]);
  assert.deepEqual(await it.next(), { value: undefined, done: true });
});

Deno.test("health: iterators end on abort or break and stop queueing", async () => {
  const { tracker, feed } = setup();
  const ac = new AbortController();
  const it = tracker.events(ac.signal);
  const pending = it.next();
  ac.abort();
  assert.deepEqual(await pending, { value: undefined, done: true });
  // `for await` over the tracker itself, broken after the first event.
  const seen: string[] = [];
  const loop = (async () => {
    for await (const e of tracker) {
      seen.push(e.to);
      break;
    }
  })();
  await Promise.resolve();
  feed("b", [10]);
  await loop;
  feed("b", [null, null, null]);
  assert.deepEqual(seen, ["up"]);
  // A slow reader keeps at most maxQueued events, the newest ones.
  const small = setup({ maxQueued: 2 });
  const slow = small.tracker.events();
  small.feed("x", [10]);
  small.feed("x", [null, null, null]);
  small.feed("x", [10, 10]);
  assert.equal((await slow.next()).value?.to, "down");
  assert.equal((await slow.next()).value?.to, "up");
  await slow.return!();
  assert.equal((await slow.next()).done, true);
});

Deno.test("health: unsubscribe stops delivery and a throwing listener does not break others", () => {
  const { tracker, feed, events } = setup();
  const other: HealthEvent[] = [];
  tracker.subscribe(() => {
    throw new Error("bad listener");
  });
  const off = tracker.subscribe((e) => other.push(e));
  feed("a", [10]);
  off();
  feed("a", [null, null, null]);
  assert.equal(other.length, 1);
  assert.equal(events.length, 2);
});

Deno.test("health: a throwing listener is reported (first per listener) and counted", () => {
  const reports: [string, boolean][] = [];
  const { tracker, feed, events } = setup({
    onListenerError: (err, first) => reports.push([(err as Error).message, first]),
  });
  tracker.subscribe(() => {
    throw new Error("one");
  });
  tracker.subscribe(() => {
    throw new Error("two");
  });
  feed("a", [10]);
  feed("a", [null, null, null]);
  assert.equal(events.length, 2, "the tracker and the other subscribers go on");
  assert.equal(tracker.listenerErrors, 4);
  assert.deepEqual(reports, [["one", true], ["two", true], ["one", false], ["two", false]]);
  // A report that throws itself changes nothing.
  const quiet = setup({
    onListenerError: () => {
      throw new Error("reporter bug");
    },
  });
  quiet.tracker.subscribe(() => {
    throw new Error("x");
  });
  quiet.feed("a", [10]);
  assert.equal(quiet.events.length, 1);
  assert.equal(quiet.tracker.listenerErrors, 1);
});

Deno.test("health: nonsense options are refused", () => {
  assert.throws(() => new HealthTracker({ recoverLoss: 0.5, degradedLoss: 0.2 }), /recoverLoss/);
  assert.throws(() => new HealthTracker({ recoverRttMs: 300 }), /recoverRttMs/);
  assert.throws(() => new HealthTracker({ window: 0 }), /window/);
  assert.throws(() => new HealthTracker({ confirmations: 0 }), /confirmations/);
  assert.throws(() => new HealthTracker({ probeIntervalMs: 0 }), /probeIntervalMs/);
});

Deno.test("health: an idle peer (sessions on demand) has the idle state and no figures", () => {
  const h = idleHealth("k", 1234);
  assert.equal(h.state, "idle");
  assert.equal(h.lastHandshakeMs, 1234);
  assert.deepEqual(h.rttMs, { last: null, avg: null, median: null });
  assert.equal(h.loss, null);
  assert.equal(h.samples, 0);
});

Deno.test("health: a peer heard from (no probe) is up with the RTT it said; missed ones count as lost", () => {
  const { tracker, clock, events } = setup();
  tracker.setHandshake("a", clock.t);
  tracker.recordHeard("a", 12);
  assert.equal(state(tracker, "a"), "up");
  assert.match(tracker.get("a")!.reason, /^heard from \(median rtt 12 ms, loss 0%\)$/);
  // A hello that said no RTT is an answer all the same: loss stays 0, the RTT figures its own.
  tracker.recordHeard("a", null);
  tracker.recordHeard("a", Number.NaN);
  const h = tracker.get("a")!;
  assert.deepEqual([h.loss, h.rttMs.median, h.rttMs.last, h.samples], [0, 12, 12, 3]);
  assert.equal(h.rttHistogram.count, 1, "only said RTTs go into the histogram");
  tracker.recordMissed("a");
  tracker.recordMissed("a");
  assert.equal(state(tracker, "a"), "up");
  tracker.recordMissed("a");
  assert.equal(state(tracker, "a"), "down");
  assert.equal(events.at(-1)!.reason, "not heard from in 3 intervals in a row");
  // Back on the first hello heard after the outage (the outage not held as loss).
  tracker.recordHeard("a", 10);
  assert.match(tracker.get("a")!.reason, /not heard from|heard from/);
  tracker.recordHeard("a", 10);
  assert.equal(state(tracker, "a"), "up");
  assert.equal(tracker.get("a")!.loss, 0);
});

Deno.test("health: a peer heard from with no RTT is never degraded by RTT, only by loss", () => {
  const { tracker, clock } = setup();
  tracker.setHandshake("a", clock.t);
  for (let i = 0; i < 10; i++) tracker.recordHeard("a");
  assert.match(tracker.get("a")!.reason, /^heard from \(loss 0%\)$/);
  for (let i = 0; i < 3; i++) {
    tracker.recordMissed("a");
    tracker.recordHeard("a");
  }
  assert.equal(state(tracker, "a"), "degraded");
  assert.match(tracker.get("a")!.reason, /loss 30% > 20%/);
});

Deno.test("health: a probe answered with no RTT (NaN: it waited for a handshake) is answered, not lost, and out of the RTT figures", () => {
  const tracker = new HealthTracker({ now: () => 0 });
  tracker.recordProbe("a", Number.NaN);
  tracker.recordProbe("a", 1.3);
  tracker.recordProbe("a", null);
  const h = tracker.get("a")!;
  assert.deepEqual([h.probesLost, h.samples, h.rttMs.avg, h.rttMs.last], [1, 3, 1.3, 1.3]);
  assert.equal(h.rttHistogram.count, 1);
});

Deno.test("health: losses while this node is behind on its own socket are not taken; answers are", () => {
  let behind = false;
  const { tracker, events, feed } = setup({ lagging: () => behind });
  feed("a", repeat(10, 5));
  assert.equal(state(tracker, "a"), "up");
  behind = true;
  // Answers waiting in our own queue time out as lost: no evidence against the peer.
  feed("a", repeat(null, 6));
  tracker.recordMissed("a");
  assert.equal(state(tracker, "a"), "up");
  assert.equal(tracker.get("a")!.probesLost, 0);
  assert.equal(tracker.lossesHeld, 7);
  feed("a", [12]);
  assert.equal(tracker.get("a")!.samples, 6, "an answer still counts");
  behind = false;
  feed("a", repeat(null, 3));
  assert.equal(state(tracker, "a"), "down", "caught up, losses count again");
  assert.deepEqual(events.map((e) => e.to), ["up", "down"]);
});

Deno.test("health: the peers it starts tracking are told, however they come", () => {
  const h = new HealthTracker({ now: () => T0 });
  const added: string[] = [];
  const stop = h.onAdded((p) => added.push(p));
  h.addPeer("a");
  h.addPeer("a");
  h.recordProbe("b", 12); // a sample of a peer not tracked takes it up
  h.recordHeard("a");
  assert.deepEqual(added, ["a", "b"]);
  assert.equal(h.has("b"), true);
  h.removePeer("b");
  assert.equal(h.has("b"), false);
  stop();
  h.addPeer("c");
  assert.deepEqual(added, ["a", "b"]);
});

Deno.test("health: the peers it stops tracking are told, once each", () => {
  const h = new HealthTracker({ now: () => T0 });
  const removed: string[] = [];
  const stop = h.onRemoved((p) => removed.push(p));
  h.addPeer("a");
  h.addPeer("b");
  h.removePeer("a");
  h.removePeer("a"); // not tracked any more: nothing to tell
  h.removePeer("z"); // never tracked
  assert.deepEqual(removed, ["a"]);
  assert.equal(h.has("a"), false, "gone when its watchers hear of it");
  h.recordProbe("a", 5); // a sample takes it up afresh
  assert.equal(h.get("a")!.probesSent, 1);
  stop();
  h.removePeer("b");
  assert.deepEqual(removed, ["a"]);
});
