/**
 * A simulated mesh in one process: a leader and N joiners in userspace mode over the memory
 * network (real join exchange, real WireGuard sessions to the leader, real membership sync).
 * Reports the time for N joins, the time until every node holds the full membership, the time
 * for one change to reach every node, and heap memory per node. Health probes and path probes
 * (NAT traversal) are off: with them every node would probe every other, N² sessions, which is a
 * different measurement.
 * @module
 */

import { MeshAgent } from "../../lib/mesh/mesh_agent.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { nullLogger } from "../../lib/log/logger.ts";

/** One simulated mesh size's figures. */
export interface MeshBenchRow {
  /** Joiners. */
  nodes: number;
  /** Seconds until every join was answered. */
  joinSeconds: number;
  /** Joins per second. */
  joinsPerSecond: number;
  /** Seconds until every node held every member. */
  convergeSeconds: number;
  /** Seconds for one membership change (a node removed) to reach every node. */
  changeSeconds: number;
  /** Heap bytes per node (KiB). */
  heapKiBPerNode: number;
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

async function tempRoot(): Promise<string> {
  try {
    return await Deno.makeTempDir({ dir: "/dev/shm", prefix: "weft-sim-" });
  } catch {
    return await Deno.makeTempDir({ prefix: "weft-sim-" });
  }
}

/**
 * Joiner `k` of a simulated mesh: userspace, at 198.18.x.y on `net`, with its state under `dir`,
 * probes and NAT traversal off (see the module docs), joining with `token`.
 */
export function startJoiner(
  net: MemoryNetwork,
  dir: string,
  k: number,
  token: string,
): Promise<MeshAgent> {
  return MeshAgent.start({
    role: "node",
    token,
    stateDir: `${dir}/n${k}`,
    hostname: `n${k}`,
    userspace: true,
    listenPort: 51820,
    persistentKeepalive: 0,
    dnsPort: 0,
    probes: false,
    natTraversal: false,
    syncIntervalMs: 5000,
    logger: nullLogger,
    openTransport: (port) => Promise.resolve(net.bind(`198.18.${k >> 8}.${k & 255}`, port)),
  });
}

/** Runs one simulated mesh of `n` joiners. */
export async function simulateMesh(n: number): Promise<MeshBenchRow> {
  const dir = await tempRoot();
  const net = new MemoryNetwork();
  const agents: MeshAgent[] = [];
  (globalThis as { gc?: () => void }).gc?.();
  const heap0 = Deno.memoryUsage().heapUsed;
  try {
    const leader = await MeshAgent.start({
      role: "leader",
      stateDir: `${dir}/leader`,
      hostname: "leader",
      userspace: true,
      listenPort: 51820,
      advertise: ["192.0.2.1:51820"],
      network: "10.0.0.0/16",
      persistentKeepalive: 0,
      dnsPort: 0,
      probes: false,
      natTraversal: false,
      logger: nullLogger,
      openTransport: (port) => Promise.resolve(net.bind("192.0.2.1", port)),
    });
    agents.push(leader);
    const { token } = await leader.createToken({ ttlMs: 3_600_000 });
    const t0 = performance.now();
    const batch = 50;
    for (let i = 0; i < n; i += batch) {
      const started = await Promise.all(
        Array.from({ length: Math.min(batch, n - i) }, (_, j) => {
          return startJoiner(net, dir, i + j + 1, token);
        }),
      );
      agents.push(...started);
    }
    const joinSeconds = (performance.now() - t0) / 1000;
    const converged = await until(
      () => agents.every((a) => a.view().members.length === n + 1),
      600_000,
    );
    if (!converged) throw new Error("the simulated mesh did not converge");
    const convergeSeconds = (performance.now() - t0) / 1000;
    (globalThis as { gc?: () => void }).gc?.();
    const heap = Deno.memoryUsage().heapUsed - heap0;

    const t1 = performance.now();
    await leader.removeNode(`n${n}`);
    const target = leader.view().version;
    const reached = await until(
      () => agents.slice(1, n).every((a) => a.view().version >= target),
      600_000,
    );
    if (!reached) throw new Error("the change did not reach every node");
    const changeSeconds = (performance.now() - t1) / 1000;
    return {
      nodes: n,
      joinSeconds: Math.round(joinSeconds * 100) / 100,
      joinsPerSecond: Math.round(n / joinSeconds),
      convergeSeconds: Math.round(convergeSeconds * 100) / 100,
      changeSeconds: Math.round(changeSeconds * 1000) / 1000,
      heapKiBPerNode: Math.round(heap / (n + 1) / 1024),
    };
  } finally {
    for (const a of agents.reverse()) await a.close().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The simulated mesh at 100 and 1,000 joiners (sizes overridable). */
export async function runMeshBench(sizes: number[] = [100, 1000]): Promise<MeshBenchRow[]> {
  const rows: MeshBenchRow[] = [];
  for (const n of sizes) rows.push(await simulateMesh(n));
  return rows;
}

if (import.meta.main) {
  const sizes = Deno.args.length ? Deno.args.map(Number) : [100, 1000];
  console.table(await runMeshBench(sizes));
}
