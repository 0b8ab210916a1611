/**
 * A mesh leader whose store has a key-value store beside the document (`LeaderStore.kv`, as the
 * etcd store has) keeps service leases there, as store leases: a node leading a service holds a
 * key naming it, its fencing token is the key's create revision, nothing is written to the
 * leader's document, and a node that stops gives its lease up in the store at once.
 */

import assert from "node:assert/strict";
import { MeshAgent } from "../../lib/mesh/mesh_agent.ts";
import { MemoryStore } from "../../lib/mesh/store/memory_store.ts";
import type { LeaderStore } from "../../lib/mesh/store/store.ts";
import { MemoryKv } from "../../lib/store/memory_kv.ts";
import { nullLogger } from "../../lib/log/logger.ts";
import { freePort } from "../fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../fixtures/netns.ts";

Deno.test({
  name: "library: a leader with a key-value store keeps service leases there",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "weft-kvlease-" });
    // The store's clock, stopped before the node stops: only a release can end the lease then.
    let stopped: number | null = null;
    const kv = new MemoryKv({ now: () => stopped ?? performance.now() });
    // The store's leases end on its own clock, also while nobody calls it.
    const sweep = setInterval(() => kv.expire(), 50);
    const doc = new MemoryStore();
    const store: LeaderStore = {
      where: doc.where,
      kv: { store: kv, prefix: "/weft/" },
      load: () => doc.load(),
      commit: (next, base) => doc.commit(next, base),
      watch: (from, onChange) => doc.watch(from, onChange),
    };
    const agents: MeshAgent[] = [];
    try {
      const lp = freePort();
      const leader = await MeshAgent.start({
        role: "leader",
        stateDir: `${dir}/leader`,
        hostname: "leader",
        userspace: true,
        listenPort: lp,
        advertise: [`127.0.0.1:${lp}`],
        dnsPort: 0,
        logger: nullLogger,
        network: "10.213.0.0/24",
        store,
      });
      agents.push(leader);
      const { token } = await leader.createToken({ ttlMs: 60_000, uses: 1 });
      const node = await MeshAgent.start({
        role: "node",
        token,
        stateDir: `${dir}/n1`,
        hostname: "n1",
        userspace: true,
        listenPort: freePort(),
        dnsPort: 0,
        logger: nullLogger,
        services: [{ name: "sched", port: 8080, protocol: "tcp" }],
      });
      agents.push(node);
      const leads = await eventually(
        () => Promise.resolve(node.services.serviceLease("sched") !== null),
        HANG_GUARD_MS,
        50,
      );
      assert.ok(leads, "n1 leads its service");
      const lease = node.services.serviceLease("sched")!;
      const { kv: key } = await kv.get("/weft/service-leases/sched");
      assert.ok(key, "the holder is a key in the store");
      assert.equal(JSON.parse(key.value).holder, node.agent.device.publicKey);
      assert.equal(key.createRevision, lease.token, "the token is the grant's revision");
      assert.notEqual(key.lease, "", "bound to a store lease");
      const known = await eventually(
        () => Promise.resolve(leader.services.serviceLeader("sched")?.member === "n1"),
        HANG_GUARD_MS,
        50,
      );
      assert.ok(known, "the leader announces n1 as the service's leader");
      assert.equal((await doc.load())!.data.leases, undefined, "nothing in the document");
      // The node stops and gives its lease up: the key goes (no expiry: the store's clock stands).
      stopped = performance.now();
      await node.close();
      agents.pop();
      const gone = await eventually(
        async () => (await kv.get("/weft/service-leases/sched")).kv === null,
        HANG_GUARD_MS,
        50,
      );
      assert.ok(gone, "the key went with the release");
    } finally {
      clearInterval(sweep);
      for (const a of agents.reverse()) await a.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
