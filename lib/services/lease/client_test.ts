import assert from "node:assert/strict";
import { generateKeyPair } from "../../crypto/keys.ts";
import { LeaseArbiter } from "./arbiter.ts";
import { type LeaderChange, LeaseClient, type LeaseClientDeps } from "./client.ts";
import type { LeaseAnnouncement, LeaseRequest } from "./protocol.ts";
import { seededRandom } from "../../../tests/fixtures/prng.ts";

const ME = generateKeyPair().publicKey;
const OTHER = generateKeyPair().publicKey;

/** A client on a fake clock, with what it sent and the changes it told of. */
class Bench {
  t = 0;
  readonly sent: LeaseRequest[] = [];
  readonly changes: LeaderChange[] = [];
  readonly client: LeaseClient;

  constructor(extra: Partial<LeaseClientDeps> = {}) {
    this.client = new LeaseClient({
      self: ME,
      now: () => this.t,
      send: (m) => this.sent.push(m),
      firstAsk: 1,
      ...extra,
    });
    this.client.subscribe((c) => this.changes.push(c));
  }

  /** Advances to `t` and ticks; returns what was sent meanwhile. */
  at(t: number): LeaseRequest[] {
    this.t = t;
    this.client.tick();
    return this.sent.splice(0);
  }

  hear(msg: LeaseAnnouncement): void {
    this.client.handle(msg);
  }
}

Deno.test("lease client: asks for an offered service, holds the granted lease and renews it", () => {
  const b = new Bench();
  b.client.offer(["svc"]);
  assert.deepEqual(b.at(0), [{ t: "lease-ask", s: "svc", n: 1 }]);
  assert.deepEqual(b.at(1000), [], "asks once per renewMs");
  // The answer arrives 30 ms after the ask: the lease counts from the ask.
  b.t = 30;
  b.hear({ t: "lease", s: "svc", h: ME, tk: 5, ttl: 6000, n: 1 });
  const until = 6000 * 0.99 - 500;
  assert.deepEqual(b.client.held("svc"), { token: 5, until });
  assert.deepEqual(b.client.leader("svc"), { service: "svc", holder: ME, token: 5, until });
  assert.deepEqual(b.changes, [{
    service: "svc",
    leader: { service: "svc", holder: ME, token: 5, until },
  }]);
  assert.deepEqual(b.at(2000), [{ t: "lease-ask", s: "svc", n: 2, tk: 5 }]);
  b.hear({ t: "lease", s: "svc", h: ME, tk: 5, ttl: 6000, n: 2 });
  assert.equal(b.client.held("svc")!.until, 2000 + until);
  assert.equal(b.changes.length, 1, "a renewal is no change");
});

Deno.test("lease client: a holder without renewals steps down before the arbiter's lease ends", () => {
  const b = new Bench();
  b.client.offer(["svc"]);
  b.at(0);
  b.t = 100;
  // The arbiter got the ask at 100 and granted until 6100 by its clock.
  b.hear({ t: "lease", s: "svc", h: ME, tk: 1, ttl: 6000, n: 1 });
  // Renewals are lost from here on.
  b.at(2000);
  b.at(4000);
  b.at(5439);
  assert.ok(b.client.held("svc"));
  b.at(5440);
  assert.equal(b.client.held("svc"), null);
  assert.equal(b.client.leader("svc"), null);
  assert.equal(b.client.stats.lapsed, 1);
  assert.deepEqual(b.changes.at(-1), { service: "svc", leader: null });
  // Stepped down 660 ms before the arbiter could grant it again, with this clock 1% fast.
  assert.ok(5440 * 1.01 < 6100);
});

Deno.test("lease client: an answer to an ask it does not know, or that comes too late, is no lease", () => {
  const b = new Bench();
  b.client.offer(["svc"]);
  b.at(0);
  b.hear({ t: "lease", s: "svc", h: ME, tk: 1, ttl: 6000, n: 77 });
  assert.equal(b.client.held("svc"), null);
  b.t = 5500;
  b.hear({ t: "lease", s: "svc", h: ME, tk: 1, ttl: 6000, n: 1 });
  assert.equal(b.client.held("svc"), null, "counted from the ask, it has already run out");
  // The arbiter names this node, but it holds nothing it can count on: no leader known.
  assert.equal(b.client.leader("svc"), null);
});

Deno.test("lease client: failing health gives the lease up at once and stops the asks", () => {
  const b = new Bench();
  b.client.offer(["svc"]);
  b.at(0);
  b.hear({ t: "lease", s: "svc", h: ME, tk: 3, ttl: 6000, n: 1 });
  b.client.setHealth("svc", false);
  assert.deepEqual(b.sent.splice(0), [{ t: "lease-release", s: "svc", tk: 3 }]);
  assert.equal(b.client.held("svc"), null);
  assert.deepEqual(b.changes.at(-1), { service: "svc", leader: null });
  assert.deepEqual(b.at(10_000), []);
  // An announcement naming it again (the release was lost) gets another release.
  b.hear({ t: "leases", l: [["svc", ME, 3, 4000]] });
  assert.deepEqual(b.sent.splice(0), [{ t: "lease-release", s: "svc", tk: 3 }]);
  b.client.setHealth("svc", true);
  assert.deepEqual(b.at(10_001), [{ t: "lease-ask", s: "svc", n: 2 }]);
  assert.throws(() => b.client.setHealth("Not A Name", false), RangeError);
});

Deno.test("lease client: a service no longer offered is released; close releases the rest", () => {
  const b = new Bench();
  b.client.offer(["svc", "db"]);
  b.at(0);
  b.hear({ t: "lease", s: "svc", h: ME, tk: 1, ttl: 6000, n: 1 });
  b.hear({ t: "lease", s: "db", h: ME, tk: 2, ttl: 6000, n: 2 });
  b.client.offer(["db"]);
  assert.deepEqual(b.sent.splice(0), [{ t: "lease-release", s: "svc", tk: 1 }]);
  b.client.close();
  assert.deepEqual(b.sent.splice(0), [{ t: "lease-release", s: "db", tk: 2 }]);
  assert.deepEqual(b.at(5000), []);
});

Deno.test("lease client: follows other services' leaders from announcements, in token order", () => {
  const b = new Bench();
  b.hear({ t: "leases", l: [["db", OTHER, 4, 6000]] });
  assert.deepEqual(b.client.leader("db"), { service: "db", holder: OTHER, token: 4, until: 6000 });
  // An older announcement (delayed) changes nothing; a renewal moves the end.
  b.hear({ t: "lease", s: "db", h: ME, tk: 3, ttl: 6000 });
  assert.equal(b.client.leader("db")!.holder, OTHER);
  b.t = 3000;
  b.hear({ t: "leases", l: [["db", OTHER, 4, 5000]] });
  assert.equal(b.client.leader("db")!.until, 8000);
  // The lease ends: no leader; a late renewal of that lease does not bring it back.
  b.hear({ t: "lease", s: "db", h: null, tk: 4, ttl: 0 });
  assert.equal(b.client.leader("db"), null);
  b.hear({ t: "leases", l: [["db", OTHER, 4, 5000]] });
  assert.equal(b.client.leader("db"), null);
  b.hear({ t: "lease", s: "db", h: OTHER, tk: 6, ttl: 6000 });
  assert.equal(b.client.leader("db")!.token, 6);
  // Unrefreshed, an entry runs out.
  b.at(9001);
  assert.equal(b.client.leader("db"), null);
  assert.deepEqual(b.changes.map((c) => c.leader?.token ?? null), [4, null, 6, null]);
  assert.deepEqual(b.client.leaders(), []);
});

Deno.test("lease client: a later lease of another ends the one held", () => {
  const b = new Bench();
  b.client.offer(["svc"]);
  b.at(0);
  b.hear({ t: "lease", s: "svc", h: ME, tk: 1, ttl: 6000, n: 1 });
  b.hear({ t: "lease", s: "svc", h: OTHER, tk: 2, ttl: 6000 });
  assert.equal(b.client.held("svc"), null);
  assert.equal(b.client.leader("svc")!.holder, OTHER);
});

Deno.test("lease client: the table of leaders is bounded", () => {
  const b = new Bench({ maxServices: 2 });
  b.hear({ t: "leases", l: [["a", OTHER, 1, 6000], ["b", OTHER, 2, 6000], ["c", OTHER, 3, 6000]] });
  assert.equal(b.client.leaders().length, 2);
  assert.equal(b.client.stats.tableFull, 1);
});

/**
 * An arbiter and three candidates on simulated time: clocks whose rates differ by up to 1%,
 * messages lost at random and delayed, candidates that stop and start again, services whose
 * health fails. At no moment do two candidates consider themselves leader.
 */
Deno.test("leases: at most one holder at a time under drift, loss, delay and stops", async () => {
  for (let seed = 1; seed <= 20; seed++) await simulate(seed);
});

async function simulate(seed: number): Promise<void> {
  const random = seededRandom(seed);
  let real = 0;
  const keys = [0, 1, 2].map(() => generateKeyPair().publicKey);
  // In flight: delivery time (real ms) and the delivery.
  const flight: { at: number; go: () => void }[] = [];
  const post = (go: () => void) => {
    if (random() < 0.15) return; // lost
    flight.push({ at: real + 1 + random() * 80, go });
  };
  const arbiter = new LeaseArbiter({
    now: () => real,
    member: () => ({ name: "x", services: [{ name: "svc" }] }),
    healthy: () => true,
    persist: () => Promise.resolve(),
    send: (to, msg) => {
      for (const [i, k] of keys.entries()) {
        if (to === null || to === k) post(() => clients[i].handle(msg));
      }
    },
  });
  const rates = keys.map(() => 0.995 + random() * 0.01);
  const up = keys.map(() => true);
  const make = (i: number) =>
    new LeaseClient({
      self: keys[i],
      now: () => real * rates[i] + 1000 * i,
      send: (m) => post(() => arbiter.handle(keys[i], m)),
    });
  const clients = keys.map((_, i) => make(i));
  for (const c of clients) c.offer(["svc"]);
  let grants = 0;
  let lastHolder = -1;
  for (real = 0; real < 120_000; real += 10) {
    flight.sort((a, b) => a.at - b.at);
    while (flight.length && flight[0].at <= real) flight.shift()!.go();
    arbiter.tick();
    if (real % 250 === 0) { for (const [i, c] of clients.entries()) if (up[i]) c.tick(); }
    // The arbiter's grants go on once persisted (at once here, a few microtasks): let them.
    for (let k = 0; k < 4; k++) await Promise.resolve();
    if (real % 5000 === 0 && real > 0) {
      const i = Math.floor(random() * 3);
      if (up[i] && random() < 0.5) {
        up[i] = false; // stopped: no ticks, no answers taken (a new client when it starts)
        clients[i] = { handle: () => {}, tick: () => {} } as unknown as LeaseClient;
      } else if (!up[i]) {
        up[i] = true;
        clients[i] = make(i);
        clients[i].offer(["svc"]);
      } else clients[i].setHealth("svc", random() < 0.5);
    }
    const holders = clients.flatMap((c, i) => (up[i] && c.held("svc") ? [i] : []));
    assert.ok(holders.length <= 1, `seed ${seed} at ${real} ms: holders ${holders}`);
    if (holders.length === 1 && holders[0] !== lastHolder) {
      grants++;
      lastHolder = holders[0];
    }
  }
  assert.ok(grants >= 2, `seed ${seed}: the lease moved ${grants} times`);
}
