/**
 * drivers/etcd against a real etcd (Debian's etcd-server) started by each test on loopback:
 * reads and writes, compare-and-swap, watches, leases, failover between endpoints, TLS, bounded
 * answers, and a 3-member cluster that loses its quorum.
 */

import assert from "node:assert/strict";
import { EtcdStore, type EtcdTls } from "../../drivers/etcd/store.ts";
import { parseEtcdUrl } from "../../drivers/etcd/url.ts";
import { StoreError, type WatchEvent } from "../../lib/store/kv.ts";
import { type EtcdCluster, hasEtcd, startEtcd } from "../fixtures/etcd.ts";
import { freePort } from "../fixtures/procs.ts";
import { HANG_GUARD_MS } from "../fixtures/netns.ts";

const ETCD_OK = await hasEtcd();

function etcdTest(name: string, fn: () => Promise<void>) {
  Deno.test({ name, ignore: !ETCD_OK, sanitizeOps: false, sanitizeResources: false, fn });
}

/** Runs `fn` with a started cluster and a client of it, and removes both after. */
async function withEtcd(
  opts: { members?: number; tls?: boolean; timeoutMs?: number; maxAnswerBytes?: number },
  fn: (store: EtcdStore, cluster: EtcdCluster) => Promise<void>,
): Promise<void> {
  const cluster = await startEtcd(opts);
  const tls: EtcdTls | undefined = cluster.tls;
  const store = new EtcdStore({
    url: parseEtcdUrl(cluster.url),
    tls,
    timeoutMs: opts.timeoutMs,
    maxAnswerBytes: opts.maxAnswerBytes,
  });
  try {
    await fn(store, cluster);
  } finally {
    await store.close();
    await cluster.destroy();
  }
}

/** A promise and its resolver, with a guard so a missing event fails instead of hanging. */
function event<T>(what: string): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<T>((res, rej) => {
    resolve = (v) => {
      clearTimeout(timer);
      res(v);
    };
    timer = setTimeout(
      () => rej(new Error(`${what}: not within ${HANG_GUARD_MS} ms`)),
      HANG_GUARD_MS,
    );
  });
  return { promise, resolve };
}

/** Retries `fn` while it fails with a transient StoreError (an election), within the guard. */
async function untilStored<T>(fn: () => Promise<T>): Promise<T> {
  const until = Date.now() + HANG_GUARD_MS;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof StoreError && e.transient) || Date.now() > until) throw e;
    }
  }
}

async function storeError(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof StoreError, `expected a StoreError, got ${e}`);
    return e;
  }
  throw new Error("expected the call to fail");
}

etcdTest("etcd store: put, get, range by prefix, delete", async () => {
  await withEtcd({}, async (store) => {
    const a = await store.put("/weft/members/a", '{"ip":"10.0.0.1"}');
    await store.put("/weft/members/b", "β");
    await store.put("/weft/other", "x");
    const got = await store.get("/weft/members/a");
    assert.equal(got.kv?.value, '{"ip":"10.0.0.1"}');
    assert.equal(got.kv?.version, 1);
    assert.equal(got.kv?.modRevision, a.revision);
    assert.equal((await store.get("/weft/missing")).kv, null);
    const r = await store.range("/weft/members/");
    assert.deepEqual(r.kvs.map((kv) => [kv.key, kv.value]), [
      ["/weft/members/a", '{"ip":"10.0.0.1"}'],
      ["/weft/members/b", "β"],
    ]);
    assert.ok(r.revision >= a.revision + 2);
    const limited = await store.range("/weft/", 1);
    assert.equal(limited.kvs.length, 1);
    assert.equal(limited.more, true);
    assert.equal((await store.delete({ key: "/weft/members/", prefix: true })).deleted, 2);
    assert.deepEqual((await store.range("/weft/")).kvs.map((kv) => kv.key), ["/weft/other"]);
    assert.equal((await store.delete({ key: "/weft/other" })).deleted, 1);
  });
});

etcdTest("etcd store: a transaction commits when its compares hold and not otherwise", async () => {
  await withEtcd({}, async (store) => {
    // Take an address only if nobody has: create revision 0 means the key is missing.
    const claim = (owner: string) =>
      store.txn({
        compare: [{ key: "/weft/ip/10.0.0.2", target: "create", op: "=", value: 0 }],
        then: [{ type: "put", key: "/weft/ip/10.0.0.2", value: owner }],
        otherwise: [{ type: "get", key: "/weft/ip/10.0.0.2" }],
      });
    const first = await claim("node-1");
    assert.equal(first.succeeded, true);
    assert.deepEqual(first.results, [{ type: "put" }]);
    const second = await claim("node-2");
    assert.equal(second.succeeded, false);
    assert.equal(second.results[0].type, "get");
    assert.equal(second.results[0].type === "get" && second.results[0].kvs[0].value, "node-1");
    assert.equal((await store.get("/weft/ip/10.0.0.2")).kv?.value, "node-1");

    // A one-use token: spend it only at the mod revision it was read at.
    await store.put("/weft/token/t", "uses=1");
    const read = (await store.get("/weft/token/t")).kv!;
    const spend = () =>
      store.txn({
        compare: [
          { key: "/weft/token/t", target: "mod", op: "=", value: read.modRevision },
          { key: "/weft/token/t", target: "value", op: "=", value: "uses=1" },
        ],
        then: [{ type: "delete", key: "/weft/token/t" }, {
          type: "put",
          key: "/weft/j",
          value: "1",
        }],
      });
    const spent = await spend();
    assert.equal(spent.succeeded, true);
    assert.deepEqual(spent.results, [{ type: "delete", deleted: 1 }, { type: "put" }]);
    const again = await spend();
    assert.equal(again.succeeded, false);
    assert.deepEqual(again.results, []);
  });
});

etcdTest(
  "etcd store: a watch sees another client's put and delete, and from a revision",
  async () => {
    await withEtcd({}, async (store, cluster) => {
      const other = new EtcdStore({ url: parseEtcdUrl(cluster.url) });
      try {
        const before = await store.put("/weft/members/old", "1");
        const seen: WatchEvent[] = [];
        const got = event<void>("the watch's events");
        const watch = await store.watch({ key: "/weft/members/", prefix: true }, 0, (events) => {
          seen.push(...events);
          if (seen.length === 2) got.resolve();
        });
        await other.put("/weft/members/n1", "a");
        await other.put("/weft/elsewhere", "not watched");
        await other.delete({ key: "/weft/members/n1" });
        await got.promise;
        assert.deepEqual(seen.map((e) => [e.type, e.kv.key, e.kv.value]), [
          ["put", "/weft/members/n1", "a"],
          ["delete", "/weft/members/n1", ""],
        ]);
        watch.cancel();
        await watch.closed;

        // From a past revision: the history is replayed.
        const replay: string[] = [];
        const all = event<void>("the replayed events");
        const w2 = await store.watch(
          { key: "/weft/members/", prefix: true },
          before.revision,
          (es) => {
            for (const e of es) replay.push(`${e.type} ${e.kv.key}`);
            if (replay.length === 3) all.resolve();
          },
        );
        await all.promise;
        assert.deepEqual(replay, [
          "put /weft/members/old",
          "put /weft/members/n1",
          "delete /weft/members/n1",
        ]);
        w2.cancel();
        await w2.closed;
      } finally {
        await other.close();
      }
    });
  },
);

etcdTest(
  "etcd store: a lease's key goes when the lease expires, at once when revoked",
  async () => {
    await withEtcd({}, async (store) => {
      const lease = await store.grant(2);
      assert.ok(lease.id !== "" && lease.ttl >= 2, JSON.stringify(lease));
      const put = await store.put("/weft/leader/svc", "node-1", lease.id);
      assert.equal((await store.get("/weft/leader/svc")).kv?.lease, lease.id);
      assert.ok(await store.keepAlive(lease.id) > 0);
      const gone = event<void>("the lease's expiry");
      const w = await store.watch({ key: "/weft/leader/svc" }, put.revision + 1, (es) => {
        if (es.some((e) => e.type === "delete")) gone.resolve();
      });
      await gone.promise; // no more keepalives: etcd expires the lease and deletes the key
      w.cancel();
      assert.equal((await store.get("/weft/leader/svc")).kv, null);
      assert.ok(await store.keepAlive(lease.id) <= 0, "an expired lease cannot be renewed");

      const l2 = await store.grant(60);
      await store.put("/weft/leader/svc", "node-2", l2.id);
      await store.revoke(l2.id);
      assert.equal((await store.get("/weft/leader/svc")).kv, null);
      const bad = await storeError(store.put("/weft/x", "y", l2.id));
      assert.equal(bad.kind, "request");
      assert.match(bad.message, /lease not found/);
    });
  },
);

etcdTest("etcd store: fails over to the next endpoint, and says when none answers", async () => {
  await withEtcd({}, async (_store, cluster) => {
    const dead = `127.0.0.1:${freePort("tcp")}`;
    const live = cluster.members[0].endpoint;
    const store = new EtcdStore({ url: parseEtcdUrl(`etcd://${dead},${live}`) });
    try {
      await store.put("/weft/k", "v");
      assert.equal(store.endpoint, live);
      assert.equal((await store.get("/weft/k")).kv?.value, "v");
      const w = await store.watch({ key: "/weft/k" }, 0, () => {});
      w.cancel();
      await w.closed;
    } finally {
      await store.close();
    }
    const gone = new EtcdStore({ url: parseEtcdUrl(`etcd://${dead}`) });
    try {
      const e = await storeError(gone.get("/weft/k"));
      assert.equal(e.kind, "unreachable");
      assert.match(e.message, /^the store is unreachable \(etcd: 127\.0\.0\.1:\d+: /);
      assert.equal((await storeError(gone.watch({ key: "/" }, 0, () => {}))).kind, "unreachable");
    } finally {
      await gone.close();
    }
  });
});

etcdTest("etcd store: HTTPS with a CA and a client certificate, to an IP address", async () => {
  await withEtcd({ tls: true }, async (store, cluster) => {
    await store.put("/weft/tls", "yes");
    assert.equal((await store.get("/weft/tls")).kv?.value, "yes");
    const seen = event<string>("a watch over TLS");
    const w = await store.watch({ key: "/weft/tls" }, 0, (es) => seen.resolve(es[0].kv.value));
    await store.put("/weft/tls", "again");
    assert.equal(await seen.promise, "again");
    w.cancel();
    // Without the client certificate the member refuses the handshake.
    const anon = new EtcdStore({ url: parseEtcdUrl(cluster.url), tls: { ca: cluster.tls!.ca } });
    try {
      assert.equal((await storeError(anon.get("/weft/tls"))).kind, "unreachable");
    } finally {
      await anon.close();
    }
  });
});

etcdTest("etcd store: an answer or a watched event over the bound is an error", async () => {
  await withEtcd({ maxAnswerBytes: 2048 }, async (store) => {
    const big = "x".repeat(4096);
    const seen = event<void>("the watch's end");
    let closedWith: unknown;
    const w = await store.watch({ key: "/weft/big" }, 0, () => seen.resolve());
    w.closed.catch((e) => {
      closedWith = e;
      seen.resolve();
    });
    await store.put("/weft/big", big);
    await seen.promise;
    assert.ok(closedWith instanceof StoreError && closedWith.kind === "protocol", `${closedWith}`);
    const e = await storeError(store.get("/weft/big"));
    assert.equal(e.kind, "protocol");
    assert.match(e.message, /over 2048 bytes/);
    await store.put("/weft/small", "fine");
    assert.equal((await store.get("/weft/small")).kv?.value, "fine");
  });
});

etcdTest(
  "etcd store: a 3-member cluster that loses 2 refuses a write with the no-quorum error",
  async () => {
    const timeoutMs = 4000;
    await withEtcd({ members: 3, timeoutMs }, async (store, cluster) => {
      await store.put("/weft/k", "before");
      // One member gone: the other two still commit, once they have a leader again (a write
      // caught in the election may fail with the no-quorum error; a later one succeeds).
      await cluster.members[0].kill();
      await untilStored(() => store.put("/weft/k", "one down"));
      assert.equal((await store.get("/weft/k")).kv?.value, "one down");
      // A watch on the member that will survive.
      const survivor = new EtcdStore({
        url: parseEtcdUrl(`etcd://${cluster.members[2].endpoint}`),
      });
      const watchEnd = event<unknown>("the watch's end on quorum loss");
      const w = await survivor.watch({ key: "/weft/", prefix: true }, 0, () => {});
      w.closed.then(() => watchEnd.resolve("resolved"), (e) => watchEnd.resolve(e));
      await cluster.members[1].kill();
      const t0 = Date.now();
      const e = await storeError(store.put("/weft/k", "no quorum"));
      const took = Date.now() - t0;
      assert.equal(e.kind, "no-quorum", e.message);
      assert.match(e.message, /^the store has no quorum \(etcd: /);
      // Bounded by the call's deadline (a guard against a hang, with room for a loaded machine).
      assert.ok(took < timeoutMs + 2000, `the write took ${took} ms`);
      const r = await storeError(store.get("/weft/k"));
      assert.equal(r.kind, "no-quorum", r.message);
      // The watch on the survivor ends with the same error once it sees it has no leader.
      const ended = await watchEnd.promise;
      assert.ok(ended instanceof StoreError && ended.kind === "no-quorum", `${ended}`);
      await survivor.close();
    });
  },
);
