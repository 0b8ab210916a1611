/**
 * KvLeaderStore (lib/mesh/store/kv_leader_store.ts) on a real etcd started by each test: two
 * stores on one etcd race commits (one wins, the loser's base is stale), each watch sees the
 * other's commits, a killed etcd makes commits reject with the store's error and health say so,
 * and once etcd is back health is ok again and the watch resumes by itself.
 */

import assert from "node:assert/strict";
import { EtcdStore } from "../../drivers/etcd/store.ts";
import { parseEtcdUrl } from "../../drivers/etcd/url.ts";
import { StoreError } from "../../lib/store/kv.ts";
import { KvLeaderStore } from "../../lib/mesh/store/kv_leader_store.ts";
import type { StoreSnapshot } from "../../lib/mesh/store/store.ts";
import type { LeaderFile } from "../../lib/mesh/state/state.ts";
import { RecordMap } from "../../lib/mesh/state/record_map.ts";
import type { Member } from "../../lib/members/member.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";
import { LeaderCore } from "../../lib/mesh/leader/core.ts";
import { type EtcdCluster, hasEtcd, startEtcd } from "../fixtures/etcd.ts";
import { HANG_GUARD_MS } from "../fixtures/netns.ts";
import { BatchMaker, byKey, firstLeaderDoc } from "../fixtures/leader_batches.ts";
import { seededRandom } from "../fixtures/prng.ts";

const ETCD_OK = await hasEtcd();

function etcdTest(name: string, fn: () => Promise<void>) {
  Deno.test({ name, ignore: !ETCD_OK, sanitizeOps: false, sanitizeResources: false, fn });
}

function member(name: string, address: string, role: Member["role"] = "node"): Member {
  return {
    name,
    publicKey: generateKeyPair().publicKey,
    address,
    endpoints: ["192.0.2.1:51820"],
    labels: {},
    role,
    services: [],
    joinedAt: 1,
  };
}

function firstDoc(): LeaderFile {
  return {
    format: 1,
    network: "10.77.0.0/24",
    version: 1,
    members: [member("leader", "10.77.0.1", "leader")],
    tokens: [],
    joins: new RecordMap(),
  };
}

function withMember(d: LeaderFile, m: Member): LeaderFile {
  // structuredClone does not copy a RecordMap's entries: the join records are shared (each
  // record is replaced, never edited).
  const next = { ...structuredClone({ ...d, joins: undefined }), joins: new RecordMap(d.joins) };
  next.members.push(m);
  next.version++;
  return next;
}

/** A cluster, two etcd clients and a KvLeaderStore on each; all closed after `fn`. */
async function withStores(
  fn: (a: KvLeaderStore, b: KvLeaderStore, cluster: EtcdCluster) => Promise<void>,
): Promise<void> {
  const cluster = await startEtcd();
  const kvs = [0, 1].map(() => new EtcdStore({ url: parseEtcdUrl(cluster.url), timeoutMs: 2000 }));
  const stores = kvs.map((kv) =>
    new KvLeaderStore(kv, { name: cluster.url, probeMs: 200, retryMs: 100 })
  );
  try {
    await fn(stores[0], stores[1], cluster);
  } finally {
    for (const s of stores) s.close();
    for (const kv of kvs) await kv.close();
    await cluster.destroy();
  }
}

/** Resolves with the first snapshot `ok` accepts that `store`'s watch from `from` reports. */
function watched(
  store: KvLeaderStore,
  from: number,
  ok: (s: StoreSnapshot) => boolean,
): { promise: Promise<StoreSnapshot>; stop: () => void } {
  let stop = () => {};
  const promise = new Promise<StoreSnapshot>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no such snapshot watched")), HANG_GUARD_MS);
    stop = store.watch(from, (s) => {
      if (!ok(s)) return;
      clearTimeout(timer);
      resolve(s);
    });
  });
  return { promise, stop: () => stop() };
}

/** Waits until `store`'s health satisfies `ok` (polled: health is a value, not an event). */
async function healthUntil(store: KvLeaderStore, ok: (h: boolean) => boolean): Promise<void> {
  const until = Date.now() + HANG_GUARD_MS;
  while (!ok(store.health().ok)) {
    if (Date.now() > until) throw new Error(`health stayed ${JSON.stringify(store.health())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

etcdTest(
  "kv leader store: two stores race commits on one etcd; the loser's base is stale",
  async () => {
    await withStores(async (a, b) => {
      assert.equal(await a.load(), null);
      assert.equal(await b.load(), null);
      const doc = firstDoc();
      // Both create the document on an empty prefix: one wins.
      const [ra, rb] = await Promise.all([a.commit(doc, 0), b.commit(doc, 0)]);
      assert.ok((ra === null) !== (rb === null), `one of ${ra}, ${rb} wins`);
      const [winner, loser] = ra !== null ? [a, b] : [b, a];
      const rev = (ra ?? rb)!;
      // The loser loads and sees the winner's document at its revision.
      const seen = await loser.load();
      assert.equal(seen?.revision, rev);
      assert.deepEqual(seen?.data, doc);
      // Two members claim one address on the same base: the second cannot commit.
      const x = withMember(doc, member("x", "10.77.0.2"));
      const y = withMember(doc, member("y", "10.77.0.2"));
      const [rx, ry] = await Promise.all([winner.commit(x, rev), loser.commit(y, rev)]);
      assert.ok((rx === null) !== (ry === null), `one of ${rx}, ${ry} wins`);
      const after = await a.load();
      assert.equal(after?.data.members.filter((m) => m.address === "10.77.0.2").length, 1);
      // A base older than what the store knows is null at once, and nothing was written.
      assert.equal(await a.commit(withMember(doc, member("z", "10.77.0.3")), rev), null);
      assert.equal((await b.load())?.revision, after?.revision);
      // The stored document reads back whole, members in the order they were added.
      assert.deepEqual((await b.load())?.data.members.map((m) => m.name), [
        "leader",
        rx !== null ? "x" : "y",
      ]);
    });
  },
);

etcdTest("kv leader store: a watch sees the other store's commits", async () => {
  await withStores(async (a, b) => {
    const doc = firstDoc();
    const r0 = (await a.commit(doc, 0))!;
    assert.ok(r0 > 0);
    const loadedB = (await b.load())!;
    const w = watched(a, r0, (s) => s.data.members.length === 3);
    try {
      const r1 = (await b.commit(withMember(loadedB.data, member("n1", "10.77.0.2")), r0))!;
      const d1 = (await b.load())!.data;
      const next = withMember(d1, member("n2", "10.77.0.3"));
      next.tokens.push({
        id: "0a0b0c0d0e0f",
        secretHash: "h",
        createdAt: 1,
        expiresAt: 2,
        usesLeft: 1,
        labels: {},
        revoked: false,
      });
      const r2 = (await b.commit(next, r1))!;
      const s = await w.promise;
      assert.equal(s.revision, r2);
      assert.deepEqual(s.data, next);
      // a follows from what it watched: its next commit is on b's revision.
      const r3 = await a.commit(withMember(s.data, member("n3", "10.77.0.4")), r2);
      assert.ok(r3 !== null && r3 > r2);
    } finally {
      w.stop();
    }
  });
});

etcdTest(
  "kv leader store: another store's random commits, watched, are each the document a whole read gives",
  async () => {
    await withStores(async (a, b, cluster) => {
      const reader = new KvLeaderStore(new EtcdStore({ url: parseEtcdUrl(cluster.url) }), {
        probeMs: 0,
      });
      const maker = new BatchMaker(seededRandom(47));
      let theirs = firstLeaderDoc();
      let base = (await b.commit(theirs, 0))!;
      let last = (await a.load())!;
      const seen: StoreSnapshot[] = [];
      const stop = a.watch(base, (s) => seen.push(s));
      try {
        for (let step = 0; step < 60; step++) {
          const next = maker.batch(theirs, 8);
          const r = (await b.commit(next, base))!;
          assert.ok(r > base, `step ${step}`);
          next.joins.settle();
          theirs = next;
          base = r;
          const until = Date.now() + HANG_GUARD_MS;
          while (seen.at(-1)?.revision !== r) {
            if (Date.now() > until) throw new Error(`step ${step}: the watch never brought ${r}`);
            await new Promise((r) => setTimeout(r, 5));
          }
          const s = seen.at(-1)!;
          assert.deepEqual(byKey(s.data), byKey((await reader.load())!.data), `step ${step}`);
          // Applied to the document before, not read again from every key: the leader's record
          // (no batch changes it) is the same object.
          const leader = (d: LeaderFile) => d.members.find((m) => m.role === "leader");
          assert.equal(leader(s.data), leader(last.data), `step ${step}`);
          last = s;
        }
      } finally {
        stop();
        reader.close();
        await reader.kv.store.close();
      }
    });
  },
);

etcdTest(
  "kv leader store: etcd killed: commits reject, health says so; back: health ok, the watch resumes",
  async () => {
    await withStores(async (a, b, cluster) => {
      const doc = firstDoc();
      const r0 = (await a.commit(doc, 0))!;
      await b.load();
      const w = watched(a, r0, (s) => s.data.members.some((m) => m.name === "after"));
      try {
        await cluster.members[0].kill();
        await assert.rejects(
          b.commit(withMember(doc, member("lost", "10.77.0.2")), r0),
          (e: Error) => {
            assert.ok(e instanceof StoreError, String(e));
            assert.ok(e.kind === "unreachable" || e.kind === "no-quorum", e.kind);
            assert.match(e.message, /^the store (is unreachable|has no quorum) \(etcd: /);
            return true;
          },
        );
        const h = b.health();
        assert.equal(h.ok, false);
        assert.match(h.error!, /the store (is unreachable|has no quorum)/);
        assert.equal(h.store, cluster.url);
        await healthUntil(a, (ok) => !ok); // the probe (and the broken watch) tell a too
        await cluster.members[0].restart();
        await healthUntil(a, (ok) => ok);
        await healthUntil(b, (ok) => ok);
        // Nothing was written while it was down; b's base is still good.
        const r1 = await b.commit(withMember(doc, member("after", "10.77.0.2")), r0);
        assert.ok(r1 !== null);
        const s = await w.promise;
        assert.equal(s.revision, r1);
        assert.equal(a.health().revision, r1);
      } finally {
        w.stop();
      }
    });
  },
);

etcdTest(
  "kv leader store: a leader restarted catches up from etcd at open; a running one follows",
  async () => {
    await withStores(async (a, b) => {
      const init = {
        network: "10.77.0.0/24",
        hostname: "leader",
        publicKey: generateKeyPair().publicKey,
        endpoints: ["192.0.2.1:51820"],
      };
      const grant = { ttlMs: 60_000, uses: 1, labels: {} };
      // The leader runs on store a, makes a token, and stops.
      const first = await LeaderCore.open(a, init);
      const t1 = await first.createToken(grant);
      first.close();
      // Meanwhile the mesh changes through another client of the same etcd (b).
      const other = await LeaderCore.open(b, init);
      const t2 = await other.createToken(grant);
      // Restarted on a (whose cached document is older): it serves what etcd holds, from the start.
      const again = await LeaderCore.open(a, init);
      try {
        assert.deepEqual(again.listTokens().map((t) => t.id).sort(), [t1.id, t2.id].sort());
        // And while it runs, a change made through b reaches it through the watch.
        const seen = new Promise<void>((resolve) => {
          const stop = again.onTokens(() => {
            if (again.listTokens().length !== 3) return;
            stop();
            resolve();
          });
        });
        const t3 = await other.createToken(grant);
        await seen;
        assert.ok(again.listTokens().some((t) => t.id === t3.id));
      } finally {
        again.close();
        other.close();
      }
    });
  },
);

etcdTest(
  "kv leader store: a burst of joins fits etcd's transactions; a whole large mesh is written in parts",
  async () => {
    await withStores(async (a, b) => {
      const core = await LeaderCore.open(a, {
        network: "10.77.0.0/22",
        hostname: "leader",
        publicKey: generateKeyPair().publicKey,
        endpoints: ["192.0.2.1:51820"],
      });
      try {
        const token = await core.createToken({ ttlMs: 60_000, uses: null, labels: {} });
        // 120 joins at once: more than one etcd transaction (128 operations) could carry.
        const results = await Promise.all(
          Array.from({ length: 120 }, (_, i) =>
            core.join({
              tokenId: token.id,
              secret: token.secret,
              publicKey: generateKeyPair().publicKey,
              hostname: `n${i}`,
              labels: {},
              services: [],
              endpoints: [],
              time: Date.now(),
            }, null)),
        );
        for (const r of results) assert.ok(r.ok, r.ok ? "" : r.error);
        const addresses = new Set(core.view().members.map((m) => m.address));
        assert.equal(addresses.size, 121);
        const loaded = await b.load();
        assert.equal(loaded!.data.members.length, 121, "etcd holds every join");
      } finally {
        core.close();
      }
    });
    // A document of 300 members into an empty prefix (a migration) goes in several transactions.
    await withStores(async (a, b) => {
      let d = firstDoc();
      for (let i = 2; i < 302; i++) {
        d = withMember(d, member(`m${i}`, `10.77.${i >> 8}.${i & 255}`));
      }
      d.network = "10.77.0.0/22";
      const revision = await a.commit(d, 0);
      assert.ok(revision !== null && revision > 0);
      const loaded = await b.load();
      assert.equal(loaded!.revision, revision);
      assert.equal(loaded!.data.members.length, 301);
      // Another first document cannot be written over it.
      assert.equal(await b.commit(firstDoc(), 0), null);
    });
  },
);
