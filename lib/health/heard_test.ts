import assert from "node:assert/strict";
import { HeardLiveness, type HeardSink } from "./heard.ts";
import { HealthTracker } from "./health.ts";

/** A liveness on a hand-moved clock, with every sample it gave and probe switch collected. */
function setup() {
  const clock = { t: 1000 };
  const log: string[] = [];
  const sink: HeardSink = {
    recordHeard: (p, rtt) => log.push(`${p}:heard:${rtt}`),
    recordMissed: (p) => log.push(`${p}:missed`),
  };
  const live = new HeardLiveness({
    sink,
    probing: (p, on) => log.push(`${p}:probe:${on}`),
    now: () => clock.t,
  });
  return { clock, log, live };
}

Deno.test("heard: a peer silent past the slack loses one sample and is probed until heard again", () => {
  const { clock, log, live } = setup();
  live.follow("a", 3000);
  clock.t += 4500; // the first message is due within 1.5 intervals
  live.check();
  assert.deepEqual(log, []);
  clock.t += 1;
  live.check();
  assert.deepEqual(log, ["a:missed", "a:probe:true"]);
  assert.equal(live.quiet("a"), true);
  clock.t += 60_000;
  live.check();
  assert.equal(log.length, 2, "a quiet peer is the probes' to judge: no more samples here");
  live.heard("a", undefined, 7.5);
  assert.deepEqual(log.slice(2), ["a:heard:7.5", "a:probe:false"]);
  assert.equal(live.quiet("a"), false);
  live.heard("a");
  assert.deepEqual(log.slice(4), ["a:heard:null"], "probes are switched off once");
  clock.t += 4000;
  live.check();
  assert.equal(log.length, 5, "a message resets the due time");
});

Deno.test("heard: a peer's own interval is taken from its messages; others are ignored", () => {
  const { clock, log, live } = setup();
  live.follow("a", 3000);
  live.heard("a", 20_000);
  clock.t += 30_000;
  live.check();
  assert.deepEqual(log, ["a:heard:null"], "a 20 s interval is not missed at 30 s");
  clock.t += 1;
  live.check();
  assert.deepEqual(log.slice(1), ["a:missed", "a:probe:true"]);
  live.heard("b", 3000, 1);
  assert.equal(live.follows("b"), false);
  assert.equal(log.length, 3, "a peer not followed gives no sample");
  live.follow("a", 1000);
  assert.equal(live.quiet("a"), true, "following again leaves a peer as it is");
  live.unfollow("a");
  live.heard("a");
  clock.t += 100_000;
  live.check();
  assert.equal(log.length, 3);
});

Deno.test("heard: with the health tracker, a member silent for three intervals' worth is down", () => {
  const clock = { t: 1_700_000_000_000 };
  const tracker = new HealthTracker({ now: () => clock.t });
  let probed = false;
  const live = new HeardLiveness({
    sink: tracker,
    probing: (_, on) => probed = on,
    now: () => clock.t,
  });
  tracker.setHandshake("m", clock.t);
  live.follow("m", 3000);
  for (let i = 0; i < 5; i++) {
    clock.t += 3000;
    live.heard("m", 3000, 0.4);
    live.check();
  }
  assert.equal(tracker.get("m")?.state, "up");
  assert.match(tracker.get("m")!.reason, /^heard from \(median rtt 0.4 ms, loss 0%\)$/);
  clock.t += 4600;
  live.check();
  assert.equal(probed, true);
  assert.equal(tracker.get("m")?.state, "up", "one hello missed");
  // The probes (here by hand) find it gone: the missed hello and two probes lost make three.
  tracker.recordProbe("m", null);
  tracker.recordProbe("m", null);
  assert.equal(tracker.get("m")?.state, "down");
  assert.equal(tracker.get("m")!.reason, "not heard from in 3 intervals in a row");
  live.close();
});

Deno.test("heard: a peer asked for a longer interval is expected at it from then, no sample taken", () => {
  const { clock, log, live } = setup();
  live.follow("a", 3000);
  live.heard("a", 3000);
  log.length = 0;
  clock.t += 1000;
  live.expect("a", 10_000); // paced: its next message comes 10 s from now
  live.expect("nobody", 10_000);
  clock.t += 14_000;
  live.check();
  assert.deepEqual(log, [], "not missed within 1.5 of the new interval");
  clock.t += 1001;
  live.check();
  assert.deepEqual(log, ["a:missed", "a:probe:true"]);
  assert.equal(live.follows("nobody"), false);
});

Deno.test("heard: hasHeard tells a peer that talks to this receiver from one followed only", () => {
  let now = 0;
  const h = new HeardLiveness({
    sink: { recordHeard: () => {}, recordMissed: () => {} },
    probing: () => {},
    now: () => now,
  });
  h.follow("a", 3000);
  h.follow("b", 3000);
  h.heard("a");
  now = 10_000;
  h.check();
  assert.equal(h.hasHeard("a"), true);
  assert.equal(h.hasHeard("b"), false);
  assert.equal(h.hasHeard("c"), false);
});

Deno.test("heard: while this node is behind on its own socket, no message counts as missed", () => {
  const clock = { t: 1000 };
  const log: string[] = [];
  let behind = true;
  const live = new HeardLiveness({
    sink: {
      recordHeard: (p) => log.push(`${p}:heard`),
      recordMissed: (p) => log.push(`${p}:missed`),
    },
    probing: (p, on) => log.push(`${p}:probe:${on}`),
    now: () => clock.t,
    lagging: () => behind,
  });
  live.follow("a", 3000);
  clock.t += 60_000;
  live.check();
  assert.deepEqual(log, [], "its hellos may be in our queue");
  assert.equal(live.quiet("a"), false);
  behind = false;
  live.check();
  assert.deepEqual(log, ["a:missed", "a:probe:true"]);
});
