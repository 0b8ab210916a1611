/**
 * The leader's store in one process: a mesh of N joiners over the memory network (real join
 * exchange, real WireGuard sessions, real membership sync) with the leader's state in its state
 * directory, in a real etcd with one leader, and in a real etcd with two leaders that the joins
 * are split across. Reports joins per second and the time for one change (a node removed at the
 * first leader) to reach every node, all measured in the same run, so the ratios against the
 * file store are what to read.
 * @module
 */

import { MeshAgent } from "../../lib/mesh/mesh_agent.ts";
import type { LeaderStore } from "../../lib/mesh/store/store.ts";
import { KvLeaderStore } from "../../lib/mesh/store/kv_leader_store.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { EtcdStore } from "../../drivers/etcd/store.ts";
import { parseEtcdUrl } from "../../drivers/etcd/url.ts";
import { nullLogger } from "../../lib/log/logger.ts";
import { startJoiner } from "./mesh.ts";
import { hasEtcd, startEtcd } from "../../tests/fixtures/etcd.ts";

/** One configuration's figures. */
export interface LeaderStoreRow {
  /** Which store and how many leaders. */
  store: string;
  /** Joiners. */
  nodes: number;
  /** Joins per second (every join answered). */
  joinsPerSecond: number;
  /** Seconds for one removal at the first leader to reach every node. */
  changeSeconds: number;
  /** Joins per second as a share of the file store's. */
  joinsVsFile: number;
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/** Runs one mesh of `n` joiners on `leaders` leaders, each given the store `storeFor(i)`. */
async function runOne(
  label: string,
  n: number,
  leaders: number,
  storeFor: (i: number) => LeaderStore | undefined,
): Promise<Omit<LeaderStoreRow, "joinsVsFile">> {
  const dir = await Deno.makeTempDir({ prefix: "weft-store-bench-" });
  const net = new MemoryNetwork();
  const agents: MeshAgent[] = [];
  try {
    const heads: MeshAgent[] = [];
    for (let i = 0; i < leaders; i++) {
      const store = storeFor(i);
      const leader = await MeshAgent.start({
        role: "leader",
        stateDir: `${dir}/leader${i + 1}`,
        hostname: `leader${i + 1}`,
        userspace: true,
        listenPort: 51820,
        advertise: [`192.0.2.${i + 1}:51820`],
        network: "10.0.0.0/16",
        persistentKeepalive: 0,
        dnsPort: 0,
        probes: false,
        natTraversal: false,
        logger: nullLogger,
        ...(store ? { store } : {}),
        openTransport: (port) => Promise.resolve(net.bind(`192.0.2.${i + 1}`, port)),
      });
      heads.push(leader);
      agents.push(leader);
    }
    // A token made at each leader names that leader first: joins alternate between them.
    const tokens: string[] = [];
    for (const h of heads) tokens.push((await h.createToken({ ttlMs: 3_600_000 })).token);
    const t0 = performance.now();
    const batch = 50;
    for (let i = 0; i < n; i += batch) {
      const started = await Promise.all(
        Array.from({ length: Math.min(batch, n - i) }, (_, j) => {
          const k = i + j + 1;
          return startJoiner(net, dir, k, tokens[k % tokens.length]);
        }),
      );
      agents.push(...started);
    }
    const joinSeconds = (performance.now() - t0) / 1000;
    const all = n + leaders;
    if (!await until(() => agents.every((a) => a.view().members.length === all), 600_000)) {
      throw new Error(`${label}: the mesh did not converge`);
    }
    const t1 = performance.now();
    await heads[0].removeNode(`n${n}`);
    const target = heads[0].view().version;
    const nodes = agents.filter((a) => a.view().members.length > 0).slice(0, -1);
    if (!await until(() => nodes.every((a) => a.view().version >= target), 600_000)) {
      throw new Error(`${label}: the change did not reach every node`);
    }
    return {
      store: label,
      nodes: n,
      joinsPerSecond: Math.round(n / joinSeconds),
      changeSeconds: Math.round((performance.now() - t1) / 10) / 100,
    };
  } finally {
    for (const a of agents.reverse()) await a.close().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * The three configurations with `n` joiners each, in one run; null when etcd is not installed.
 */
export async function runLeaderStoreBench(n = 100): Promise<LeaderStoreRow[] | null> {
  if (!(await hasEtcd())) return null;
  const rows: Omit<LeaderStoreRow, "joinsVsFile">[] = [];
  rows.push(await runOne("file, 1 leader", n, 1, () => undefined));
  for (const leaders of [1, 2]) {
    const etcd = await startEtcd();
    const kvs: EtcdStore[] = [];
    try {
      rows.push(
        await runOne(`etcd, ${leaders} leader${leaders > 1 ? "s" : ""}`, n, leaders, () => {
          const kv = new EtcdStore({ url: parseEtcdUrl(etcd.url) });
          kvs.push(kv);
          return new KvLeaderStore(kv, {});
        }),
      );
    } finally {
      for (const kv of kvs) await kv.close().catch(() => {});
      await etcd.destroy();
    }
  }
  const file = rows[0].joinsPerSecond;
  return rows.map((r) => ({
    ...r,
    joinsVsFile: Math.round((r.joinsPerSecond / file) * 100) / 100,
  }));
}

if (import.meta.main) {
  const rows = await runLeaderStoreBench(Number(Deno.args[0] ?? 100));
  if (!rows) console.log("skipped: etcd is not installed");
  else console.table(rows);
}
