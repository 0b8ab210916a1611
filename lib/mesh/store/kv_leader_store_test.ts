/**
 * KvLeaderStore over a link that can be cut (as a leader cut from etcd by a firewall): calls
 * fail, and a watch stream open at the cut goes quiet for good rather than ending. The health
 * says so both ways, and once the store answers again the watch catches up by itself.
 */
import assert from "node:assert/strict";
import type { LeaderFile } from "../state/state.ts";
import { RecordMap } from "../state/record_map.ts";
import { newLanKey } from "../state/lan_key.ts";
import { KvLeaderStore } from "./kv_leader_store.ts";
import type { StoreHealth, StoreSnapshot } from "./store.ts";
import { MemoryKv } from "../../store/memory_kv.ts";
import { type KvStore, StoreError, type Txn } from "../../store/kv.ts";
import type { Member } from "../../members/member.ts";
import { diffKeys, META_KEY, toKeys } from "./keys.ts";
import {
  batchCopy,
  BatchMaker,
  byKey,
  firstLeaderDoc,
} from "../../../tests/fixtures/leader_batches.ts";
import { seededRandom } from "../../../tests/fixtures/prng.ts";
import { eventually, HANG_GUARD_MS } from "../../../tests/fixtures/netns.ts";

function doc(names: string[]): LeaderFile {
  return {
    format: 1,
    network: "10.77.0.0/24",
    version: names.length,
    members: names.map((name, i) => ({
      name,
      publicKey: `key-${name}`.padEnd(43, "A") + "=",
      address: `10.77.0.${i + 1}`,
      endpoints: [],
      labels: {},
      role: i === 0 ? "leader" : "node",
      services: [],
      joinedAt: 1,
    })),
    tokens: [],
    joins: new RecordMap(),
    lanKey: newLanKey(),
  };
}

/** `kv` through a link that `cut` breaks: calls fail, watch streams open then go quiet. */
function cuttable(kv: MemoryKv): { store: KvStore; cut: (on: boolean) => void } {
  let cut = false;
  // Bumped at each cut: a stream opened before it delivers nothing from then on.
  let epoch = 0;
  const guard = <T>(fn: () => Promise<T>): Promise<T> =>
    cut ? Promise.reject(new StoreError("no-quorum", "etcd", "no answer within 5000 ms")) : fn();
  const store: KvStore = {
    get: (k) => guard(() => kv.get(k)),
    range: (p, l) => guard(() => kv.range(p, l)),
    put: (k, v, l) => guard(() => kv.put(k, v, l)),
    delete: (s) => guard(() => kv.delete(s)),
    txn: (t) => guard(() => kv.txn(t)),
    watch: (spec, from, onEvents) =>
      guard(() => {
        const mine = epoch;
        return kv.watch(spec, from, (events, rev) => {
          if (!cut && epoch === mine) onEvents(events, rev);
        });
      }),
    grant: (t) => guard(() => kv.grant(t)),
    keepAlive: (id) => guard(() => kv.keepAlive(id)),
    revoke: (id) => guard(() => kv.revoke(id)),
    close: () => kv.close(),
  };
  return {
    store,
    cut: (on) => {
      if (on) epoch++;
      cut = on;
    },
  };
}

Deno.test("kv leader store: cut from the store it says so, and catches up once the store answers again", async () => {
  const kv = new MemoryKv();
  const link = cuttable(kv);
  const other = new KvLeaderStore(kv, { probeMs: 0 });
  const told: StoreHealth[] = [];
  const cutOff = new KvLeaderStore(link.store, {
    probeMs: 10,
    retryMs: 10,
    onHealth: (h) => told.push(h),
  });
  const seen: StoreSnapshot[] = [];
  let stop = () => {};
  try {
    const r1 = (await other.commit(doc(["l1", "l2"]), 0))!;
    assert.equal((await cutOff.load())?.revision, r1);
    stop = cutOff.watch(r1, (s) => seen.push(s));
    const r2 = (await other.commit(doc(["l1", "l2", "a"]), r1))!;
    assert.ok(await eventually(() => Promise.resolve(seen.at(-1)?.revision === r2), HANG_GUARD_MS));

    // Cut: the probe fails, the health says so once (a log line), and the write fails clearly.
    link.cut(true);
    assert.ok(await eventually(() => Promise.resolve(!cutOff.health().ok), HANG_GUARD_MS));
    assert.deepEqual(told.map((h) => h.ok), [false]);
    assert.match(told[0].error ?? "", /no quorum|unreachable/);
    await assert.rejects(cutOff.commit(doc(["l1", "l2", "a", "x"]), r2), StoreError);
    // Another leader goes on: a member joins there during the cut.
    const r3 = (await other.commit(doc(["l1", "l2", "a", "b"]), r2))!;

    // Back: the health says so (one line), and the watch catches up from a load, although the
    // stream it had at the cut never speaks again.
    link.cut(false);
    const caught = await eventually(
      () => Promise.resolve(seen.at(-1)?.revision === r3),
      HANG_GUARD_MS,
    );
    assert.ok(caught, `the watch caught up: ${seen.map((s) => s.revision)}`);
    assert.deepEqual(seen.at(-1)!.data.members.map((m) => m.name), ["l1", "l2", "a", "b"]);
    assert.ok(cutOff.health().ok);
    assert.deepEqual(told.map((h) => h.ok), [false, true]);
  } finally {
    stop();
    cutOff.close();
    other.close();
    await kv.close();
  }
});

/** `kv` with every transaction recorded. */
function recorded(kv: MemoryKv): { store: KvStore; txns: Txn[] } {
  const txns: Txn[] = [];
  const store: KvStore = {
    get: (k) => kv.get(k),
    range: (p, l) => kv.range(p, l),
    put: (k, v, l) => kv.put(k, v, l),
    delete: (s) => kv.delete(s),
    txn: (t) => {
      txns.push(t);
      return kv.txn(t);
    },
    watch: (spec, from, onEvents) => kv.watch(spec, from, onEvents),
    grant: (t) => kv.grant(t),
    keepAlive: (id) => kv.keepAlive(id),
    revoke: (id) => kv.revoke(id),
    close: () => kv.close(),
  };
  return { store, txns };
}

const ROOT = "/weft/state/";

/** The document's keys in the store, in key order. */
async function stored(kv: KvStore): Promise<[string, string][]> {
  const a = await kv.range(ROOT);
  return a.kvs.map((kv) => [kv.key.slice(ROOT.length), kv.value]);
}

const byName = ([a]: [string, unknown], [b]: [string, unknown]) => a < b ? -1 : a > b ? 1 : 0;

/** What the whole documents compared make a commit send: its operations and compares. */
function wholeTxn(prev: LeaderFile, next: LeaderFile, base: number) {
  const d = diffKeys(toKeys(prev), toKeys(next));
  const put = new Map(d.put);
  put.set(META_KEY, toKeys(next).get(META_KEY)!);
  return {
    put: [...put].sort(byName),
    delete: [...d.delete].sort(),
    compare: [
      `mod ${META_KEY} ${base}`,
      ...d.created.filter((k) => k.startsWith("alloc/")).map((k) => `create ${k} 0`),
    ].sort(),
  };
}

/** A sent transaction in the same shape. */
function sentTxn(t: Txn) {
  const key = (k: string) => k.slice(ROOT.length);
  return {
    put: t.then.flatMap((o) => o.type === "put" ? [[key(o.key), o.value] as [string, string]] : [])
      .sort(byName),
    delete: t.then.flatMap((o) => o.type === "delete" ? [key(o.key)] : []).sort(),
    compare: t.compare.map((c) => `${c.target} ${key(c.key)} ${c.value}`).sort(),
  };
}

Deno.test("kv leader store: a batch's commit sends what comparing the whole documents sends, with another leader committing and commits lost", async () => {
  const kv = new MemoryKv();
  const mine = recorded(kv);
  const store = new KvLeaderStore(mine.store, { probeMs: 0 });
  const other = new KvLeaderStore(kv, { probeMs: 0 });
  const rnd = seededRandom(47);
  const maker = new BatchMaker(rnd);
  // What the watch brought last (a box: the callback sets it).
  const watched: { s: StoreSnapshot | null } = { s: null };
  let stop = () => {};
  try {
    let state = firstLeaderDoc();
    let revision = (await store.commit(state, 0))!;
    stop = store.watch(revision, (s) => watched.s = s);
    let lost = 0;
    let foreign = 0;
    for (let step = 0; step < 400; step++) {
      const r = rnd();
      if (r < 0.15) {
        // Another leader commits a batch of the newest document: the watch brings it.
        const s = (await other.load())!;
        const theirs = maker.batch(s.data);
        if ((await other.commit(theirs, s.revision)) !== null) foreign++;
        await new Promise((r) => setTimeout(r, 0));
      }
      const w = watched.s;
      if (r > 0.9 && w && w.revision > revision) {
        // Took in what the watch brought, as the core does between batches.
        state = w.data;
        revision = w.revision;
      }
      const next = maker.batch(state);
      const sent = mine.txns.length;
      const committed = await store.commit(next, revision);
      if (committed === null) {
        lost++;
        // Lost (or known stale): the store is loaded and the batch runs on what it holds.
        const s = (await store.load())!;
        state = s.data;
        revision = s.revision;
        continue;
      }
      assert.equal(mine.txns.length, sent + 1, "one transaction a commit");
      assert.deepEqual(sentTxn(mine.txns[sent]), wholeTxn(state, next, revision), `step ${step}`);
      next.joins.settle();
      state = next;
      revision = committed;
      assert.deepEqual(await stored(kv), [...toKeys(state)].sort(byName), `step ${step}`);
    }
    assert.ok(lost > 10 && foreign > 10, `${lost} commits lost, ${foreign} by the other leader`);
    // A leader of the previous release (the whole document) reads the same document.
    const read = (await other.load())!;
    const sort = (d: LeaderFile) => {
      const o = JSON.parse(JSON.stringify(d));
      o.members.sort((a: Member, b: Member) => a.publicKey < b.publicKey ? -1 : 1);
      return o;
    };
    assert.deepEqual(sort(read.data), sort(state));
  } finally {
    stop();
    store.close();
    other.close();
    await kv.close();
  }
});

Deno.test("kv leader store: a commit that loses changes nothing the store knows; the batch on the newer document wins", async () => {
  const kv = new MemoryKv();
  const mine = recorded(kv);
  const a = new KvLeaderStore(mine.store, { probeMs: 0 });
  const b = new KvLeaderStore(kv, { probeMs: 0 });
  try {
    const maker = new BatchMaker(seededRandom(3));
    const r1 = (await a.commit(firstLeaderDoc(), 0))!;
    const doc1 = (await b.load())!.data;
    const held = (await a.load())!.data;
    const r2 = (await b.commit(maker.batch(doc1), r1))!;
    assert.ok(r2 > r1);
    // Without a watch, `a` still knows r1: its commit goes to the store and loses.
    const first = maker.batch(held);
    first.members.push({ ...first.members[0], name: "x", publicKey: "x=", address: "10.77.9.9" });
    assert.equal(await a.commit(first, r1), null);
    assert.equal(mine.txns.length, 2);
    // It changed nothing known: a batch on the same base goes to the store (and loses again),
    // its keys compared with r1's, not with the lost commit's (which added x).
    const second = maker.batch(held);
    assert.equal(await a.commit(second, r1), null);
    assert.equal(mine.txns.length, 3);
    assert.deepEqual(sentTxn(mine.txns[2]), wholeTxn(held, second, r1));
    const s = (await a.load())!;
    assert.equal(s.revision, r2);
    const next = maker.batch(s.data);
    next.members.push({ ...next.members[0], name: "y", publicKey: "y=", address: "10.77.9.10" });
    const r3 = (await a.commit(next, r2))!;
    assert.deepEqual(sentTxn(mine.txns[3]), wholeTxn(s.data, next, r2));
    assert.ok(sentTxn(mine.txns[3]).compare.includes("create alloc/10.77.9.10 0"));
    assert.deepEqual(await stored(kv), [...toKeys(next)].sort(byName));
    assert.equal((await b.load())!.revision, r3);
  } finally {
    a.close();
    b.close();
    await kv.close();
  }
});

Deno.test("kv leader store: a batch's commit reads only what the batch changed, not every member and join record", async () => {
  const kv = new MemoryKv();
  const store = new KvLeaderStore(kv, { probeMs: 0 });
  try {
    const doc = firstLeaderDoc();
    // Each member's address counts its reads: the whole document turned into keys reads them all.
    let reads = 0;
    for (let i = 1; i <= 1000; i++) {
      const m: Member = { ...doc.members[0], name: `n${i}`, publicKey: `K${i}=`, role: "node" };
      const address = `10.77.${i >> 8}.${(i & 255) + 2}`;
      Object.defineProperty(m, "address", {
        enumerable: true,
        get: () => {
          reads++;
          return address;
        },
      });
      doc.members.push(m);
      doc.joins.set(`K${i}=`, { token: "t", at: i, heard: false, time: i });
    }
    const r1 = (await store.commit(doc, 0))!;
    doc.joins.settle();
    const next = batchCopy(doc);
    next.members.push({ ...doc.members[0], name: "new", publicKey: "new=", address: "10.77.9.1" });
    next.joins.set("new=", { token: "t", at: 1001, heard: false, time: 1001 });
    next.joins.set("K5=", { token: "t", at: 5, heard: true, time: 1001 });
    next.version++;
    // Listing the join records whole would throw: the commit reads the fork's own entries.
    const joins = next.joins as unknown as Record<string | symbol, unknown>;
    const listed = () => {
      throw new Error("listed whole");
    };
    for (const k of ["entries", "keys", "values", Symbol.iterator]) joins[k] = listed;
    reads = 0;
    const r2 = await store.commit(next, r1);
    assert.equal(reads, 0, "no unchanged member's address read");
    for (const k of ["entries", "keys", "values", Symbol.iterator]) delete joins[k];
    assert.ok(r2 !== null && r2 > r1);
    assert.deepEqual(await stored(kv), [...toKeys(next)].sort(byName));
  } finally {
    store.close();
    await kv.close();
  }
});

Deno.test("kv leader store: its own commit comes back through the watch as the document it committed, another's read from the keys", async () => {
  const kv = new MemoryKv();
  const store = new KvLeaderStore(kv, { probeMs: 0 });
  const other = new KvLeaderStore(kv, { probeMs: 0 });
  const seen: StoreSnapshot[] = [];
  let stop = () => {};
  try {
    const first = firstLeaderDoc();
    const r1 = (await store.commit(first, 0))!;
    stop = store.watch(r1, (s) => seen.push(s));
    const next = batchCopy(first);
    next.members.push({ ...first.members[0], name: "b", publicKey: "b=", address: "10.77.9.2" });
    const r2 = (await store.commit(next, r1))!;
    assert.ok(await eventually(() => Promise.resolve(seen.length === 1), HANG_GUARD_MS));
    assert.equal(seen[0].revision, r2);
    // The watch brought it before the transaction's answer (the memory store's order): not
    // parsed again from every key.
    assert.equal(seen[0].data, next);
    // Another leader's commit is read from the keys.
    const theirs = batchCopy((await other.load())!.data);
    theirs.members.push({ ...first.members[0], name: "c", publicKey: "c=", address: "10.77.9.3" });
    const r3 = (await other.commit(theirs, r2))!;
    assert.ok(await eventually(() => Promise.resolve(seen.length === 2), HANG_GUARD_MS));
    assert.equal(seen[1].revision, r3);
    assert.notEqual(seen[1].data, theirs);
    assert.deepEqual(seen[1].data.members.map((m) => m.name), ["leader", "b", "c"]);
  } finally {
    stop();
    store.close();
    other.close();
    await kv.close();
  }
});

Deno.test("kv leader store: another leader's commit is applied by what it changed, not every key parsed again", async () => {
  const kv = new MemoryKv();
  const store = new KvLeaderStore(kv, { probeMs: 0 });
  const other = new KvLeaderStore(kv, { probeMs: 0 });
  const seen: StoreSnapshot[] = [];
  let stop = () => {};
  const parse = JSON.parse;
  try {
    const doc = firstLeaderDoc();
    for (let i = 1; i <= 1000; i++) {
      const publicKey = `K${i}=`;
      const address = `10.77.${i >> 8}.${(i & 255) + 2}`;
      doc.members.push({ ...doc.members[0], name: `n${i}`, publicKey, address, role: "node" });
      doc.joins.set(publicKey, { token: "t", at: i, heard: false, time: i });
    }
    const r1 = (await other.commit(doc, 0))!;
    const loaded = (await store.load())!;
    stop = store.watch(r1, (s) => seen.push(s));
    doc.joins.settle();
    // A join, a hello, a member that moved, a removal: 11 keys.
    const theirs = batchCopy(doc);
    theirs.members.push({
      ...doc.members[0],
      name: "new",
      publicKey: "new=",
      address: "10.77.9.1",
    });
    theirs.joins.set("new=", { token: "t", at: 1001, heard: false, time: 1001 });
    theirs.joins.set("K5=", { token: "t", at: 5, heard: true, time: 1001 });
    theirs.members[7] = { ...theirs.members[7], endpoints: ["203.0.113.7:51820"] };
    const [gone] = theirs.members.splice(9, 1);
    theirs.joins.delete(gone.publicKey);
    theirs.version++;
    // Every value the watch's apply parses (the whole key set is 3,003 keys).
    let parses = 0;
    JSON.parse = (text: string, reviver?: (this: unknown, k: string, v: unknown) => unknown) => {
      parses++;
      return parse(text, reviver);
    };
    const r2 = (await other.commit(theirs, r1))!;
    const came = await eventually(() => Promise.resolve(seen.length === 1), HANG_GUARD_MS);
    JSON.parse = parse;
    assert.ok(came);
    assert.equal(seen[0].revision, r2);
    assert.ok(parses < 30, `${parses} values parsed for another leader's commit of 11 keys`);
    // The records it did not change are the ones the store had: the leader's indexes hold.
    const record = (d: LeaderFile, key: string) => d.members.find((m) => m.publicKey === key);
    assert.equal(record(seen[0].data, "K1="), record(loaded.data, "K1="));
    assert.notEqual(record(seen[0].data, "K7="), record(loaded.data, "K7="));
    assert.deepEqual(record(seen[0].data, "K7=")?.endpoints, ["203.0.113.7:51820"]);
    assert.deepEqual(byKey(seen[0].data), byKey((await other.load())!.data));
    assert.deepEqual(byKey(seen[0].data), byKey(theirs));
  } finally {
    JSON.parse = parse;
    stop();
    store.close();
    other.close();
    await kv.close();
  }
});

Deno.test("kv leader store: with another leader committing, each watched document is the store's", async () => {
  const kv = new MemoryKv();
  const store = new KvLeaderStore(kv, { probeMs: 0 });
  const other = new KvLeaderStore(kv, { probeMs: 0 });
  // A leader of the previous release: every document read whole.
  const reader = new KvLeaderStore(kv, { probeMs: 0 });
  const rnd = seededRandom(4747);
  const maker = new BatchMaker(rnd);
  // The newest document this leader has: watched, or its own commit.
  let mine: StoreSnapshot | null = null;
  let stop = () => {};
  try {
    let theirs = firstLeaderDoc();
    let base = (await other.commit(theirs, 0))!;
    mine = (await store.load())!;
    stop = store.watch(base, (s) => {
      if (s.revision > mine!.revision) mine = s;
    });
    let ours = 0;
    let foreign = 0;
    for (let step = 0; step < 200; step++) {
      if (rnd() < 0.2) {
        // This leader commits too: its document is the base of the next foreign commit it sees.
        const at = mine;
        const next = maker.batch(at.data);
        const r = await store.commit(next, at.revision);
        if (r !== null) {
          next.joins.settle();
          if (r > mine.revision) mine = { data: next, revision: r };
          ours++;
        }
      }
      const next = maker.batch(theirs, 1 + Math.floor(rnd() * 8));
      const r = await other.commit(next, base);
      if (r === null) {
        const s = (await other.load())!;
        theirs = s.data;
        base = s.revision;
        continue;
      }
      next.joins.settle();
      theirs = next;
      base = r;
      foreign++;
      assert.ok(
        await eventually(() => Promise.resolve(mine!.revision === r), HANG_GUARD_MS),
        `step ${step}: the watch brought ${r}`,
      );
      const whole = (await reader.load())!;
      assert.equal(whole.revision, r);
      assert.deepEqual(byKey(mine.data), byKey(whole.data), `step ${step}`);
    }
    assert.ok(ours > 10 && foreign > 100, `${ours} own commits, ${foreign} by the other leader`);
  } finally {
    stop();
    store.close();
    other.close();
    reader.close();
    await kv.close();
  }
});
