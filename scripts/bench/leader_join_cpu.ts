/**
 * The leader's own CPU a join at N members, in one process: a LeaderCore (file store in a temporary
 * state directory) and its LeaderService over a fake channel and device, filled to N - 2,000
 * members, then 2,000 joins with 64 in flight as the fleet bench's generator offers them. What
 * grows from 1,000 to 10,000 here is per-batch work over every member (the fleet bench's leader
 * adds the datagrams, which a join in a full mesh must cost). Prints one JSON line.
 *
 *   deno run -A --v8-flags=<weft's, lib/agent/jit.ts> scripts/bench/leader_join_cpu.ts N [TREE]
 *     [--store kv|etcd] [--leaders 2]
 *
 * `TREE`: another checkout's root to measure (a tree before a change), by default this one's.
 * `--store kv` keeps the state in a key-value store in this process (lib/store/memory_kv.ts,
 * etcd's semantics) through the store etcd has (lib/mesh/store/kv_leader_store.ts): its
 * transactions are bounded (30 changes a commit), so a commit's own work shows; `--store etcd`
 * in a real etcd started for the run (tests/fixtures/etcd.ts). The JSON line then says the
 * commits made during the measured joins. `--leaders 2` (with a store of keys) opens a second
 * leader on the same store, with its own store client and service, that takes no joins: each of
 * the first's commits reaches it through its watch, as another leader's. The JSON line then says
 * what it spent on them during the measured joins: `foreign.msPerCommit`, the time in its watch's
 * callbacks per revision applied (the store's apply, then the core taking the document in:
 * `adoptMsPerCommit`); synchronous work, so its time is its CPU, but for preemption.
 * @module
 */

import type { LeaderCore } from "../../lib/mesh/leader/core.ts";
import type { LeaderStore } from "../../lib/mesh/store/store.ts";

/** The value of `--name` (and the arguments without it). */
function option(args: string[], name: string): [string | undefined, string[]] {
  const i = args.indexOf(name);
  return i < 0 ? [undefined, args] : [args[i + 1], args.filter((_, j) => j !== i && j !== i + 1)];
}
const [storeFlag, rest] = option(Deno.args, "--store");
const [leadersFlag, args] = option(rest, "--leaders");
const storeKind = storeFlag ?? "file";
if (!["file", "kv", "etcd"].includes(storeKind)) throw new Error("--store: kv or etcd");
const leaders = Number(leadersFlag ?? "1");
if (leaders !== 1 && leaders !== 2) throw new Error("--leaders: 1 or 2");
if (leaders === 2 && storeKind === "file") throw new Error("--leaders 2: with --store kv or etcd");
const n = Number(args[0] ?? "10000");
if (!Number.isInteger(n) || n < 2001) throw new Error("N: an integer above 2,000");
const tree = args[1] ?? new URL("../..", import.meta.url).pathname;
const measured = 2000;

const { LeaderCore: Core } = await import(`${tree}/lib/mesh/leader/core.ts`);
const { LeaderService } = await import(`${tree}/lib/mesh/leader/service.ts`);
const { FileStore } = await import(`${tree}/lib/mesh/store/file_store.ts`);
const { StateDir } = await import(`${tree}/lib/mesh/state/state.ts`);
const { nullLogger } = await import(`${tree}/lib/log/logger.ts`);
const { encodeBase64 } = await import(`${tree}/lib/crypto/base64.ts`);

const key = () => encodeBase64(crypto.getRandomValues(new Uint8Array(32)));
/** This process's CPU so far, ms (user and system, /proc). */
const cpuMs = () => {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
};

const { KvLeaderStore } = await import(`${tree}/lib/mesh/store/kv_leader_store.ts`);
const { MemoryKv } = await import(`${tree}/lib/store/memory_kv.ts`);
const { EtcdStore } = await import(`${tree}/drivers/etcd/store.ts`);
const { parseEtcdUrl } = await import(`${tree}/drivers/etcd/url.ts`);
const { startEtcd } = await import(`${tree}/tests/fixtures/etcd.ts`);

const dir = await Deno.makeTempDir({ prefix: "weft-leader-join-cpu-" });
const etcd = storeKind === "etcd" ? await startEtcd() : null;
const etcdKv = etcd ? new EtcdStore({ url: parseEtcdUrl(etcd.url) }) : null;
// The second leader's client of the store (etcd: a connection of its own).
const secondKv = leaders === 2 && etcd ? new EtcdStore({ url: parseEtcdUrl(etcd.url) }) : null;
try {
  const state = new StateDir(dir);
  await state.ensure();
  const leaderKey = key();
  const kv = storeKind === "file" ? null : etcdKv ?? new MemoryKv();
  const store: LeaderStore = kv === null
    ? new FileStore(state)
    : new KvLeaderStore(kv, { probeMs: 0 });
  let commits = 0;
  const commit = store.commit.bind(store);
  store.commit = (d, base) => {
    commits++;
    return commit(d, base);
  };
  const core: LeaderCore = await Core.open(store, {
    network: "10.0.0.0/16",
    hostname: "leader",
    publicKey: leaderKey,
    endpoints: ["192.0.2.1:51820"],
  });
  const service = new LeaderService({
    core,
    device: { publicKey: leaderKey, peer: () => undefined },
    channel: { send: () => {}, sendEncoded: () => {}, listen: () => () => {} },
    logger: nullLogger,
    applyView: () => {},
    usePolicy: () => {},
  });
  service.start();
  const second = leaders === 2 ? await secondLeader(secondKv ?? kv!) : null;
  const token = await core.createToken({ ttlMs: 3_600_000, uses: null, labels: {} });
  let i = 0;
  const join = () => {
    const k = i++;
    return core.join({
      tokenId: token.id,
      secret: token.secret,
      publicKey: key(),
      hostname: `n${k}`,
      labels: {},
      services: [],
      endpoints: [`198.51.100.${k % 250 + 1}:${10000 + (k % 50000)}`],
      time: Date.now(),
    }, null);
  };
  // `count` joins, `inFlight` unanswered at once.
  const joins = async (count: number, inFlight: number) => {
    let started = 0;
    const one = async () => {
      while (started < count) {
        started++;
        await join();
      }
    };
    await Promise.all(Array.from({ length: inFlight }, one));
  };
  await joins(n - measured, 512);
  const commits0 = commits;
  second?.reset();
  const c0 = cpuMs();
  const t0 = performance.now();
  await joins(measured, 64);
  console.log(JSON.stringify({
    members: n,
    store: storeKind,
    commits: commits - commits0,
    cpuMsPerJoin: (cpuMs() - c0) / measured,
    wallMsPerJoin: Math.round((performance.now() - t0) / measured * 100) / 100,
    heapMiB: Math.round(Deno.memoryUsage().heapUsed / 2 ** 20),
    load: Deno.loadavg()[0],
    ...(second ? { foreign: second.figures() } : {}),
  }));
  second?.close();
  service.close();
  core.close();
  store.close?.();
} finally {
  await secondKv?.close();
  await etcdKv?.close();
  await etcd?.destroy();
  await Deno.remove(dir, { recursive: true });
}

/**
 * A second leader on `kv` (see the module docs), timing what its watch does: the store's
 * callbacks (apply and adopt) and, inside them, the core's.
 */
async function secondLeader(kv: import("../../lib/store/kv.ts").KvStore) {
  let watchMs = 0;
  let adoptMs = 0;
  let revisions = 0;
  const timed: typeof kv = {
    get: (k) => kv.get(k),
    range: (p, l) => kv.range(p, l),
    put: (k, v, l) => kv.put(k, v, l),
    delete: (spec) => kv.delete(spec),
    txn: (t) => kv.txn(t),
    watch: (spec, from, onEvents) =>
      kv.watch(spec, from, (events, revision) => {
        const t = performance.now();
        onEvents(events, revision);
        watchMs += performance.now() - t;
        revisions += new Set(events.map((e) => e.kv.modRevision)).size;
      }),
    grant: (ttl) => kv.grant(ttl),
    keepAlive: (id) => kv.keepAlive(id),
    revoke: (id) => kv.revoke(id),
    close: () => kv.close(),
  };
  const store: LeaderStore = new KvLeaderStore(timed, { probeMs: 0 });
  const watch = store.watch.bind(store);
  store.watch = (from, onChange) =>
    watch(from, (s) => {
      const t = performance.now();
      onChange(s);
      adoptMs += performance.now() - t;
    });
  const publicKey = key();
  const core: LeaderCore = await Core.open(store, {
    network: "10.0.0.0/16",
    hostname: "leader2",
    publicKey,
    endpoints: ["192.0.2.2:51820"],
  });
  const service = new LeaderService({
    core,
    device: { publicKey, peer: () => undefined },
    channel: { send: () => {}, sendEncoded: () => {}, listen: () => () => {} },
    logger: nullLogger,
    applyView: () => {},
    usePolicy: () => {},
  });
  service.start();
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    reset() {
      watchMs = adoptMs = revisions = 0;
    },
    figures: () => ({
      revisions,
      msPerCommit: round(watchMs / revisions),
      adoptMsPerCommit: round(adoptMs / revisions),
    }),
    close() {
      service.close();
      core.close();
      store.close?.();
    },
  };
}
