/**
 * Path choice over simulated time: a fake network answers pings after a (seeded, jittered)
 * RTT or never, and the tests read the schedule and the changes of path it leads to.
 */
import assert from "node:assert/strict";
import {
  classOf,
  DEFAULT_PATH_TIMING,
  MAX_ANNOUNCED,
  MAX_DISCOVERED,
  MAX_PENDING,
  type PathChange,
  PathTable,
  type PathTiming,
  PeerPaths,
} from "./paths.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

/** One simulated endpoint: answers after `rtt()` ms while `up`. */
interface FakePath {
  rtt: () => number;
  up: boolean;
}

/** Runs a PeerPaths against fake endpoints, event by event, recording pings and changes. */
class Sim {
  now = 0;
  readonly changes: PathChange[] = [];
  readonly pings = new Map<string, number[]>();
  #txid = 0;
  #inFlight: { at: number; txid: string }[] = [];

  constructor(readonly p: PeerPaths, readonly net: Record<string, FakePath>) {}

  /** Runs until `until` (ms), one step per ping, pong or timeout. */
  run(until: number): void {
    while (this.now <= until) {
      this.#inFlight.sort((a, b) => a.at - b.at);
      while (this.#inFlight.length > 0 && this.#inFlight[0].at <= this.now) {
        this.#record(this.p.pong(this.#inFlight.shift()!.txid, this.now));
      }
      this.#record(this.p.expire(this.now));
      for (const ep of this.p.due(this.now)) {
        const txid = String(this.#txid++);
        assert.ok(this.p.sent(ep, txid, this.now));
        const list = this.pings.get(ep) ?? [];
        list.push(this.now);
        this.pings.set(ep, list);
        const path = this.net[ep];
        if (path?.up) this.#inFlight.push({ at: this.now + path.rtt(), txid });
      }
      let next = this.p.nextDue(this.now);
      for (const f of this.#inFlight) next = Math.min(next, f.at);
      this.now = next > this.now ? next : this.now + 1;
    }
  }

  #record(c: PathChange | null): void {
    if (c !== null) this.changes.push(c);
  }
}

const fixed = (ms: number): FakePath => ({ rtt: () => ms, up: true });
const dead = (): FakePath => ({ rtt: () => 0, up: false });
const T = DEFAULT_PATH_TIMING;

function peer(
  list: [string, "lan" | "advertised" | "observed"][],
  timing: Partial<PathTiming> = {},
) {
  const p = new PeerPaths(timing);
  p.setCandidates(list.map(([endpoint, kind]) => ({ endpoint, kind })), 0);
  return p;
}

Deno.test("paths: classes of the candidate kinds", () => {
  assert.equal(classOf("lan"), "lan");
  assert.equal(classOf("lan-announce"), "lan");
  assert.equal(classOf("observed"), "public");
  assert.equal(classOf("advertised"), "public");
  assert.equal(classOf("peer-observed"), "public");
});

Deno.test("paths: the first answer is punched through", () => {
  const p = peer([["198.51.100.1:41641", "observed"], ["203.0.113.9:51820", "advertised"]]);
  const sim = new Sim(p, { "198.51.100.1:41641": fixed(40), "203.0.113.9:51820": dead() });
  assert.equal(p.state, "none");
  sim.run(1_000);
  assert.deepEqual(sim.changes, [
    { from: null, to: "198.51.100.1:41641", reason: "punched", at: 40 },
  ]);
  assert.equal(p.state, "direct");
  assert.equal(p.chosen, "198.51.100.1:41641");
  assert.equal(p.reason, "punched");
  const s = p.stats().find((x) => x.endpoint === "198.51.100.1:41641")!;
  assert.equal(s.rttMs, 40);
  assert.equal(s.pathClass, "public");
});

Deno.test("paths: a LAN path wins over a public one at once", () => {
  const p = peer([["198.51.100.1:41641", "observed"]]);
  const sim = new Sim(p, {
    "198.51.100.1:41641": fixed(30),
    "192.168.1.20:51820": fixed(80), // slower, but on the LAN: no NAT, no internet in between
  });
  sim.run(2_000);
  assert.equal(p.chosen, "198.51.100.1:41641");
  // The peer's LAN announcement arrives: its address is pinged at once.
  assert.equal(p.addCandidate("192.168.1.20:51820", "lan-announce", sim.now), true);
  assert.equal(p.addCandidate("192.168.1.20:51820", "lan-announce", sim.now), false);
  const t = sim.now;
  sim.run(t + 500);
  assert.deepEqual(sim.changes.map((c) => c.reason), ["punched", "lan"]);
  assert.equal(sim.changes[1].from, "198.51.100.1:41641");
  assert.equal(sim.changes[1].to, "192.168.1.20:51820");
  assert.ok(sim.changes[1].at - t <= 80 + T.activeIntervalMs);
  // A public path never displaces a LAN one, however fast.
  sim.net["198.51.100.1:41641"] = fixed(1);
  sim.run(sim.now + 120_000);
  assert.equal(sim.changes.length, 2);
});

Deno.test("paths: rtt: a clearly faster path of the same class, once the chosen is held 10 s", () => {
  const slow = "198.51.100.1:41641";
  const fast = "203.0.113.9:51820";
  const p = peer([[slow, "observed"]]);
  const sim = new Sim(p, { [slow]: fixed(100), [fast]: fixed(20) });
  sim.run(100);
  assert.equal(p.chosen, slow);
  const since = sim.changes[0].at;
  p.setCandidates(
    [{ endpoint: slow, kind: "observed" }, { endpoint: fast, kind: "advertised" }],
    200,
  );
  sim.run(since + T.holdMs - 1);
  assert.equal(p.chosen, slow, "held: not before 10 s");
  sim.run(since + T.holdMs + T.exploreIntervalMs);
  assert.deepEqual(sim.changes.map((c) => c.reason), ["punched", "rtt"]);
  assert.equal(p.chosen, fast);
  assert.ok(sim.changes[1].at >= since + T.holdMs);
});

Deno.test("paths: rtt: a path less than 30 % faster does not take over", () => {
  const a = "198.51.100.1:41641";
  const b = "203.0.113.9:51820";
  const p = peer([[a, "observed"], [b, "advertised"]]);
  const sim = new Sim(p, { [a]: fixed(100), [b]: fixed(75) });
  sim.run(600_000);
  assert.deepEqual(sim.changes.map((c) => [c.reason, c.to]), [["punched", b]]);
  // Nor when it comes later than the one chosen.
  const q = peer([[a, "observed"]]);
  const sim2 = new Sim(q, { [a]: fixed(100), [b]: fixed(71) });
  sim2.run(10_000);
  q.setCandidates(
    [{ endpoint: a, kind: "observed" }, { endpoint: b, kind: "advertised" }],
    sim2.now,
  );
  sim2.run(600_000);
  assert.deepEqual(sim2.changes.map((c) => [c.reason, c.to]), [["punched", a]]);
  assert.ok(q.stats().every((x) => x.misses === 0 && x.rttMs > 70));
});

Deno.test("paths: failed: the next best confirmed path, then none", () => {
  const a = "192.168.1.20:51820";
  const b = "198.51.100.1:41641";
  const p = peer([[a, "lan"], [b, "observed"]]);
  const sim = new Sim(p, { [a]: fixed(2), [b]: fixed(40) });
  sim.run(60_000);
  assert.equal(p.chosen, a);
  sim.net[a] = dead();
  const cut = sim.now;
  sim.run(cut + 60_000);
  const failed = sim.changes.filter((c) => c.reason === "failed");
  assert.equal(failed.length, 1);
  assert.deepEqual([failed[0].from, failed[0].to], [a, b]);
  // Pinged every 10 s: three misses and the timeout of the third.
  assert.ok(failed[0].at - cut <= 3 * T.keepIntervalMs + T.pongTimeoutMs, `${failed[0].at - cut}`);
  sim.net[b] = dead();
  sim.run(sim.now + 120_000);
  const last = sim.changes.at(-1)!;
  assert.deepEqual([last.from, last.to, last.reason], [b, null, "failed"]);
  assert.equal(p.state, "none");
  // Lost the path: punching again, every 250 ms.
  const after = sim.pings.get(a)!.filter((t) => t > last.at && t <= last.at + T.activeForMs);
  assert.ok(after.length >= T.activeForMs / T.activeIntervalMs - 1, `${after.length}`);
  // The LAN one comes back: punched through again.
  sim.net[a] = fixed(2);
  sim.run(sim.now + 60_000);
  assert.deepEqual(sim.changes.at(-1)!.reason, "punched");
  assert.equal(p.chosen, a);
});

Deno.test("paths: a chosen path silent for 3 intervals fails even with no pings sent", () => {
  const a = "198.51.100.1:41641";
  const b = "203.0.113.9:51820";
  const p = peer([[a, "observed"], [b, "advertised"]]);
  p.sent(a, "a0", 0);
  p.sent(b, "b0", 0);
  assert.equal(p.pong("a0", 10)?.reason, "punched");
  assert.equal(p.pong("b0", 20), null);
  const limit = 3 * T.keepIntervalMs + T.pongTimeoutMs;
  assert.equal(p.expire(10 + limit), null);
  const c = p.expire(11 + limit);
  assert.deepEqual([c?.from, c?.to, c?.reason], [a, b, "failed"]);
  // b was pinged at the slower pace until now: as the chosen path it gets its full time again.
  assert.equal(p.expire(12 + 2 * limit - 10), null);
  assert.equal(p.chosen, b);
  const d = p.expire(12 + 11 + 2 * limit);
  assert.deepEqual([d?.from, d?.to, d?.reason], [b, null, "failed"]);
  assert.equal(p.expire(1e9), null, "one transition to none");
});

Deno.test("paths: pings sent before the one a pong answers are not missed when they time out", () => {
  // The peer restarted: the pings sent while it was down are still in flight when the first one
  // sent after its return is answered; timing out later, they say nothing of the path now.
  const a = "203.0.113.1:51820";
  const p = peer([[a, "observed"]]);
  p.sent(a, "up", 0);
  assert.equal(p.pong("up", 10)?.reason, "punched");
  for (let i = 0; i < 8; i++) p.sent(a, `down${i}`, 1_000 + 250 * i);
  assert.equal(p.pong("down7", 2_760), null, "the last ping before the return is answered");
  for (let t = 3_000; t <= 8_000; t += 250) {
    assert.equal(p.expire(t), null, `no change at ${t}`);
  }
  const s = () => p.stats(8_000).find((x) => x.endpoint === a)!;
  assert.deepEqual([p.chosen, s().misses, s().confirmed], [a, 0, true]);
  // A ping sent after the answered one and never answered is a miss.
  p.sent(a, "after", 8_000);
  p.expire(8_000 + T.pongTimeoutMs);
  assert.equal(s().misses, 1);
});

Deno.test("paths: a chosen endpoint the peer withdraws fails over", () => {
  const a = "198.51.100.1:41641";
  const b = "203.0.113.9:51820";
  const p = peer([[a, "observed"], [b, "advertised"]]);
  const sim = new Sim(p, { [a]: fixed(10), [b]: fixed(50) });
  sim.run(10_000);
  assert.equal(p.chosen, a);
  const c = p.setCandidates([{ endpoint: b, kind: "advertised" }], sim.now);
  assert.deepEqual([c?.from, c?.to, c?.reason], [a, b, "failed"]);
  assert.ok(!p.stats().some((s) => s.endpoint === a));
});

Deno.test("paths: a working session keeps the chosen path without pongs; a broken one punches", () => {
  const a = "198.51.100.1:41641";
  const b = "203.0.113.9:51820";
  const p = peer([[a, "observed"], [b, "advertised"]]);
  const sim = new Sim(p, { [a]: fixed(10), [b]: fixed(30) });
  sim.run(10_000);
  assert.equal(p.chosen, a);
  assert.equal(p.session(true, sim.now), null);
  sim.net[a] = dead(); // pongs are lost (say, rate-limited), but data flows
  sim.run(sim.now + 300_000);
  assert.equal(p.chosen, a);
  assert.equal(sim.changes.length, 1);
  // The session breaks: an active phase starts, and the unanswered path fails at once.
  const t = sim.now;
  const c = p.session(false, t);
  assert.deepEqual([c?.from, c?.to, c?.reason], [a, b, "failed"]);
  assert.deepEqual(p.due(t + T.activeIntervalMs).sort(), [a, b].sort());
  sim.run(t + 2_000);
  const burst = sim.pings.get(b)!.filter((x) => x > t && x <= t + 2_000);
  assert.ok(burst.length >= 7, `${burst.length} pings in the burst`);
});

Deno.test("paths: a broken session with no pongs yet starts punching", () => {
  const p = new PeerPaths();
  p.setCandidates([{ endpoint: "198.51.100.1:1", kind: "observed" }], 0);
  const sim = new Sim(p, { "198.51.100.1:1": dead() });
  sim.run(120_000); // backed off by now
  assert.deepEqual(p.due(sim.now + 1_000), []);
  p.session(false, sim.now);
  assert.deepEqual(p.due(sim.now + T.activeIntervalMs), ["198.51.100.1:1"]);
});

Deno.test("paths: replayed, unknown and late pongs change nothing", () => {
  const a = "198.51.100.1:41641";
  const p = peer([[a, "observed"]]);
  assert.deepEqual(p.due(0), [a]);
  p.sent(a, "t1", 0);
  p.sent(a, "t2", 250);
  p.sent(a, "t3", 500);
  assert.equal(p.pong("t1", 30)?.reason, "punched");
  assert.equal(p.pong("t1", 40), null, "replayed");
  assert.equal(p.pong("nope", 40), null, "unknown");
  assert.equal(p.stats()[0].rttMs, 30);
  assert.equal(p.pong("t2", 280), null);
  assert.ok(p.stats()[0].rttMs === 30, "same RTT again");
  // t3 timed out before its pong came: it is a miss, and the pong is ignored.
  assert.equal(p.pong("t3", 500 + T.pongTimeoutMs + 1), null);
  assert.equal(p.stats()[0].misses, 1);
  assert.equal(p.ignoredPongs, 3);
  assert.equal(p.sent("10.0.0.1:1", "x", 0), false, "not a candidate");
});

Deno.test("paths: symmetric NAT: never a pong, state stays none, the schedule backs off", () => {
  const eps = ["198.51.100.1:41641", "198.51.100.1:41642", "203.0.113.9:51820"];
  const p = new PeerPaths();
  p.setCandidates(eps.map((endpoint) => ({ endpoint, kind: "observed" as const })), 0);
  const sim = new Sim(p, Object.fromEntries(eps.map((e) => [e, dead()])));
  sim.run(600_000);
  assert.equal(p.state, "none");
  assert.ok(sim.changes.length <= 1);
  assert.equal(sim.changes.filter((c) => c.to === null).length, 0);
  for (const e of eps) {
    const times = sim.pings.get(e)!;
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    // Never faster than before: the gaps only grow.
    for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i] >= gaps[i - 1], `gap ${i}`);
    assert.equal(times.filter((t) => t < T.activeForMs).length, T.activeForMs / T.activeIntervalMs);
    assert.equal(gaps.at(-1), T.idleIntervalMs);
    // 20 in the first 5 s, one every 2 s to a minute, then one every 30 s.
    assert.ok(times.length <= 20 + 28 + 18 + 1, `${times.length}`);
    assert.ok(times.filter((t) => t >= 300_000).length <= 11);
  }
});

Deno.test("paths: steady state: the chosen path every 10 s, the others every 30 s", () => {
  const a = "198.51.100.1:41641";
  const b = "203.0.113.9:51820";
  const p = peer([[a, "observed"], [b, "advertised"]]);
  const sim = new Sim(p, { [a]: fixed(10), [b]: dead() });
  sim.run(300_000);
  const late = (e: string) => sim.pings.get(e)!.filter((t) => t >= 100_000);
  const gaps = (xs: number[]) => xs.slice(1).map((t, i) => t - xs[i]);
  assert.ok(gaps(late(a)).every((g) => g === T.keepIntervalMs));
  assert.ok(gaps(late(b)).every((g) => g === T.exploreIntervalMs));
  // A new candidate is pinged at once, whatever the phase.
  const t = sim.pings.get(a)!.at(-1)! + 1;
  p.setCandidates([{ endpoint: a, kind: "observed" }, { endpoint: "10.9.9.9:1", kind: "lan" }], t);
  assert.deepEqual(p.due(t), ["10.9.9.9:1"]);
  // punch() starts one active phase; asking again during it does not stretch it.
  p.punch(t);
  assert.deepEqual(p.due(t + T.activeIntervalMs).sort(), [a, "10.9.9.9:1"].sort());
  p.punch(t + 4_000);
  assert.deepEqual(p.due(t + T.activeForMs + T.activeIntervalMs), ["10.9.9.9:1"]);
});

Deno.test("paths: similar RTTs with jitter do not flap over 1,000 rounds", () => {
  const a = "198.51.100.1:41641";
  const b = "203.0.113.9:51820";
  for (const seed of [1, 2, 3, 4, 5, 42]) {
    const rand = seededRandom(seed);
    const jitter = (ms: number) => () => ms * (0.7 + 0.6 * rand()); // ±30 %
    const run = (timing: Partial<PathTiming>) => {
      const p = peer([[a, "observed"], [b, "advertised"]], timing);
      // Every path pinged every round so each round can change the choice.
      const sim = new Sim(p, {
        [a]: { rtt: jitter(20), up: true },
        [b]: { rtt: jitter(22), up: true },
      });
      sim.run(1_000 * T.keepIntervalMs);
      return sim;
    };
    const steady = { exploreIntervalMs: T.keepIntervalMs };
    const sim = run(steady);
    assert.ok(sim.pings.get(a)!.length >= 1_000 && sim.pings.get(b)!.length >= 1_000);
    assert.deepEqual(sim.changes.map((c) => c.reason), ["punched"], `seed ${seed}`);
    // The control: without hysteresis the same network flaps, so the test can see flapping.
    const flappy = run({ ...steady, rttSwitchRatio: 1, holdMs: 0, rttAlpha: 1 });
    assert.ok(flappy.changes.length > 50, `seed ${seed}: ${flappy.changes.length}`);
  }
});

Deno.test("paths: bounded candidates and pings in flight", () => {
  const p = new PeerPaths();
  const many = Array.from({ length: 40 }, (_, i) => ({
    endpoint: `198.51.100.${i}:1`,
    kind: "observed" as const,
  }));
  p.setCandidates(many, 0);
  assert.equal(p.stats().length, MAX_ANNOUNCED);
  for (let i = 0; i < 20; i++) p.addCandidate(`10.0.0.${i}:1`, "peer-observed", i);
  assert.equal(p.stats().length, MAX_ANNOUNCED + MAX_DISCOVERED);
  assert.ok(p.stats().some((s) => s.endpoint === "10.0.0.19:1"), "the newest is kept");
  assert.ok(!p.stats().some((s) => s.endpoint === "10.0.0.0:1"), "the oldest went");
  for (let i = 0; i < MAX_PENDING + 5; i++) p.sent("198.51.100.0:1", `t${i}`, 0);
  assert.equal(p.stats().find((s) => s.endpoint === "198.51.100.0:1")!.misses, 5);
  assert.equal(p.pong("t0", 1), null, "pushed out");
  // Discovered endpoints survive a new list from the peer; its own ones are replaced.
  p.setCandidates([{ endpoint: "203.0.113.1:1", kind: "advertised" }], 1);
  assert.equal(p.stats().length, 1 + MAX_DISCOVERED);
});

Deno.test("paths: a table ticks every peer and routes pongs", () => {
  const t = new PathTable({ activeIntervalMs: 100 });
  t.peer("A").setCandidates([{ endpoint: "198.51.100.1:1", kind: "observed" }], 0);
  t.peer("B").setCandidates([{ endpoint: "198.51.100.2:1", kind: "observed" }], 0);
  const first = t.tick(0);
  assert.deepEqual(first.pings, [
    { peer: "A", endpoint: "198.51.100.1:1" },
    { peer: "B", endpoint: "198.51.100.2:1" },
  ]);
  for (const x of first.pings) t.get(x.peer)!.sent(x.endpoint, `${x.peer}-1`, 0);
  assert.equal(t.nextDue(0), 100);
  assert.deepEqual(t.tick(50), { changes: [], pings: [] });
  assert.equal(t.pong("A", "B-1", 60), null, "another peer's txid");
  assert.equal(t.pong("C", "A-1", 60), null, "no such peer");
  assert.equal(t.pong("A", "A-1", 60)?.reason, "punched");
  const later = t.tick(DEFAULT_PATH_TIMING.pongTimeoutMs + 10);
  assert.deepEqual(later.changes, []);
  assert.deepEqual([...t.keys()], ["A", "B"]);
  t.remove("B");
  assert.equal(t.get("B"), undefined);
});

Deno.test("paths: roamed: the device's new endpoint is chosen at once (a NAT rebinding)", () => {
  const old = "198.51.100.1:41641";
  const moved = "198.51.100.1:20000";
  const p = peer([[old, "observed"]]);
  const sim = new Sim(p, { [old]: fixed(40), [moved]: fixed(40) });
  sim.run(20_000);
  assert.equal(p.chosen, old);
  // Not while the session does not work: a candidate only.
  assert.equal(p.roamed(moved, sim.now), null);
  assert.equal(p.chosen, old);
  assert.ok(p.stats().some((s) => s.endpoint === moved && s.kinds.includes("peer-observed")));
  assert.equal(p.session(true, sim.now), null);
  sim.net[old] = dead(); // the router forgot the old mapping
  const c = p.roamed(moved, sim.now)!;
  assert.deepEqual(c, { from: old, to: moved, reason: "roamed", at: sim.now });
  assert.equal(p.chosen, moved);
  assert.equal(p.reason, "roamed");
  // Roaming again to the chosen one changes nothing; it is confirmed by its first pong, and
  // nothing moves afterwards.
  assert.equal(p.roamed(moved, sim.now), null);
  sim.run(sim.now + 120_000);
  assert.deepEqual(sim.changes.map((x) => x.reason), ["punched"]);
  assert.equal(p.chosen, moved);
  assert.ok(p.stats().find((s) => s.endpoint === moved)!.confirmed);
});

Deno.test("paths: roamed: a public endpoint does not replace a confirmed LAN path", () => {
  const lan = "192.168.1.20:51820";
  const pub = "198.51.100.1:41641";
  const p = peer([[lan, "lan"], [pub, "observed"]]);
  const sim = new Sim(p, { [lan]: fixed(2), [pub]: fixed(1) });
  p.session(true, 0);
  sim.run(20_000);
  assert.equal(p.chosen, lan);
  // The peer's packets came from its public address for a moment (it had not chosen LAN yet).
  assert.equal(p.roamed(pub, sim.now), null);
  assert.equal(p.chosen, lan);
  // An address roamed to is a peer-observed (public) candidate unless it is known as LAN.
  const other = "192.168.1.21:51820";
  assert.equal(p.roamed(other, sim.now), null);
  assert.equal(p.stats().find((s) => s.endpoint === other)!.pathClass, "public");
  assert.equal(p.chosen, lan);
  // The LAN path stopped answering: a public endpoint the device roams to is adopted then,
  // and the LAN path wins again once it answers.
  const q = peer([[lan, "lan"], [pub, "observed"]]);
  const sim2 = new Sim(q, { [lan]: fixed(2), [pub]: fixed(1) });
  q.session(true, 0);
  sim2.run(20_000);
  sim2.net[lan] = dead();
  sim2.run(sim2.now + 3 * T.keepIntervalMs + T.pongTimeoutMs + 1_000);
  assert.equal(q.chosen, lan, "the session works: not failed");
  assert.equal(q.roamed(pub, sim2.now)?.reason, "roamed");
  assert.equal(q.chosen, pub);
  sim2.net[lan] = fixed(2);
  sim2.run(sim2.now + 60_000);
  // (pub answered first at the start: punched, then lan; then back from pub to lan.)
  assert.deepEqual(sim2.changes.map((x) => x.reason), ["punched", "lan", "lan"]);
  assert.equal(sim2.changes.at(-1)!.from, pub);
  assert.equal(q.chosen, lan);
});

Deno.test("paths: roamed: a faster path of the same class does not take over (no flapping)", () => {
  const slow = "198.51.100.1:41641";
  const fast = "203.0.113.9:51820";
  const p = peer([[slow, "observed"], [fast, "advertised"]]);
  const sim = new Sim(p, { [slow]: fixed(100), [fast]: fixed(20) });
  p.session(true, 0);
  sim.run(60_000);
  assert.equal(p.chosen, fast);
  // The peer's packets come from `slow`: the device roams there, and the table follows it for
  // as long as the session works, however fast `fast` answers.
  assert.equal(p.roamed(slow, sim.now)?.reason, "roamed");
  sim.run(sim.now + 300_000);
  assert.equal(p.chosen, slow);
  assert.deepEqual(sim.changes.map((x) => x.reason), ["punched"], "no rtt change back");
  // Once the session stops working, the RTT rule applies again.
  p.session(false, sim.now);
  sim.run(sim.now + 60_000);
  assert.equal(p.chosen, fast);
  assert.equal(p.reason, "rtt");
});

Deno.test("paths: a confirmed LAN path stops the fast pings to the public candidates", () => {
  const lan = "192.168.1.20:51820";
  const pub = "203.0.113.1:51820"; // our own router's public address: no hairpin
  const p = peer([[lan, "lan"], [pub, "observed"]]);
  const sim = new Sim(p, { [lan]: fixed(2), [pub]: dead() });
  assert.ok(p.punching(0));
  sim.run(T.activeForMs);
  assert.equal(p.chosen, lan);
  // The LAN path is confirmed after its first pong: the public one was pinged once with it.
  assert.deepEqual(sim.pings.get(pub), [0]);
  assert.ok(sim.pings.get(lan)!.length >= T.activeForMs / T.activeIntervalMs - 1);
  // Still probed at the slow pace.
  sim.run(T.exploreIntervalMs + 1_000);
  assert.deepEqual(sim.pings.get(pub), [0, T.exploreIntervalMs]);
  // Without a confirmed LAN path, every candidate is punched fast again.
  sim.net[lan] = dead();
  const cut = sim.now;
  sim.run(cut + 120_000);
  const failedAt = sim.changes.find((c) => c.reason === "failed")!.at;
  const fast = sim.pings.get(pub)!.filter((t) => t > failedAt && t <= failedAt + T.activeForMs);
  assert.ok(fast.length >= T.activeForMs / T.activeIntervalMs - 2, `${fast.length}`);
});

Deno.test("paths: roamed: never past a confirmed path of a better class", () => {
  const l1 = "192.168.1.20:51820";
  const l2 = "10.0.0.20:51820";
  const pub = "198.51.100.1:41641";
  const p = peer([[l1, "lan"], [l2, "lan"], [pub, "observed"]]);
  const sim = new Sim(p, { [l1]: fixed(2), [l2]: fixed(3), [pub]: fixed(1) });
  p.session(true, 0);
  sim.run(20_000);
  assert.equal(p.chosen, l1);
  sim.net[l1] = dead();
  sim.run(sim.now + 3 * T.keepIntervalMs + T.pongTimeoutMs + 1_000);
  assert.equal(p.chosen, l1, "the session works: not failed");
  assert.ok(!p.stats().find((s) => s.endpoint === l1)!.confirmed);
  // The chosen LAN path is not confirmed, but another LAN path is: a public roam is not taken.
  assert.equal(p.roamed(pub, sim.now), null);
  assert.equal(p.chosen, l1);
  // A roam to the confirmed LAN path is.
  assert.equal(p.roamed(l2, sim.now)?.reason, "roamed");
  assert.equal(p.chosen, l2);
});

Deno.test("paths: a pong that does not come from the endpoint pinged credits nothing", () => {
  const p = new PeerPaths(DEFAULT_PATH_TIMING);
  p.addCandidate("198.51.100.7:51820", "lan-announce", 0);
  const ping = p.due(0).find((e) => e === "198.51.100.7:51820");
  assert.ok(ping);
  p.sent(ping, "t1", 0);
  // Passed on by someone else: the right txid, from another endpoint.
  assert.equal(p.pong("t1", 5, (e) => e === "203.0.113.9:4000"), null);
  assert.equal(p.misdirectedPongs, 1);
  assert.equal(p.chosen, null);
  // The real one, from the endpoint pinged, still counts: the ping stayed in flight.
  assert.equal(p.pong("t1", 6, (e) => e === "198.51.100.7:51820")?.reason, "punched");
  assert.equal(p.chosen, "198.51.100.7:51820");
});
