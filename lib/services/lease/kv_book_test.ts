import assert from "node:assert/strict";
import { generateKeyPair } from "../../crypto/keys.ts";
import { MemoryKv } from "../../store/memory_kv.ts";
import { StoreError } from "../../store/kv.ts";
import { type ArbiterMember, LeaseArbiter } from "./arbiter.ts";
import { KvLeaseBook } from "./kv_book.ts";
import { eventually, HANG_GUARD_MS } from "../../../tests/fixtures/netns.ts";
import type { LeaseAnnouncement, LeaseNotice } from "./protocol.ts";

const A = generateKeyPair().publicKey;
const B = generateKeyPair().publicKey;
const C = generateKeyPair().publicKey;

/** Lets the store's answers and watch events (microtask chains) arrive. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}

/** Two or more arbiters (leaders) on one store in memory, one clock. */
class Mesh {
  t = 0;
  readonly kv = new MemoryKv({ now: () => this.t });
  readonly members = new Map<string, ArbiterMember>([
    [A, { name: "a", services: [{ name: "svc" }] }],
    [B, { name: "b", services: [{ name: "svc" }] }],
    [C, { name: "c", services: [{ name: "svc" }] }],
  ]);
  readonly sent: { by: number; to: string | null; msg: LeaseAnnouncement }[] = [];
  readonly arbiters: LeaseArbiter[] = [];

  constructor(leaders = 2) {
    for (let i = 0; i < leaders; i++) {
      const a = new LeaseArbiter({
        now: () => this.t,
        member: (k) => this.members.get(k),
        healthy: () => true,
        send: (to, msg) => this.sent.push({ by: i, to, msg }),
        book: new KvLeaseBook({ store: this.kv, prefix: "/weft/", ttlMs: 6000, retryMs: 5 }),
      });
      a.start();
      this.arbiters.push(a);
    }
  }

  ask(at: number, from: string, n: number): void {
    this.arbiters[at].handle(from, { t: "lease-ask", s: "svc", n });
  }

  /** The answers (notices with `n`) to `to`, and forgets every message. */
  answers(to: string): LeaseNotice[] {
    const out = this.sent.filter((x) => x.to === to && x.msg.t === "lease" && x.msg.n !== undefined)
      .map((x) => x.msg as LeaseNotice);
    this.sent.length = 0;
    return out;
  }

  close(): void {
    for (const a of this.arbiters) a.close();
  }
}

Deno.test("kv book: candidates asking two arbiters at once: one holder, the other learns it", async () => {
  const m = new Mesh();
  try {
    await settle();
    m.ask(0, A, 1);
    m.ask(1, B, 1);
    await settle();
    const [x, y] = m.arbiters;
    assert.equal(x.stats.granted + y.stats.granted, 1, "one grant between them");
    const holder = x.holder("svc")!;
    assert.deepEqual(y.holder("svc"), holder, "both follow the store");
    const { kv } = await m.kv.get("/weft/service-leases/svc");
    assert.equal(JSON.parse(kv!.value).holder, holder.holder);
    assert.equal(holder.token, kv!.createRevision, "the token is the grant's revision");
  } finally {
    m.close();
  }
});

Deno.test("kv book: a lease not renewed ends in the store; the other arbiter grants its candidate a higher token", async () => {
  const m = new Mesh();
  try {
    await settle();
    m.ask(0, A, 1);
    await settle();
    const first = m.answers(A);
    assert.equal(first.length, 1);
    assert.equal(first[0].h, A);
    // B asks the other leader every 2 s; A stops renewing.
    for (let t = 1000; t <= 5000; t += 2000) {
      m.t = t;
      m.ask(1, B, t);
      await settle();
      assert.deepEqual(m.answers(B).map((x) => x.h), [A], "B waits");
    }
    m.t = 5999;
    m.kv.expire();
    await settle();
    assert.equal(m.arbiters[1].holder("svc")?.holder, A, "not before its time");
    m.t = 6000;
    m.kv.expire();
    await settle();
    const granted = m.answers(B);
    assert.equal(granted.length, 1);
    assert.equal(granted[0].h, B);
    assert.equal(granted[0].n, 5000, "the answer to B's latest ask");
    assert.ok(granted[0].tk > first[0].tk, "tokens only increase");
    assert.equal(m.arbiters[0].holder("svc")!.holder, B);
    assert.equal(m.arbiters[1].stats.expired, 1);
  } finally {
    m.close();
  }
});

Deno.test("kv book: a holder that moved renews at the other arbiter and keeps its lease", async () => {
  const m = new Mesh();
  try {
    await settle();
    m.ask(0, A, 1);
    await settle();
    const tk = m.answers(A)[0].tk;
    m.t = 4000;
    m.ask(1, A, 2);
    await settle();
    assert.deepEqual(m.answers(A), [{ t: "lease", s: "svc", h: A, tk, ttl: 6000, n: 2 }]);
    assert.equal(m.arbiters[1].stats.renewed, 1);
    m.t = 9999;
    m.kv.expire();
    await settle();
    for (const a of m.arbiters) assert.equal(a.holder("svc")?.holder, A, "renewed at 4000");
    m.ask(0, B, 1);
    await settle();
    assert.equal(m.answers(B)[0].h, A, "B waits");
    m.t = 10000;
    m.kv.expire();
    await settle();
    assert.equal(m.arbiters[0].holder("svc")?.holder, B);
  } finally {
    m.close();
  }
});

Deno.test("kv book: a store that refuses answers nothing from memory, and counts it", async () => {
  const m = new Mesh();
  try {
    await settle();
    const [x, y] = m.arbiters;
    m.kv.failWith = new StoreError("no-quorum", "memory", "no leader");
    m.ask(0, A, 1);
    await settle();
    assert.deepEqual(m.answers(A), []);
    assert.equal(x.stats.persistFailed, 1);
    assert.equal(x.holder("svc"), null);
    m.kv.failWith = null;
    m.t = 2000; // past the pause after a refused grant
    m.ask(0, A, 2);
    await settle();
    assert.equal(m.answers(A)[0].h, A);
    m.kv.failWith = new StoreError("unreachable", "memory", "connection refused");
    m.t = 3000;
    m.ask(1, A, 3);
    await settle();
    assert.deepEqual(m.answers(A), [], "no renewal the store did not take");
    assert.equal(y.stats.storeFailed, 1);
    assert.equal(y.stats.renewed, 0);
  } finally {
    m.close();
  }
});

Deno.test("kv book: a release at either arbiter ends the lease; a release of another's token is stale", async () => {
  const m = new Mesh();
  try {
    await settle();
    m.ask(0, A, 1);
    await settle();
    const tk = m.answers(A)[0].tk;
    m.ask(0, B, 1);
    await settle();
    m.arbiters[1].handle(C, { t: "lease-release", s: "svc", tk });
    await settle();
    assert.equal(m.arbiters[1].stats.staleReleases, 1);
    assert.equal(m.arbiters[0].holder("svc")!.holder, A);
    m.arbiters[1].handle(A, { t: "lease-release", s: "svc", tk });
    await settle();
    assert.equal(m.arbiters[1].stats.released, 1);
    assert.equal(m.arbiters[1].stats.expired, 0, "a release is no expiry");
    const b = m.answers(B);
    assert.equal(b.at(-1)!.h, B, "the candidate waiting at the first arbiter got it");
    assert.ok(b.at(-1)!.tk > tk);
  } finally {
    m.close();
  }
});

Deno.test("kv book: a restarted arbiter finds the holders in the store; a broken watch is followed again", async () => {
  const m = new Mesh(1);
  try {
    await settle();
    m.ask(0, A, 1);
    await settle();
    const tk = m.answers(A)[0].tk;
    const later = new LeaseArbiter({
      now: () => m.t,
      member: (k) => m.members.get(k),
      healthy: () => true,
      send: () => {},
      book: new KvLeaseBook({ store: m.kv, prefix: "/weft/", ttlMs: 6000, retryMs: 100 }),
    });
    m.arbiters.push(later);
    later.start();
    await settle();
    assert.deepEqual(later.holder("svc"), { holder: A, token: tk, leftMs: 6000 });
    m.kv.breakWatches();
    await settle();
    assert.equal(later.book.current(), false);
    // Its retry (100 ms) waited for, not slept on: a loaded machine's timers run late.
    assert.ok(
      await eventually(() => Promise.resolve(later.book.current()), HANG_GUARD_MS, 20),
      "following again after the pause",
    );
    m.t = 6000;
    m.kv.expire();
    await settle();
    assert.equal(later.holder("svc"), null);
  } finally {
    m.close();
  }
});

Deno.test("kv book: a holder's bye at every leader ends its lease once; the candidate gets it", async () => {
  const m = new Mesh();
  try {
    await settle();
    m.ask(0, A, 1);
    await settle();
    const tk = m.answers(A)[0].tk;
    m.ask(1, B, 1);
    await settle();
    for (const a of m.arbiters) a.withdraw(A);
    await settle();
    const released = m.arbiters.map((a) => a.stats.released);
    assert.deepEqual(released.toSorted(), [0, 1], "one delete wins");
    assert.deepEqual(m.arbiters.map((a) => a.stats.staleReleases), [0, 0]);
    const b = m.answers(B).at(-1)!;
    assert.deepEqual([b.h, b.tk > tk], [B, true]);
  } finally {
    m.close();
  }
});
