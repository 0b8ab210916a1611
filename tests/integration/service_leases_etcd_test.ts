/**
 * Service-leader leases with several leaders on a real etcd (Debian's etcd-server) started by
 * the test on loopback: two arbiters, each with its own etcd client, candidates asking at both.
 * One holder at a time; a holder that moved renews at the other leader and keeps its lease; a
 * holder that stops renewing loses it when etcd's lease runs out, and the candidate waiting at
 * the other leader gets it with a higher fencing token; with etcd gone nothing is renewed.
 */

import assert from "node:assert/strict";
import { EtcdStore } from "../../drivers/etcd/store.ts";
import { parseEtcdUrl } from "../../drivers/etcd/url.ts";
import { generateKeyPair } from "../../lib/crypto/keys.ts";
import { type ArbiterMember, LeaseArbiter } from "../../lib/services/lease/arbiter.ts";
import { KvLeaseBook } from "../../lib/services/lease/kv_book.ts";
import type { LeaseNotice } from "../../lib/services/lease/protocol.ts";
import { hasEtcd, startEtcd } from "../fixtures/etcd.ts";
import { HANG_GUARD_MS } from "../fixtures/netns.ts";

const ETCD_OK = await hasEtcd();

/** Short leases (etcd's shortest is about 2 s), asked for every 500 ms. */
const TIMING = { ttlMs: 2000, renewMs: 500, marginMs: 200 };

/** Waits until `cond` holds (checked as things happen), failing after the hang guard. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + HANG_GUARD_MS;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${HANG_GUARD_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test({
  name: "service leases on etcd: two leaders, one holder, renewal anywhere, expiry, fencing",
  ignore: !ETCD_OK,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const cluster = await startEtcd();
    const stores = [0, 1].map(() => new EtcdStore({ url: parseEtcdUrl(cluster.url) }));
    const A = generateKeyPair().publicKey;
    const B = generateKeyPair().publicKey;
    const members = new Map<string, ArbiterMember>([
      [A, { name: "a", services: [{ name: "svc" }] }],
      [B, { name: "b", services: [{ name: "svc" }] }],
    ]);
    /** Every answer (a notice with `n`) each member got, in order. */
    const answers = new Map<string, LeaseNotice[]>([[A, []], [B, []]]);
    const arbiters = stores.map((store) =>
      new LeaseArbiter({
        now: () => performance.now(),
        member: (k) => members.get(k),
        healthy: () => true,
        send: (to, msg) => {
          if (to !== null && msg.t === "lease" && msg.n !== undefined) answers.get(to)!.push(msg);
        },
        timing: TIMING,
        book: new KvLeaseBook({ store, prefix: "/weft/", ttlMs: TIMING.ttlMs }),
      })
    );
    // Which leader each member asks now (it may move), and the asks' numbers.
    const asking = new Map<string, number>();
    let n = 0;
    const ask = () => {
      for (const [key, at] of asking) {
        arbiters[at].handle(key, { t: "lease-ask", s: "svc", n: ++n });
      }
    };
    const timer = setInterval(ask, TIMING.renewMs);
    const last = (key: string) => answers.get(key)!.at(-1);
    try {
      for (const a of arbiters) a.start();
      await until(() => arbiters.every((a) => a.book.current()), "both leaders follow etcd");

      // A asks the first leader, B the second, at the same moment: one of them holds.
      asking.set(A, 0).set(B, 1);
      ask();
      await until(() => last(A) !== undefined && last(B) !== undefined, "both asks answered");
      const holders = [last(A)!, last(B)!].filter((x) => x.h !== null).map((x) => x.h);
      assert.equal(new Set(holders).size, 1, `one holder: ${JSON.stringify(holders)}`);
      const winner = holders[0]!;
      const loser = winner === A ? B : A;
      const first = last(winner)!;
      assert.equal(first.h, winner);
      assert.equal(last(loser)!.h, winner, "the other candidate is told who holds it");
      assert.equal(arbiters[0].stats.granted + arbiters[1].stats.granted, 1);
      await until(
        () => arbiters.every((a) => a.holder("svc")?.token === first.tk),
        "both leaders see the holder",
      );

      // The holder moves to the other leader and renews there, for well over a lease time.
      const other = asking.get(winner) === 0 ? 1 : 0;
      asking.set(winner, other);
      const renewedBefore = arbiters[other].stats.renewed;
      await until(
        () => arbiters[other].stats.renewed >= renewedBefore + 3 * TIMING.ttlMs / TIMING.renewMs,
        "renewals at the other leader",
      );
      assert.equal(last(winner)!.tk, first.tk, "the same lease, renewed");
      assert.equal(last(winner)!.h, winner);
      assert.ok(
        answers.get(loser)!.every((x) => x.h === winner),
        "the candidate never got the lease while it was renewed",
      );
      const { kv } = await stores[0].get("/weft/service-leases/svc");
      assert.equal(kv?.createRevision, first.tk, "the token is the grant's etcd revision");

      // The holder stops renewing: etcd ends its lease and the candidate, waiting at its own
      // leader, gets the next one, with a higher token.
      asking.delete(winner);
      await until(() => last(loser)!.h === loser, "the candidate granted after the expiry");
      const second = last(loser)!;
      assert.ok(second.tk > first.tk, `tokens increase: ${first.tk} then ${second.tk}`);
      await until(
        () => arbiters.every((a) => a.holder("svc")?.holder === loser),
        "both leaders see the new holder",
      );
      assert.ok(arbiters.some((a) => a.stats.expired >= 1));

      // etcd gone: renewals are refused and counted, never answered from memory.
      const answered = answers.get(loser)!.length;
      await cluster.members[0].kill();
      const at = asking.get(loser)!;
      await until(() => arbiters[at].stats.storeFailed >= 2, "renewals refused by the store");
      assert.equal(answers.get(loser)!.length, answered, "no renewal answered without etcd");
      assert.equal(arbiters[at].book.current(), false);
    } finally {
      clearInterval(timer);
      for (const a of arbiters) a.close();
      await Promise.all(stores.map((s) => s.close()));
      await cluster.destroy();
    }
  },
});
