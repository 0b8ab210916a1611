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
import { type KvStore, StoreError } from "../../store/kv.ts";
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
