import assert from "node:assert/strict";
import { generateKeyPair } from "../../crypto/keys.ts";
import {
  type ArbiterMember,
  LeaseArbiter,
  type LeaseArbiterDeps,
  type LeaseRecord,
  leaseRecordProblem,
} from "./arbiter.ts";
import type { LeaseAnnouncement, LeaseNotice } from "./protocol.ts";

const A = generateKeyPair().publicKey;
const B = generateKeyPair().publicKey;
const C = generateKeyPair().publicKey;
const STRANGER = generateKeyPair().publicKey;

/** An arbiter over fake members, clock, disk and network, and what it did. */
class Bench {
  t = 0;
  readonly members = new Map<string, ArbiterMember>([
    [A, { name: "a", services: [{ name: "svc" }, { name: "db" }, { name: "web" }] }],
    [B, { name: "b", services: [{ name: "svc" }, { name: "db" }] }],
    [C, { name: "c", services: [{ name: "web" }] }],
  ]);
  readonly down = new Set<string>();
  readonly sent: { to: string | null; msg: LeaseAnnouncement }[] = [];
  /** Every record persisted, in order. */
  readonly disk: LeaseRecord[] = [];
  /** When set, persist waits for this (a slow disk) before resolving. */
  gate: Promise<void> | null = null;
  failWrites = false;
  arbiter: LeaseArbiter;

  constructor(extra: Partial<LeaseArbiterDeps> = {}) {
    this.arbiter = this.make(extra);
  }

  make(extra: Partial<LeaseArbiterDeps> = {}): LeaseArbiter {
    return new LeaseArbiter({
      now: () => this.t,
      member: (k) => this.members.get(k),
      healthy: (k) => !this.down.has(k),
      persist: async (r) => {
        if (this.gate) await this.gate;
        if (this.failWrites) throw new Error("disk full");
        this.disk.push(structuredClone(r));
      },
      send: (to, msg) => this.sent.push({ to, msg }),
      ...extra,
    });
  }

  ask(from: string, s: string, n: number, tk?: number): void {
    this.arbiter.handle(from, { t: "lease-ask", s, n, ...(tk ? { tk } : {}) });
  }

  /** The notices sent to `to` (null: broadcasts) since the last call, and forgets them all. */
  take(to: string | null): LeaseNotice[] {
    const out = this.sent.filter((x) => x.to === to && x.msg.t === "lease").map((x) =>
      x.msg as LeaseNotice
    );
    this.sent.length = 0;
    return out;
  }
}

/** Lets the grant's persist (a microtask chain) finish. */
const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("arbiter: grants a free lease after persisting its token, and announces it", async () => {
  const b = new Bench();
  let open!: () => void;
  b.gate = new Promise((r) => open = r);
  b.ask(A, "svc", 7);
  await settle();
  assert.equal(b.sent.length, 0, "nothing is answered before the token is on disk");
  assert.equal(b.disk.length, 0);
  open();
  await settle();
  assert.deepEqual(b.disk, [{ last: 1, held: { svc: { token: 1, holder: A } } }]);
  const all = [...b.sent];
  assert.deepEqual(b.take(A), [{ t: "lease", s: "svc", h: A, tk: 1, ttl: 6000, n: 7 }]);
  assert.deepEqual(
    all.filter((x) => x.to === null).map((x) => x.msg),
    [{ t: "lease", s: "svc", h: A, tk: 1, ttl: 6000 }],
  );
  assert.deepEqual(b.arbiter.holder("svc"), { holder: A, token: 1, leftMs: 6000 });
  assert.equal(b.arbiter.stats.granted, 1);
});

Deno.test("arbiter: the holder's asks renew; another candidate waits and gets the holder", async () => {
  const b = new Bench();
  b.ask(A, "svc", 1);
  await settle();
  b.take(A);
  b.t = 2000;
  b.ask(A, "svc", 2, 1);
  assert.deepEqual(b.take(A), [{ t: "lease", s: "svc", h: A, tk: 1, ttl: 6000, n: 2 }]);
  b.t = 2500;
  b.ask(B, "svc", 1);
  await settle();
  assert.deepEqual(b.take(B), [{ t: "lease", s: "svc", h: A, tk: 1, ttl: 5500, n: 1 }]);
  assert.equal(b.arbiter.holder("svc")!.holder, A);
  // Renewed at 2000: the lease runs to 8000, not 6000.
  b.t = 7999;
  b.arbiter.tick();
  assert.equal(b.arbiter.holder("svc")!.holder, A);
  assert.equal(b.arbiter.stats.renewed, 1);
});

Deno.test("arbiter: a lease not renewed ends, and goes to the candidate that asked last", async () => {
  const b = new Bench();
  b.ask(A, "svc", 1);
  await settle();
  b.t = 4000;
  b.ask(B, "svc", 5);
  b.t = 5000;
  b.ask(B, "svc", 6);
  b.take(B);
  b.t = 5999;
  b.arbiter.tick();
  assert.equal(b.arbiter.holder("svc")!.holder, A, "not before its time");
  b.t = 6000;
  b.arbiter.tick();
  const ended = b.sent.filter((x) => x.to === null).map((x) => x.msg);
  assert.deepEqual(ended, [{ t: "lease", s: "svc", h: null, tk: 1, ttl: 0 }]);
  await settle();
  // The grant answers B's latest ask: B counts its lease from when it sent that one.
  assert.deepEqual(b.take(B), [{ t: "lease", s: "svc", h: B, tk: 2, ttl: 6000, n: 6 }]);
  assert.equal(b.arbiter.stats.expired, 1);
  assert.deepEqual(b.disk.at(-1), { last: 2, held: { svc: { token: 2, holder: B } } });
});

Deno.test("arbiter: candidates whose asks are stale are not granted the lease", async () => {
  const b = new Bench();
  b.ask(A, "svc", 1);
  await settle();
  b.ask(B, "svc", 1); // at 0, then silent: B stopped
  b.t = 6000;
  b.arbiter.tick();
  await settle();
  assert.equal(b.arbiter.holder("svc"), null);
  assert.equal(b.arbiter.stats.granted, 1);
});

Deno.test("arbiter: a release (health failing) ends the lease at once and promotes", async () => {
  const b = new Bench();
  b.ask(A, "svc", 1);
  await settle();
  b.t = 1000;
  b.ask(B, "svc", 3);
  b.take(B);
  b.arbiter.handle(A, { t: "lease-release", s: "svc", tk: 1 });
  await settle();
  assert.equal(b.arbiter.holder("svc")!.holder, B);
  assert.equal(b.arbiter.holder("svc")!.token, 2);
  assert.equal(b.arbiter.stats.released, 1);
  // A release of a lease the sender does not hold (late, repeated) changes nothing.
  b.arbiter.handle(A, { t: "lease-release", s: "svc", tk: 1 });
  b.arbiter.handle(C, { t: "lease-release", s: "svc", tk: 2 });
  assert.equal(b.arbiter.stats.staleReleases, 2);
  assert.equal(b.arbiter.holder("svc")!.holder, B);
});

Deno.test("arbiter: a member that left (its bye) loses every lease it holds at once, and its place in line", async () => {
  const b = new Bench();
  b.ask(A, "svc", 1);
  b.ask(A, "db", 1);
  await settle();
  b.t = 1000;
  b.ask(B, "svc", 2);
  b.ask(C, "web", 1);
  await settle();
  assert.equal(b.arbiter.holder("web")!.holder, C);
  b.ask(A, "web", 2);
  b.take(null);
  b.arbiter.withdraw(A);
  await settle();
  assert.equal(b.arbiter.holder("svc")!.holder, B, "the candidate waiting gets it");
  assert.equal(b.arbiter.holder("db"), null, "no candidate: free");
  assert.ok(b.sent.some((x) => x.to === null && x.msg.t === "lease" && x.msg.s === "db"));
  assert.equal(b.arbiter.stats.released, 2);
  // No longer in line for web: C's lease running out goes to nobody.
  b.t = 60_000;
  b.arbiter.tick();
  await settle();
  assert.equal(b.arbiter.holder("web"), null);
});

Deno.test("arbiter: non-members, members not offering the service and unhealthy ones are refused", async () => {
  const b = new Bench();
  b.ask(STRANGER, "svc", 1);
  b.ask(C, "svc", 1);
  b.down.add(B);
  b.ask(B, "svc", 1);
  await settle();
  assert.equal(b.arbiter.holder("svc"), null);
  assert.deepEqual(b.arbiter.stats.refused, {
    notMember: 1,
    notOffered: 1,
    unhealthy: 1,
    tooManyServices: 0,
    tooManyCandidates: 0,
    rateLimited: 0,
    askRate: 0,
  });
  assert.equal(b.disk.length, 0);
  // A holder that becomes unhealthy is not renewed: its lease runs out.
  b.ask(A, "svc", 1);
  await settle();
  b.down.add(A);
  b.t = 3000;
  b.take(A);
  b.ask(A, "svc", 2, 1);
  assert.deepEqual(
    b.take(A),
    [{ t: "lease", s: "svc", h: A, tk: 1, ttl: 3000 }],
    "no n: no renewal",
  );
  b.t = 6000;
  b.arbiter.tick();
  assert.equal(b.arbiter.holder("svc"), null);
});

Deno.test("arbiter: services and waiting candidates are bounded", async () => {
  const b = new Bench({ maxServices: 2, maxCandidates: 1 });
  b.ask(A, "svc", 1);
  b.ask(A, "db", 2);
  b.ask(A, "web", 3);
  await settle();
  assert.equal(b.arbiter.holder("web"), null);
  assert.equal(b.arbiter.stats.refused.tooManyServices, 1);
  b.members.set(C, { name: "c", services: [{ name: "svc" }] });
  b.ask(B, "svc", 1);
  b.ask(C, "svc", 1);
  assert.equal(b.arbiter.stats.refused.tooManyCandidates, 1);
  // A service whose lease ended and that nobody waits for is forgotten, freeing its place.
  b.arbiter.handle(A, { t: "lease-release", s: "db", tk: 2 });
  b.arbiter.tick();
  b.ask(A, "web", 4);
  await settle();
  assert.equal(b.arbiter.holder("web")!.holder, A);
});

Deno.test("arbiter: asks during a grant being persisted wait; there is one grant", async () => {
  const b = new Bench();
  let open!: () => void;
  b.gate = new Promise((r) => open = r);
  b.ask(A, "svc", 1);
  b.ask(B, "svc", 1);
  b.ask(A, "svc", 2);
  open();
  await settle();
  assert.equal(b.arbiter.stats.granted, 1);
  assert.equal(b.disk.length, 1);
  assert.equal(b.arbiter.holder("svc")!.holder, A);
});

Deno.test("arbiter: a failed write grants nothing; the next grant's token is still higher", async () => {
  const b = new Bench();
  b.failWrites = true;
  b.ask(A, "svc", 1);
  await settle();
  assert.equal(b.arbiter.holder("svc"), null);
  assert.equal(b.arbiter.stats.persistFailed, 1);
  assert.equal(b.sent.length, 0);
  b.failWrites = false;
  b.ask(A, "svc", 2);
  await settle();
  assert.equal(b.arbiter.holder("svc")!.token, 2);
});

Deno.test("arbiter: after a restart tokens go on from the record, and old holders keep a full term", async () => {
  const b = new Bench();
  b.ask(A, "svc", 1);
  b.ask(A, "db", 2);
  await settle();
  b.arbiter.handle(A, { t: "lease-release", s: "db", tk: 2 });
  b.ask(B, "db", 1);
  await settle();
  assert.equal(b.arbiter.lastToken, 3);
  const record = b.disk.at(-1)!;
  assert.deepEqual(record, {
    last: 3,
    held: { svc: { token: 1, holder: A }, db: { token: 3, holder: B } },
  });
  // The arbiter restarts 5 s later, with a fresh clock.
  b.arbiter.close();
  b.t = 0;
  b.sent.length = 0;
  b.arbiter = b.make({ restored: record });
  assert.equal(b.arbiter.lastToken, 3);
  // A's lease may have been renewed just before the restart: B must wait a full term.
  b.ask(B, "svc", 9);
  assert.deepEqual(b.take(B), [{ t: "lease", s: "svc", h: A, tk: 1, ttl: 6000, n: 9 }]);
  // The old holder renews as if nothing happened.
  b.t = 1000;
  b.ask(A, "svc", 10, 1);
  assert.equal(b.take(A)[0].tk, 1);
  b.t = 4000;
  b.ask(B, "svc", 11);
  b.t = 7000;
  b.arbiter.tick();
  await settle();
  const h = b.arbiter.holder("svc")!;
  assert.equal(h.holder, B);
  assert.equal(h.token, 4, "never a token issued before the restart");
});

Deno.test("arbiter: persisted records are checked", () => {
  assert.equal(leaseRecordProblem({ last: 2, held: { svc: { token: 2, holder: A } } }), undefined);
  assert.equal(leaseRecordProblem({ last: 0, held: {} }), undefined);
  assert.match(leaseRecordProblem(null)!, /object/);
  assert.match(leaseRecordProblem({ last: -1, held: {} })!, /last/);
  assert.match(leaseRecordProblem({ last: 1, held: [] })!, /held/);
  assert.match(leaseRecordProblem({ last: 1, held: { svc: { token: 2, holder: A } } })!, /above/);
  assert.match(
    leaseRecordProblem({ last: 1, held: { svc: { token: 1, holder: "x" } } })!,
    /holder/,
  );
  assert.match(leaseRecordProblem({ last: 1, held: { "a b": { token: 1, holder: A } } })!, /a b/);
});

Deno.test("arbiter: rows list the live leases with the time they have left", async () => {
  const b = new Bench();
  b.ask(A, "svc", 1);
  b.ask(B, "db", 1);
  await settle();
  b.t = 1000;
  assert.deepEqual(b.arbiter.rows().sort(), [["db", B, 2, 5000], ["svc", A, 1, 5000]]);
  b.t = 6000;
  assert.deepEqual(b.arbiter.rows(), []);
});

Deno.test("arbiter: a member that asks and releases in a loop gets few grants (few writes)", async () => {
  const b = new Bench({
    grantRate: { perSecond: 1, burst: 2 },
    askRate: { perSecond: 100, burst: 100 },
  });
  for (let i = 1; i <= 10; i++) {
    b.ask(A, "svc", i);
    await settle();
    const h = b.arbiter.holder("svc");
    if (h) b.arbiter.handle(A, { t: "lease-release", s: "svc", tk: h.token });
  }
  assert.equal(b.arbiter.stats.granted, 2);
  assert.equal(b.disk.length, 2);
  assert.equal(b.arbiter.stats.refused.rateLimited, 8);
  // Later, at its next asks, it gets the lease again.
  b.t = 1000;
  b.ask(A, "svc", 11);
  await settle();
  assert.equal(b.arbiter.holder("svc")!.holder, A);
});

Deno.test("arbiter: a member whose record says the service is unhealthy is neither granted nor renewed", async () => {
  const b = new Bench();
  b.members.set(B, { name: "b", services: [{ name: "svc", healthy: false }] });
  b.ask(B, "svc", 1);
  await settle();
  assert.equal(b.arbiter.holder("svc"), null);
  assert.equal(b.arbiter.stats.refused.unhealthy, 1);
  b.members.set(B, { name: "b", services: [{ name: "svc", healthy: true }] });
  b.ask(B, "svc", 2);
  await settle();
  assert.equal(b.arbiter.holder("svc")!.holder, B);
  b.members.set(B, { name: "b", services: [{ name: "svc", healthy: false }] });
  b.t = 2000;
  b.take(B);
  b.ask(B, "svc", 3, 1);
  assert.equal(b.take(B)[0].n, undefined, "not renewed");
  b.t = 6000;
  b.arbiter.tick();
  assert.equal(b.arbiter.holder("svc"), null);
});

Deno.test("arbiter: asks for made-up names, or from made-up addresses, cannot fill the ask limiter", async () => {
  const b = new Bench();
  // 20,000 asks, each for a name A does not offer, and as many from addresses no member holds.
  for (let i = 0; i < 20_000; i++) {
    b.ask(A, `made-up-${i}`, 1);
    b.ask(`198.18.${i >> 8}.${i & 255}`, "svc", 1);
  }
  assert.equal(b.arbiter.stats.refused.notMember, 20_000);
  assert.ok(b.arbiter.stats.refused.notOffered <= 4, JSON.stringify(b.arbiter.stats.refused));
  // B's honest first ask (a key the limiter never saw) is looked at, and granted.
  b.ask(B, "svc", 1);
  await settle();
  assert.equal(b.arbiter.holder("svc")?.holder, B);
  assert.ok(!b.sent.some((x) => x.to?.startsWith("198.18.")), "nothing told to non-members");
});

Deno.test("arbiter: a lapsed lease goes to the longest-standing candidate, not the latest or most frequent asker", async () => {
  const b = new Bench();
  b.members.set(C, { name: "c", services: [{ name: "svc" }] });
  b.ask(A, "svc", 1);
  await settle();
  assert.equal(b.arbiter.holder("svc")!.holder, A);
  // B has waited since t=500, asking every 2 s as a client does.
  for (let t = 500; t <= 4500; t += 2000) {
    b.t = t;
    b.ask(B, "svc", t);
  }
  // C turns up later and asks as fast as it can: most of it is refused, the rest waits behind B.
  let n = 0;
  for (let t = 4000; t < 6000; t += 20) {
    b.t = t;
    b.ask(C, "svc", ++n);
  }
  assert.ok(b.arbiter.stats.refused.askRate >= 90, JSON.stringify(b.arbiter.stats.refused));
  // A stops renewing; at the lapse the lease goes to B.
  b.t = 6000;
  b.arbiter.tick();
  await settle();
  assert.equal(b.arbiter.holder("svc")!.holder, B);
});

Deno.test("arbiter: a candidate that stops asking loses its place in the queue", async () => {
  const b = new Bench();
  b.members.set(C, { name: "c", services: [{ name: "svc" }] });
  b.ask(A, "svc", 1);
  await settle();
  b.t = 100;
  b.ask(B, "svc", 1); // B stands first, then goes quiet
  for (let t = 3000; t <= 5000; t += 2000) {
    b.t = t;
    b.ask(C, "svc", t);
  }
  b.t = 6000;
  b.arbiter.tick();
  await settle();
  assert.equal(b.arbiter.holder("svc")!.holder, C);
});
