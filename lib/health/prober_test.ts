import assert from "node:assert/strict";
import { HealthProber, type ProberClock, withinTimeout } from "./prober.ts";

/** Timers that only fire when the test moves time, settling promises between timers. */
class FakeClock implements ProberClock {
  t = 0;
  #id = 0;
  readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#id;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }

  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }

  /** Runs every timer due within `ms`, in order, letting probe promises settle in between. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
      await settle();
    }
    this.t = end;
  }
}

const settle = () => new Promise<void>((r) => setTimeout(r, 0));

/** A probe whose answers the test controls; records every call. */
function fakeProbe(clock: FakeClock, answer: (address: string) => number | null | "hang" | Error) {
  const calls: { address: string; at: number; resolve: (v: number | null) => void }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const probe = (address: string): Promise<number | null> => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    return new Promise<number | null>((resolve, reject) => {
      const done = (v: number | null) => {
        inFlight--;
        resolve(v);
      };
      calls.push({ address, at: clock.now(), resolve: done });
      const a = answer(address);
      if (a instanceof Error) {
        inFlight--;
        reject(a);
      } else if (a !== "hang") done(a);
    });
  };
  return { probe, calls, maxInFlight: () => maxInFlight };
}

/** A seeded uniform generator, so jitter is exercised but reproducible. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

Deno.test("prober: every peer is probed about once per interval, with jitter", async () => {
  const clock = new FakeClock();
  const fp = fakeProbe(clock, (a) => (a === "10.0.0.2" ? 12 : null));
  const results: [string, number | null][] = [];
  const prober = new HealthProber({
    probe: fp.probe,
    onResult: (p, r) => results.push([p, r]),
    clock,
    random: lcg(7),
  });
  prober.add("b", "10.0.0.2");
  prober.add("c", "10.0.0.3");
  assert.equal(fp.calls.length, 0, "nothing before start");
  prober.start();
  await clock.advance(600_000);
  const at = (addr: string) => fp.calls.filter((c) => c.address === addr).map((c) => c.at);
  for (const addr of ["10.0.0.2", "10.0.0.3"]) {
    const times = at(addr);
    // 600 s at 5 s ± 10%: between 109 and 134 probes.
    assert.ok(times.length >= 109 && times.length <= 134, `${addr}: ${times.length} probes`);
    assert.ok(times[0] < 5000, "the first probe falls within the first interval");
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    assert.ok(gaps.every((g) => g >= 4500 && g <= 5500), "gaps within interval ± jitter");
    assert.ok(new Set(gaps).size > 10, "the gaps vary");
  }
  assert.deepEqual(
    new Set(results.map(([p, r]) => `${p}=${r}`)),
    new Set(["b=12", "c=null"]),
  );
  assert.equal(results.length, fp.calls.length);
  await prober.stop();
});

Deno.test("prober: a slow probe is never overlapped; the next follows once it settles", async () => {
  const clock = new FakeClock();
  const fp = fakeProbe(clock, () => "hang");
  const results: (number | null)[] = [];
  const prober = new HealthProber({
    probe: fp.probe,
    onResult: (_p, r) => results.push(r),
    clock,
    jitter: 0,
    random: () => 0,
  });
  prober.add("b", "10.0.0.2");
  prober.start();
  await clock.advance(30_000);
  assert.equal(fp.calls.length, 1, "one probe in flight for 30 s: no second one");
  assert.ok(prober.probing("b"));
  assert.equal(clock.timers.size, 0, "nothing scheduled while a probe is out");
  fp.calls[0].resolve(31);
  await clock.advance(0);
  assert.deepEqual(results, [31]);
  assert.equal(fp.calls.length, 2, "overdue: the next probe goes at once");
  assert.equal(fp.calls[1].at, 30_000);
  fp.calls[1].resolve(1);
  await clock.advance(4999);
  assert.equal(fp.calls.length, 2);
  await clock.advance(1);
  assert.equal(fp.calls.length, 3, "a quick probe is followed one interval after its start");
  assert.equal(fp.maxInFlight(), 1);
  fp.calls[2].resolve(null);
  await prober.stop();
});

Deno.test("prober: stop ends scheduling, waits for the probe in flight and drops its result", async () => {
  const clock = new FakeClock();
  const fp = fakeProbe(clock, () => "hang");
  const results: (number | null)[] = [];
  const prober = new HealthProber({
    probe: fp.probe,
    onResult: (_p, r) => results.push(r),
    clock,
    random: () => 0.5,
  });
  prober.add("b", "10.0.0.2");
  prober.start();
  await clock.advance(3000);
  assert.equal(fp.calls.length, 1);
  let stopped = false;
  const stopping = prober.stop().then(() => (stopped = true));
  await settle();
  assert.equal(stopped, false, "stop waits for the probe in flight");
  fp.calls[0].resolve(5);
  await stopping;
  assert.deepEqual(results, [], "a result after stop is dropped");
  assert.equal(prober.running, false);
  await clock.advance(60_000);
  assert.equal(fp.calls.length, 1, "no probe after stop");
  // It can start again.
  prober.start();
  await clock.advance(5000);
  assert.equal(fp.calls.length, 2);
  fp.calls[1].resolve(7);
  await clock.advance(0);
  assert.deepEqual(results, [7]);
  await prober.stop();
  assert.equal(clock.timers.size, 0);
});

Deno.test("prober: rejected probes count as lost; remove and address changes", async () => {
  const clock = new FakeClock();
  let fail = true;
  const fp = fakeProbe(clock, () => (fail ? new Error("no route") : 3));
  const results: [string, number | null][] = [];
  const errors: string[] = [];
  const prober = new HealthProber({
    probe: fp.probe,
    onResult: (p, r) => results.push([p, r]),
    onError: (p, e) => errors.push(`${p}: ${(e as Error).message}`),
    clock,
    jitter: 0,
    random: () => 0,
  });
  prober.start();
  prober.add("b", "10.0.0.2"); // added while running: scheduled at once
  prober.add("c", "10.0.0.3");
  await clock.advance(0);
  assert.deepEqual(results, [["b", null], ["c", null]]);
  assert.deepEqual(errors, ["b: no route", "c: no route"]);
  fail = false;
  prober.add("b", "10.0.0.22"); // a known peer: only its address changes
  prober.remove("c");
  assert.deepEqual(prober.peers(), ["b"]);
  await clock.advance(10_000);
  assert.deepEqual(fp.calls.slice(2).map((c) => c.address), ["10.0.0.22", "10.0.0.22"]);
  assert.deepEqual(results.slice(2), [["b", 3], ["b", 3]]);
  await prober.stop();
});

Deno.test("prober: a throwing result handler does not stop the schedule", async () => {
  const clock = new FakeClock();
  const fp = fakeProbe(clock, () => 1);
  const errors: unknown[] = [];
  const prober = new HealthProber({
    probe: fp.probe,
    onResult: () => {
      throw new Error("handler broke");
    },
    onError: (_p, e) => errors.push(e),
    clock,
    random: () => 0,
  });
  prober.add("b", "10.0.0.2");
  prober.start();
  await clock.advance(20_000);
  assert.ok(fp.calls.length >= 4);
  assert.equal(errors.length, fp.calls.length);
  await prober.stop();
});

Deno.test("prober: bad options are refused", () => {
  const probe = () => Promise.resolve(null);
  assert.throws(() => new HealthProber({ probe, onResult: () => {}, intervalMs: 0 }), /interval/);
  assert.throws(() => new HealthProber({ probe, onResult: () => {}, jitter: 2 }), /jitter/);
});

Deno.test("prober: real timers, short interval", async () => {
  const seen: (number | null)[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  let third!: () => void;
  const thirdResult = new Promise<void>((r) => third = r);
  const prober = new HealthProber({
    probe: async () => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await new Promise((r) => setTimeout(r, 30)); // slower than the interval
      concurrent--;
      return 30;
    },
    onResult: (_p, r) => {
      seen.push(r);
      if (seen.length === 3) third();
    },
    intervalMs: 10,
  });
  prober.add("b", "10.0.0.2");
  prober.start();
  // Probes keep coming on real timers (waits for the third result, however long that takes)...
  await thirdResult;
  await prober.stop();
  const n = seen.length;
  assert.ok(n >= 3, `${n} results`);
  assert.ok(seen.every((r) => r === 30), JSON.stringify(seen));
  // ...one at a time, although each takes longer than the interval.
  assert.equal(maxConcurrent, 1);
  // Longer than an interval and a probe: a timer left behind would have struck by now.
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(seen.length, n, "nothing after stop");
});

Deno.test("prober: a probe across a new session (its generation moved) is answered with no RTT", async () => {
  const clock = new FakeClock();
  const fp = fakeProbe(clock, () => "hang");
  let generation = 0;
  const results: (number | null)[] = [];
  const prober = new HealthProber({
    probe: fp.probe,
    onResult: (_, rtt) => results.push(rtt),
    generation: () => generation,
    intervalMs: 100,
    random: () => 0,
    clock,
  });
  prober.add("p", "10.0.0.2");
  prober.start();
  await clock.advance(0);
  assert.equal(fp.calls.length, 1);
  generation++; // the handshake the probe waited for
  fp.calls[0].resolve(480);
  await clock.advance(100);
  assert.equal(fp.calls.length, 2);
  fp.calls[1].resolve(1.3); // same session: timed
  await clock.advance(100);
  generation++;
  fp.calls[2].resolve(null); // lost stays lost
  await settle();
  await prober.stop();
  assert.equal(results.length, 3);
  assert.ok(Number.isNaN(results[0]));
  assert.equal(results[1], 1.3);
  assert.equal(results[2], null);
});

Deno.test("prober: a probe answered but not timed (NaN) stays answered, not lost", async () => {
  const clock = new FakeClock();
  const fp = fakeProbe(clock, () => "hang");
  const results: (number | null)[] = [];
  const prober = new HealthProber({
    probe: fp.probe,
    onResult: (_, rtt) => results.push(rtt),
    intervalMs: 100,
    random: () => 0,
    clock,
  });
  prober.add("p", "10.0.0.2");
  prober.start();
  await clock.advance(0);
  // The answer was read only after a stall of this process: the probe says so with NaN.
  fp.calls[0].resolve(NaN);
  await clock.advance(100);
  fp.calls[1].resolve(-1); // not a measurement: lost
  await settle();
  await prober.stop();
  assert.equal(results.length, 2);
  assert.ok(Number.isNaN(results[0]), `answered, untimed: ${results[0]}`);
  assert.equal(results[1], null);
});

Deno.test("withinTimeout: an answer over the probe's timeout was read after a stall: answered, untimed", () => {
  assert.equal(withinTimeout(1.3, 2000), 1.3);
  assert.equal(withinTimeout(2000, 2000), 2000);
  assert.equal(withinTimeout(null, 2000), null, "lost stays lost");
  // The 27 s a member stalled at load 40 showed as its leader's RTT.
  assert.ok(Number.isNaN(withinTimeout(27_438.8, 2000)));
});

Deno.test("prober: after a probe that spanned a new session, the next waits a whole gap, not sent into what the setup released", async () => {
  const clock = new FakeClock();
  const fp = fakeProbe(clock, () => "hang");
  let generation = 0;
  const prober = new HealthProber({
    probe: fp.probe,
    onResult: () => {},
    generation: () => generation,
    intervalMs: 100,
    random: () => 0, // every gap is 90
    clock,
  });
  prober.add("p", "10.0.0.2");
  prober.start();
  await clock.advance(0);
  // The relayed path took three gaps to come up, the probe waiting for it all along.
  await clock.advance(300);
  generation++;
  fp.calls[0].resolve(3000);
  await clock.advance(0);
  assert.deepEqual(fp.calls.map((c) => c.at), [0], "not at once, with the setup's backlog");
  await clock.advance(90);
  assert.deepEqual(fp.calls.map((c) => c.at), [0, 390]);
  // A slow probe in the same session is still followed at once (the gap counts from its start).
  await clock.advance(200);
  fp.calls[1].resolve(1.3);
  await clock.advance(0);
  assert.deepEqual(fp.calls.map((c) => c.at), [0, 390, 590]);
  fp.calls[2].resolve(1.3);
  await prober.stop();
});
