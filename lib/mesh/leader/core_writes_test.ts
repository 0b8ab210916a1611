/**
 * LeaderCore: retransmitted joins, writes that fail, changes that overlap, allocations whose
 * answer never arrived.
 */
import assert from "node:assert/strict";
import type { JoinRequest } from "../join/request.ts";
import { STALE } from "../join/freshness.ts";
import type { LeaderCore } from "./core.ts";
import { HOLDER, joinRequest, LEADER_KEY, observable, openCore } from "./testing/cores.ts";
import { type LeaderFile, StateDir } from "../state/state.ts";
import { FileStore } from "../store/file_store.ts";
import { generateKeyPair } from "../../crypto/keys.ts";

/** A state directory whose writes can be made to fail or to wait. */
class TestState extends StateDir {
  fail = false;
  writes = 0;
  #gate: Promise<void> | null = null;
  #open: (() => void) | null = null;

  /** Holds every write until `release()`. */
  hold(): void {
    this.#gate = new Promise((r) => this.#open = r);
  }

  release(): void {
    this.#open?.();
    this.#gate = null;
  }

  // Every write of the leader's state, whole or a journal line, goes through the gate.
  async #gated<T>(write: () => Promise<T>): Promise<T> {
    if (this.#gate) await this.#gate;
    if (this.fail) throw new Deno.errors.PermissionDenied("read-only state directory");
    this.writes++;
    return await write();
  }

  override writeLeader(data: LeaderFile): Promise<number> {
    return this.#gated(() => super.writeLeader(data));
  }

  override appendLeader(line: string): Promise<number> {
    return this.#gated(() => super.appendLeader(line));
  }
}

async function withState(fn: (state: TestState) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weft-leader-unit-" });
  try {
    const state = new TestState(dir);
    await state.ensure();
    await fn(state);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const open = (state: StateDir | null, joinHoldMs?: number): Promise<LeaderCore> =>
  openCore(state && new FileStore(state), { joinHoldMs });

/** A join request sent now, from `publicKey`. */
const request = (
  token: { id: string; secret: string },
  hostname: string,
  publicKey = generateKeyPair().publicKey,
): JoinRequest => joinRequest(token, hostname, { publicKey, time: Date.now() });

Deno.test("a retransmitted join with a one-use token gets the same answer, once allocated", async () => {
  const core = await open(null);
  const token = await core.createToken({ ttlMs: 60_000, uses: 1, labels: {} });
  const req = request(token, "n1");
  const first = await core.join(req, "192.0.2.2:51820");
  const again = await core.join(req, "192.0.2.2:51820", undefined, HOLDER);
  assert.ok(first.ok && again.ok, JSON.stringify(again));
  assert.equal(again.member.address, first.member.address);
  assert.equal(again.member.name, "n1");
  assert.equal(core.view().members.length, 2, "one allocation");
  assert.equal(core.listTokens()[0].usesLeft, 0, "one use");
  // Another key with the used-up token is refused and allocates nothing.
  const other = await core.join(request(token, "n2"), null);
  assert.deepEqual(other, { ok: false, error: "token used up", usage: true });
  assert.equal(core.view().members.length, 2);
  // The same key with a wrong secret is not answered with its record.
  const forged = await core.join({ ...req, secret: "AAAA" }, null);
  assert.deepEqual(forged, { ok: false, error: "unknown token", usage: true });
});

Deno.test("a key admitted by one token gets its record from another usable token, unused", async () => {
  const core = await open(null);
  const t1 = await core.createToken({ ttlMs: 60_000, uses: 1, labels: {} });
  const t2 = await core.createToken({ ttlMs: 60_000, uses: 2, labels: {} });
  const req = request(t1, "n1");
  const first = await core.join(req, null);
  const viaT2 = await core.join(
    { ...req, tokenId: t2.id, secret: t2.secret },
    null,
    undefined,
    HOLDER,
  );
  assert.ok(first.ok && viaT2.ok);
  assert.equal(viaT2.member.address, first.member.address);
  assert.equal(core.listTokens().find((t) => t.id === t2.id)!.usesLeft, 2);
  await core.revokeToken(t2.id);
  const revoked = await core.join(
    { ...req, tokenId: t2.id, secret: t2.secret },
    null,
    undefined,
    HOLDER,
  );
  assert.deepEqual(revoked, { ok: false, error: "token revoked", usage: true });
});

Deno.test("a write that fails leaves memory as it was; the restarted leader agrees", async () => {
  await withState(async (state) => {
    const core = await open(state);
    const token = await core.createToken({ ttlMs: 60_000, uses: 1, labels: {} });
    const before = observable(core);
    state.fail = true;
    const req = request(token, "n1");
    await assert.rejects(core.join(req, null), /read-only/);
    assert.equal(observable(core), before, "nothing allocated in memory");
    // The retransmission is not answered from memory either.
    await assert.rejects(core.join(req, null), /read-only/);
    assert.equal(observable(core), before);

    // Every other change behaves the same.
    await assert.rejects(core.createToken({ ttlMs: 1000, uses: null, labels: {} }), /read-only/);
    await assert.rejects(core.revokeToken(token.id), /read-only/);
    await assert.rejects(core.setPolicy("rules: []"), /read-only/);
    await assert.rejects(
      core.updateMember(LEADER_KEY, { endpoints: ["192.0.2.9:1"] }),
      /read-only/,
    );
    assert.equal(observable(core), before, "no change survived a failed write");

    // The disk is back: the join succeeds and takes the first free address.
    state.fail = false;
    const ok = await core.join(req, null);
    assert.ok(ok.ok);
    assert.equal(ok.member.address, "10.77.0.2");
    state.fail = true;
    await assert.rejects(core.removeNode("n1"), /read-only/);
    assert.ok(core.member("n1"), "a failed removal keeps the member");
    state.fail = false;

    // After a restart: the same members, and the next joiner gets a fresh address.
    const restarted = await open(new StateDir(state.dir));
    assert.deepEqual(restarted.view().members, core.view().members);
    const t2 = await restarted.createToken({ ttlMs: 60_000, uses: 1, labels: {} });
    const next = await restarted.join(request(t2, "n2"), null);
    assert.ok(next.ok);
    assert.equal(next.member.address, "10.77.0.3");
  });
});

Deno.test("a change that fails does not undo the change written before it", async () => {
  await withState(async (state) => {
    const core = await open(state);
    const token = await core.createToken({ ttlMs: 60_000, uses: null, labels: {} });
    assert.ok((await core.join(request(token, "a"), null)).ok);
    state.fail = true;
    await assert.rejects(core.join(request(token, "b"), null));
    state.fail = false;
    assert.ok(core.member("a"));
    assert.equal(core.member("b"), undefined);
    const onDisk = (await state.readLeader())!;
    assert.deepEqual(onDisk.members.map((m) => m.name), ["leader", "a"]);
  });
});

Deno.test("a retransmission while the first write is in flight waits for it: one allocation", async () => {
  await withState(async (state) => {
    const core = await open(state);
    const token = await core.createToken({ ttlMs: 60_000, uses: 1, labels: {} });
    const req = request(token, "n1");
    const writes = state.writes;
    state.hold();
    const first = core.join(req, null);
    const retransmitted = core.join(req, null, undefined, HOLDER);
    const otherKey = core.join(request(token, "n2"), null);
    let answered = false;
    retransmitted.then(() => answered = true);
    // Let every queued microtask and timer run: nothing may be answered before the write.
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(answered, false, "answered before the allocation was on disk");
    state.release();
    const [r1, r2, r3] = await Promise.all([first, retransmitted, otherKey]);
    assert.ok(r1.ok && r2.ok);
    assert.equal(r2.member.address, r1.member.address);
    assert.deepEqual(r3, { ok: false, error: "token used up", usage: true });
    assert.equal(core.view().members.length, 2);
    assert.equal(state.writes, writes + 1, "one join written");
  });
});

Deno.test("a retransmission while a failing write is in flight is not answered from memory", async () => {
  await withState(async (state) => {
    const core = await open(state);
    const token = await core.createToken({ ttlMs: 60_000, uses: 1, labels: {} });
    const req = request(token, "n1");
    state.hold();
    state.fail = true;
    const first = core.join(req, null);
    const retransmitted = core.join(req, null);
    state.release();
    await assert.rejects(first);
    await assert.rejects(retransmitted);
    assert.equal(core.view().members.length, 1);
    assert.equal(core.listTokens()[0].usesLeft, 1);
  });
});

Deno.test("an allocation never heard from is released after the hold; the token use returns", async () => {
  await withState(async (state) => {
    const hold = 60_000;
    const core = await open(state, hold);
    const token = await core.createToken({ ttlMs: 3600_000, uses: 1, labels: {} });
    const t0 = Date.now();
    const key = generateKeyPair().publicKey;
    const ghost = await core.join(request(token, "ghost", key), null, t0);
    assert.ok(ghost.ok);
    // Within the hold: kept; the same key retrying gets it back, a new key cannot take the name.
    assert.deepEqual(await core.releaseUnheard(t0 + hold - 1), []);
    const retry = await core.join(request(token, "ghost", key), null, t0 + 1000, HOLDER);
    assert.ok(retry.ok && retry.member.address === ghost.member.address);
    // (Another key asking for the name gets it suffixed: names.ts.)
    const t2 = await core.createToken({ ttlMs: 3600_000, uses: 2, labels: {} });
    const taken = await core.join(request(t2, "ghost"), null, t0 + 1000);
    assert.ok(taken.ok && taken.member.name === "ghost-2", JSON.stringify(taken));
    await core.heardFrom(taken.member.publicKey);

    // A member that said hello is kept for good.
    const heardKey = generateKeyPair().publicKey;
    assert.ok((await core.join(request(t2, "heard", heardKey), null, t0)).ok);
    await core.heardFrom(heardKey);
    // One that completed a handshake (the caller's predicate) too.
    const t3 = await core.createToken({ ttlMs: 3600_000, uses: 1, labels: {} });
    const shakeKey = generateKeyPair().publicKey;
    assert.ok((await core.join(request(t3, "shook", shakeKey), null, t0)).ok);

    const version = core.view().version;
    const released = await core.releaseUnheard(t0 + hold + 1, (k) => k === shakeKey);
    assert.deepEqual(released.map((m) => m.name), ["ghost"]);
    assert.equal(core.member("ghost"), undefined);
    assert.ok(core.member("heard") && core.member("shook"));
    assert.ok(core.view().version > version, "nodes learn of the release");
    assert.equal(core.listTokens().find((t) => t.id === token.id)!.usesLeft, 1, "use returned");
    assert.deepEqual(await core.releaseUnheard(t0 + 10 * hold), [], "the others stay");

    // On disk too: a restarted leader does not bring the ghost back.
    const restarted = await open(new StateDir(state.dir), hold);
    assert.equal(restarted.member("ghost"), undefined);
    // The joiner coming back later is a fresh join with its token, and gets the free address.
    const back = await restarted.join(request(token, "ghost", key), null);
    assert.ok(back.ok);
    assert.equal(back.member.address, ghost.member.address);
  });
});

Deno.test("a joiner started again after a lost answer: its later request, with its key's proof, gets its record; the token is used once", async () => {
  const core = await open(null);
  const token = await core.createToken({ ttlMs: 60_000, uses: 1, labels: {} });
  const t0 = Date.now();
  const req = request(token, "jm");
  const first = await core.join({ ...req, time: t0 }, "192.0.2.2:51820", t0);
  assert.ok(first.ok);
  // The joiner was killed before the answer came; its next run sends a new request (a later
  // time, a new run id) as the same key, with its proof.
  const again = await core.join({ ...req, time: t0 + 5000, run: "r2" }, null, t0 + 5000, HOLDER);
  assert.ok(again.ok, JSON.stringify(again));
  assert.deepEqual(again.member, first.member, "the record it was admitted with");
  assert.equal(core.view().members.length, 2, "no second allocation");
  assert.equal(core.listTokens()[0].usesLeft, 0, "one use");
  // Its earlier request (a replay of it) is stale now: not the joiner's input (no usage).
  const replay = await core.join({ ...req, time: t0 }, null, t0 + 6000, HOLDER);
  assert.deepEqual(replay, { ok: false, error: STALE });
});

Deno.test("an unconfirmed join expires: its address and its name go to the next joiner", async () => {
  await withState(async (state) => {
    const hold = 60_000;
    const core = await open(state, hold);
    const token = await core.createToken({ ttlMs: 3600_000, uses: null, labels: {} });
    const t0 = Date.now();
    const orphanKey = generateKeyPair().publicKey;
    const orphan = await core.join({ ...request(token, "jm", orphanKey), time: t0 }, null, t0);
    assert.ok(orphan.ok);
    // Meanwhile another key asking for the name gets it suffixed.
    const meanwhile = await core.join(request(token, "x"), null, t0);
    assert.ok(meanwhile.ok && meanwhile.member.name === "x");
    await core.heardFrom(meanwhile.member.publicKey);
    assert.deepEqual(
      (await core.releaseUnheard(t0 + hold + 1)).map((m) => m.name),
      ["jm"],
      "never heard from",
    );
    // Free again, on disk too: a new key asking for the name gets it, and the address.
    const restarted = await open(new StateDir(state.dir), hold);
    const next = await restarted.join(request(token, "jm"), null);
    assert.ok(next.ok, JSON.stringify(next));
    assert.equal(next.member.name, "jm", "the name is free");
    assert.equal(next.member.address, orphan.member.address, "the address is free");
  });
});

Deno.test("a refusal says whether the joiner's input is at fault (usage: exit code 2) or not", async () => {
  const core = await open(null);
  const token = await core.createToken({ ttlMs: 60_000, uses: 1, labels: {} });
  const now = Date.now();
  const usage = [
    await core.join({ ...request(token, "a"), secret: "AAAA" }, null),
    await core.join(request(token, "Bad_Name"), null),
    await core.join(request(token, "a", LEADER_KEY), null),
  ];
  assert.ok((await core.join(request(token, "b"), null)).ok);
  usage.push(await core.join(request(token, "c"), null));
  for (const r of usage) assert.ok(!r.ok && r.usage === true, JSON.stringify(r));
  const key = generateKeyPair().publicKey;
  const other = await core.createToken({ ttlMs: 60_000, uses: null, labels: {} });
  const state = [
    await core.join({ ...request(other, "d", key), time: now + 3_600_000 }, null, now),
    await core.join(request(token, "b", core.member("b")!.publicKey), null),
  ];
  assert.ok((await core.join({ ...request(other, "d", key), time: now }, null, now)).ok);
  state.push(await core.join({ ...request(other, "d", key), time: now - 1 }, null, now, HOLDER));
  for (const r of state) assert.ok(!r.ok && r.usage === undefined, JSON.stringify(r));
});

Deno.test("a restarted leader gives unheard nodes a full hold before releasing them", async () => {
  await withState(async (state) => {
    const hold = 60_000;
    const core = await open(state, hold);
    const token = await core.createToken({ ttlMs: 3600_000, uses: null, labels: {} });
    const long = Date.now() - 10 * hold;
    assert.ok((await core.join({ ...request(token, "old"), time: long }, null, long)).ok);
    const restarted = await open(new StateDir(state.dir), hold);
    assert.deepEqual(await restarted.releaseUnheard(Date.now()), [], "the leader was down");
    assert.equal((await restarted.releaseUnheard(Date.now() + hold + 1)).length, 1);
  });
});

Deno.test("a burst of joins is written together; a failed write rejects the whole batch", async () => {
  await withState(async (state) => {
    const core = await open(state);
    const token = await core.createToken({ ttlMs: 60_000, uses: null, labels: {} });
    const writes = state.writes;
    state.hold();
    const burst = Array.from({ length: 20 }, (_, i) => core.join(request(token, `b${i}`), null));
    state.release();
    const answers = await Promise.all(burst);
    const addresses = answers.map((a) => a.ok ? a.member.address : a.error);
    assert.equal(new Set(addresses).size, 20, addresses.join(","));
    assert.ok(state.writes - writes <= 2, `${state.writes - writes} writes for 20 joins`);
    const onDisk = (await state.readLeader())!;
    assert.equal(onDisk.members.length, 21);

    const before = observable(core);
    state.hold();
    const first = core.join(request(token, "c0"), null);
    const batch = [1, 2, 3].map((i) => core.join(request(token, `c${i}`), null));
    state.fail = true;
    state.release();
    await assert.rejects(first);
    for (const b of batch) await assert.rejects(b);
    assert.equal(observable(core), before);
  });
});

Deno.test("a replayed join of a removed node is refused, across a restart; a new token readmits it", async () => {
  await withState(async (state) => {
    let core = await open(state);
    const t1 = await core.createToken({ ttlMs: 60_000, uses: 2, labels: {} });
    const req = request(t1, "n1");
    assert.ok((await core.join(req, "192.0.2.2:51820")).ok);
    await core.removeNode("n1");
    // The same request (a capture) from elsewhere, and a later one with the same token.
    core = await open(state);
    const replay = await core.join(req, "198.51.100.9:4444");
    assert.ok(!replay.ok && /stale join request/.test(replay.error), JSON.stringify(replay));
    const later = await core.join({ ...req, time: req.time + 1 }, null);
    assert.ok(!later.ok && /removed: it can join again only with a new token/.test(later.error));
    assert.deepEqual(core.view().members.map((m) => m.name), ["leader"]);
    assert.equal(core.listTokens()[0].usesLeft, 1, "no use taken by the refusals");
    // The operator hands it a new token: a later request with it joins.
    const t2 = await core.createToken({ ttlMs: 60_000, uses: 1, labels: {} });
    const back = await core.join(
      { ...req, tokenId: t2.id, secret: t2.secret, time: req.time + 2 },
      null,
    );
    assert.ok(back.ok, JSON.stringify(back));
    // And its old request is still stale.
    assert.ok(!(await core.join(req, null)).ok);
  });
});

Deno.test("per key, join requests older than the last accepted one are refused; the same one is answered", async () => {
  const core = await open(null);
  const token = await core.createToken({ ttlMs: 60_000, uses: null, labels: {} });
  const req = request(token, "n1");
  const first = await core.join(req, null);
  const same = await core.join(req, null, undefined, HOLDER);
  const newer = await core.join({ ...req, time: req.time + 1000 }, null, undefined, HOLDER);
  assert.ok(first.ok && same.ok && newer.ok);
  assert.equal(newer.member.address, first.member.address);
  const older = await core.join(req, null, undefined, HOLDER);
  assert.ok(!older.ok && /stale/.test(older.error), JSON.stringify(older));
});

Deno.test("a join naming a member's key that its holder did not make changes nothing; removed, the member joins again", async () => {
  const core = await open(null);
  const token = await core.createToken({ ttlMs: 60_000, uses: null, labels: {} });
  const req = request(token, "n1");
  assert.ok((await core.join(req, null)).ok);
  const before = observable(core);
  // A token holder names n1's key (public in every view) with a later time, and a far later one.
  for (const time of [req.time + 60_000, req.time + 10 * 365 * 86_400_000]) {
    const forged = await core.join({ ...req, hostname: "x", time }, "198.51.100.9:4444");
    assert.ok(!forged.ok, JSON.stringify(forged));
    assert.match(forged.error, /does not prove it comes from that member|from the future/);
  }
  assert.equal(observable(core), before, "nothing kept");
  // n1 is removed; with a new token, its own later request joins again.
  await core.removeNode("n1");
  const t2 = await core.createToken({ ttlMs: 60_000, uses: 1, labels: {} });
  const back = await core.join(
    { ...req, tokenId: t2.id, secret: t2.secret, time: req.time + 1 },
    null,
  );
  assert.ok(back.ok, JSON.stringify(back));
});

Deno.test("a join time ahead of the leader's clock is refused and never kept, the holder's too", async () => {
  const core = await open(null);
  const token = await core.createToken({ ttlMs: 60_000, uses: null, labels: {} });
  const now = Date.now();
  const far = now + 3_600_000;
  // A new key from the future: no member, nothing remembered for it.
  const fresh = request(token, "f1");
  const early = await core.join({ ...fresh, time: far }, null, now);
  assert.ok(
    !early.ok && /^join request from the future: its time is 3600 s ahead/.test(early.error),
  );
  assert.ok((await core.join({ ...fresh, time: now }, null, now)).ok, "its real request joins");
  // The holder's own request from the future is refused too, and its time not kept.
  const ahead = await core.join({ ...fresh, time: far }, null, now, HOLDER);
  assert.ok(!ahead.ok && /from the future/.test(ahead.error));
  const next = await core.join({ ...fresh, time: now + 1 }, null, now, HOLDER);
  assert.ok(next.ok, JSON.stringify(next));
  // Within the skew is no refusal.
  const within = await core.join({ ...request(token, "f2"), time: now + 60_000 }, null, now);
  assert.ok(within.ok, JSON.stringify(within));
});

Deno.test("a released allocation's request replayed later is refused; a later request joins", async () => {
  const core = await open(null, 1);
  const token = await core.createToken({ ttlMs: 60_000, uses: 1, labels: {} });
  const req = request(token, "n1");
  assert.ok((await core.join(req, null)).ok);
  assert.equal((await core.releaseUnheard(Date.now() + 1000)).length, 1);
  assert.ok(!(await core.join(req, null)).ok, "replay refused");
  assert.equal(core.listTokens()[0].usesLeft, 1);
  assert.ok((await core.join({ ...req, time: req.time + 1 }, null)).ok);
});

Deno.test("a joiner's labels never become granted ones; only node.weft/ ones are kept, apart", async () => {
  const core = await open(null);
  const token = await core.createToken({ ttlMs: 60_000, uses: 1, labels: { role: "web" } });
  const req = {
    ...request(token, "n1"),
    labels: { role: "db", env: "prod", "node.weft/os": "linux" },
  };
  const res = await core.join(req, null);
  assert.ok(res.ok);
  assert.deepEqual(res.member.labels, { role: "web" });
  assert.deepEqual(res.member.nodeLabels, { "node.weft/os": "linux" });
  assert.equal(core.labelsDropped, 2);
});

Deno.test("tokens: a ttl out of range or bad labels are refused and nothing is saved", async () => {
  const core = await open(null);
  const before = observable(core);
  for (const ttlMs of [99999999999 * 86_400_000, 0, -1, NaN, Infinity, 366 * 86_400_000]) {
    await assert.rejects(core.createToken({ ttlMs, uses: null, labels: {} }), /ttl must be/);
  }
  for (
    const labels of [
      { "bad key!!": "x" },
      { role: "v".repeat(5000) },
      { "node.weft/role": "db" },
      Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"])),
    ]
  ) {
    await assert.rejects(
      core.createToken({ ttlMs: 60_000, uses: null, labels }),
      /label|reserved/,
      JSON.stringify(labels).slice(0, 60),
    );
  }
  assert.equal(observable(core), before);
});
