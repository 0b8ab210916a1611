/**
 * The leader's own work per event at N members, in one process: a LeaderCore and its
 * LeaderService over a fake control channel and device (nothing is sent; sends are counted),
 * its state in memory or in a state directory (`leader.json`). For N = 1,000, 3,000 and 10,000
 * it reports joins per second at size N (500 joins asked at once, written in batches), the cost
 * of a hello that changes nothing and of one that changes the member, one removal, the state
 * written per commit, and `GET /v1/nodes` answered by the control routes. The per-event costs
 * should not grow with N (what grows is the one-off work that has to: the view, the file).
 * @module
 */

import { LeaderCore } from "../../lib/mesh/leader/core.ts";
import { LeaderService } from "../../lib/mesh/leader/service.ts";
import type { LeaderStore } from "../../lib/mesh/store/store.ts";
import { MemoryStore } from "../../lib/mesh/store/memory_store.ts";
import { FileStore } from "../../lib/mesh/store/file_store.ts";
import { StateDir } from "../../lib/mesh/state/state.ts";
import type { ControlMessage } from "../../lib/mesh/sync/protocol.ts";
import type { Device } from "../../lib/device/device.ts";
import { nullLogger } from "../../lib/log/logger.ts";
import { lanKeyId } from "../../lib/mesh/state/lan_key.ts";
import { encodeBase64 } from "../../lib/crypto/base64.ts";
import { leaderRoutes, type MeshAdmin } from "../../lib/control/routes/leader.ts";
import { LARGE_STATUS_REUSE_MS, statusRoutes } from "../../lib/control/routes/status.ts";
import { MeshAgent } from "../../lib/mesh/mesh_agent.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";

/** One size's figures. */
export interface LeaderCoreRow {
  /** Where the state is: `memory` or `file`. */
  store: string;
  /** Members. */
  members: number;
  /** Joins per second at this size (500 asked at once). */
  joinsPerSecond: number;
  /** Microseconds of leader work per hello that changes nothing. */
  helloSameUs: number;
  /** Milliseconds for a hello that moves the member's endpoint to be committed and told. */
  changeMs: number;
  /** Milliseconds for one removal to be committed and told. */
  removeMs: number;
  /** Commits (store writes) during the 500 joins. */
  commits: number;
  /** Milliseconds for `GET /v1/nodes` (answer read whole). */
  nodeListMs: number;
  /** Heap MiB once the members are in. */
  heapMiB: number;
}

function randomKey(): string {
  return encodeBase64(crypto.getRandomValues(new Uint8Array(32)));
}

/** A store that counts commits. */
function counted(store: LeaderStore): { store: LeaderStore; commits: () => number } {
  let n = 0;
  const commit = store.commit.bind(store);
  store.commit = (d, base) => {
    n++;
    return commit(d, base);
  };
  return { store, commits: () => n };
}

async function runOne(members: number, kind: "memory" | "file"): Promise<LeaderCoreRow> {
  const dir = await Deno.makeTempDir({ prefix: "weft-leader-core-bench-" });
  try {
    const state = new StateDir(dir);
    await state.ensure();
    const { store, commits } = counted(kind === "file" ? new FileStore(state) : new MemoryStore());
    const leaderKey = randomKey();
    const core = await LeaderCore.open(store, {
      network: "10.0.0.0/16",
      hostname: "leader",
      publicKey: leaderKey,
      endpoints: ["192.0.2.1:51820"],
    });
    let sent = 0;
    let lastSend = 0;
    let handler: ((msg: ControlMessage, from: string) => void) | null = null;
    const device = {
      publicKey: leaderKey,
      peer: () => undefined,
    } as unknown as Pick<Device, "publicKey" | "peer">;
    let clock = 0;
    const service = new LeaderService({
      core,
      device,
      channel: {
        send: () => {
          sent++;
          lastSend = performance.now();
        },
        sendEncoded: () => {
          sent++;
          lastSend = performance.now();
        },
        listen: (h) => {
          handler = h;
          return () => {};
        },
      },
      logger: nullLogger,
      applyView: () => {},
      usePolicy: () => {},
      // Hellos are never over the rate here: a second passes before each round of them (a
      // second at each read of the clock had every member heard long ago, none served: the
      // changes below told nobody and their wait never ended).
      now: () => clock,
    });
    service.start();
    const token = await core.createToken({ ttlMs: 3_600_000, uses: null, labels: {} });
    let n = 0;
    const join = (): Promise<unknown> => {
      const i = n++;
      return core.join({
        tokenId: token.id,
        secret: token.secret,
        publicKey: randomKey(),
        hostname: `n${i}`,
        labels: {},
        services: [],
        endpoints: [`198.51.100.${i % 250 + 1}:${10000 + (i % 50000)}`],
        time: Date.now(),
      }, null).then((r) => {
        if (!r.ok) throw new Error(r.error);
      });
    };
    // Filled in waves (as joins arrive), then 500 more measured at size N.
    const wave = 500;
    while (core.view().members.length < members - wave) {
      const left = members - wave - core.view().members.length;
      await Promise.all(Array.from({ length: Math.min(wave, left) }, join));
    }
    const c0 = commits();
    let t0 = performance.now();
    await Promise.all(Array.from({ length: members - core.view().members.length }, join));
    const joinsPerSecond = Math.round(wave / ((performance.now() - t0) / 1000));
    const joinCommits = commits() - c0;

    // Every member says hello once (its join is heard), then the hellos that change nothing.
    const lk = lanKeyId(core.lanKey);
    const nodes = core.view().members.filter((m) => m.role !== "leader");
    const hello = (address: string, endpoints: string[]) =>
      handler!({ t: "hello", v: core.view().version, endpoints, lk, lan: [] }, address);
    clock += 1000;
    for (const m of nodes) hello(m.address, m.endpoints);
    await core.flush();
    // Let the notice of the heard joins go out before the quiet hellos are measured.
    await new Promise((r) => setTimeout(r, 100));
    const rounds = 3;
    t0 = performance.now();
    for (let r = 0; r < rounds; r++) {
      clock += 1000;
      for (const m of nodes) hello(m.address, m.endpoints);
      await core.flush();
    }
    const helloSameUs = Math.round((performance.now() - t0) * 1000 / (rounds * nodes.length));

    // One hello that moves an endpoint: committed, and the notice sent to every member.
    const moved = nodes[nodes.length >> 1];
    const pushed = async (change: () => Promise<unknown>): Promise<number> => {
      await new Promise((r) => setTimeout(r, 100));
      const before = sent;
      const start = performance.now();
      await change();
      const committed = performance.now();
      // The notice waits up to 50 ms to gather a burst; that wait is not the leader's work.
      while (sent - before < nodes.length - 2) await new Promise((r) => setTimeout(r, 5));
      const told = lastSend;
      return Math.max(0, committed - start) + Math.max(0, told - committed - 50);
    };
    const changeMs = await pushed(async () => {
      clock += 1000;
      hello(moved.address, ["203.0.113.9:4000"]);
      await core.flush();
    });
    const removeMs = await pushed(() => core.removeNode(nodes[1].name));

    // GET /v1/nodes through the control routes, the answer read whole.
    const admin = { role: "leader", view: () => core.view() } as unknown as MeshAdmin;
    const app = leaderRoutes(admin);
    t0 = performance.now();
    const res = await app.request("/nodes");
    const body = await res.text();
    const nodeListMs = performance.now() - t0;
    if (!body.includes(moved.publicKey)) throw new Error("the node list lacks a member");

    const heapMiB = Deno.memoryUsage().heapUsed / 2 ** 20;
    service.close();
    core.close();
    return {
      store: kind,
      members,
      joinsPerSecond,
      helloSameUs,
      changeMs: Math.round(changeMs * 10) / 10,
      removeMs: Math.round(removeMs * 10) / 10,
      commits: joinCommits,
      nodeListMs: Math.round(nodeListMs * 10) / 10,
      heapMiB: Math.round(heapMiB),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** One size's figures for a whole leader agent (its device, policy, DNS and other parts). */
export interface LeaderAgentRow {
  /** Members. */
  members: number;
  /** Members every member may reach under the policy (0: none, whole views). */
  hubs: number;
  /** Joins per second at this size (500 asked of the leader's state at once). */
  joinsPerSecond: number;
  /** The leader's CPU-ms a join at this size (the process's, over those 500 joins). */
  cpuMsPerJoin: number;
  /** Milliseconds for one member's endpoint change to be committed and applied by the leader. */
  changeMs: number;
  /** Milliseconds for `GET /v1/nodes`. */
  nodeListMs: number;
  /** Milliseconds for `GET /status` (the mesh view with it), its first build. */
  statusMs: number;
  /** Milliseconds for `GET /status` built again (the code warm), the median of three. */
  statusWarmMs: number;
  /** The `/status` document's size, MB. */
  statusMB: number;
  /**
   * Milliseconds from a request that finds the document older than a second to the next one
   * served gzipped: built and compressed a slice at a time, in later turns.
   */
  statusRebuildMs: number;
  /** The event loop's longest turn meanwhile, ms (the synchronous build's is `statusWarmMs`). */
  statusLongestTurnMs: number;
  /** The gzipped document's size, MB. */
  statusGzipMB: number;
  /** Heap MiB once the members are in. */
  heapMiB: number;
}

/**
 * The fleet bench's policy with `hubs` (scripts/bench/fleet.ts): every member may reach the
 * first `hubs` members only (named before they join), so each member's view is a few records.
 */
export function hubsPolicy(hubs: number): string {
  const names = Array.from({ length: hubs }, (_, i) => `n${i}`).join(", ");
  return `future: [${names}]\npolicies:\n  - name: fleet-hubs\n    action: allow\n` +
    `    from: "*"\n    to: { names: [${names}] }\n`;
}

/** The process's CPU-ms so far (user and system). */
function cpuMs(): number {
  const u = (Deno as unknown as { cpuUsage(): { user: number; system: number } }).cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * A real leader agent (userspace, the memory network, state in its state directory) given
 * `members` members through its state's joins (no joiner processes: the leader's side alone),
 * then one change, `GET /v1/nodes` and `GET /status`. Probes and NAT traversal are off. With
 * `hubs`, the fleet bench's policy ({@link hubsPolicy}) is in force before the joins.
 */
async function runAgent(members: number, hubs = 0): Promise<LeaderAgentRow> {
  const dir = await Deno.makeTempDir({ prefix: "weft-leader-agent-bench-" });
  const net = new MemoryNetwork();
  const mesh = await MeshAgent.start({
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
  try {
    const core = mesh.leader!;
    if (hubs > 0) await mesh.applyPolicy(hubsPolicy(hubs));
    const token = await core.createToken({ ttlMs: 3_600_000, uses: null, labels: {} });
    let n = 0;
    const join = (): Promise<unknown> => {
      const i = n++;
      return core.join({
        tokenId: token.id,
        secret: token.secret,
        publicKey: randomKey(),
        hostname: `n${i}`,
        labels: {},
        services: [],
        endpoints: [`198.51.100.${i % 250 + 1}:${10000 + (i % 50000)}`],
        time: Date.now(),
      }, null).then((r) => {
        if (!r.ok) throw new Error(r.error);
      });
    };
    const wave = 500;
    while (core.size < members - wave) {
      await Promise.all(Array.from({ length: Math.min(wave, members - wave - core.size) }, join));
    }
    let t0 = performance.now();
    const c0 = cpuMs();
    await Promise.all(Array.from({ length: members - core.size }, join));
    const joinsPerSecond = Math.round(wave / ((performance.now() - t0) / 1000));
    const cpuMsPerJoin = (cpuMs() - c0) / wave;
    const someone = core.view().members[members >> 1];
    await new Promise((r) => setTimeout(r, 200));
    t0 = performance.now();
    await core.updateMember(someone.publicKey, { endpoints: ["203.0.113.9:4000"] });
    const changeMs = performance.now() - t0;
    if (mesh.view().version !== core.view().version) throw new Error("the change was not applied");

    const admin = leaderRoutes(mesh);
    t0 = performance.now();
    const nodes = await (await admin.request("/nodes")).text();
    const nodeListMs = performance.now() - t0;
    if (!nodes.includes(someone.publicKey)) throw new Error("the node list lacks a member");
    const status = statusRoutes(mesh.agent, { dashboard: false, mesh: () => mesh.meshStatus() });
    t0 = performance.now();
    const doc = await (await status.request("/status")).text();
    const statusMs = performance.now() - t0;
    if (!doc.includes(someone.publicKey)) throw new Error("the status lacks a member");
    // Built again by routes of their own (each keeps its last document).
    const warm: number[] = [];
    for (let i = 0; i < 3; i++) {
      const again = statusRoutes(mesh.agent, { dashboard: false, mesh: () => mesh.meshStatus() });
      t0 = performance.now();
      await (await again.request("/status")).text();
      warm.push(performance.now() - t0);
    }
    warm.sort((a, b) => a - b);
    // Past a second the next is built in later turns, then gzipped: how long that takes, and the
    // event loop's longest turn meanwhile (a timer's turns, each gap the work between them).
    await new Promise((r) => setTimeout(r, LARGE_STATUS_REUSE_MS + 100));
    const gz = { headers: { "accept-encoding": "gzip" } };
    const stale = await (await status.request("/status", gz)).arrayBuffer();
    t0 = performance.now();
    let longest = 0;
    let last = t0;
    let rebuilt: Response | null = null;
    while (rebuilt === null) {
      await new Promise((r) => setTimeout(r, 0));
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
      const res = await status.request("/status", gz);
      const body = new Uint8Array(await res.arrayBuffer());
      if (res.headers.get("content-encoding") === "gzip" && !sameBytes(body, stale)) {
        rebuilt = new Response(body);
      }
    }
    const statusRebuildMs = performance.now() - t0;
    const zipped = (await rebuilt.arrayBuffer()).byteLength;
    return {
      members,
      hubs,
      joinsPerSecond,
      cpuMsPerJoin: Math.round(cpuMsPerJoin * 100) / 100,
      changeMs: Math.round(changeMs * 10) / 10,
      nodeListMs: Math.round(nodeListMs * 10) / 10,
      statusMs: Math.round(statusMs * 10) / 10,
      statusWarmMs: Math.round(warm[1] * 10) / 10,
      statusMB: Math.round(doc.length / 1e4) / 100,
      statusRebuildMs: Math.round(statusRebuildMs),
      statusLongestTurnMs: Math.round(longest * 10) / 10,
      statusGzipMB: Math.round(zipped / 1e4) / 100,
      heapMiB: Math.round(Deno.memoryUsage().heapUsed / 2 ** 20),
    };
  } finally {
    await mesh.close().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Runs a whole leader agent at every size. */
export async function runLeaderAgentBench(
  sizes: number[] = [1000, 3000, 10000],
  hubs = 0,
): Promise<LeaderAgentRow[]> {
  const rows: LeaderAgentRow[] = [];
  for (const n of sizes) rows.push(await runAgent(n, hubs));
  return rows;
}

/** Runs every size with the state in memory and in a state directory. */
export async function runLeaderCoreBench(
  sizes: number[] = [1000, 3000, 10000],
  stores: ("memory" | "file")[] = ["memory", "file"],
): Promise<LeaderCoreRow[]> {
  const rows: LeaderCoreRow[] = [];
  for (const kind of stores) for (const n of sizes) rows.push(await runOne(n, kind));
  return rows;
}

if (import.meta.main) {
  // `leader_core.ts [--agent|--core] [--hubs K] [N ...]`: both parts by default, at 1k, 3k and
  // 10k; `--hubs K` scopes the agent's views as the fleet bench's `--hubs` does.
  const h = Deno.args.indexOf("--hubs");
  const hubs = h >= 0 ? Number(Deno.args[h + 1]) : 0;
  const args = Deno.args.filter((_, i) => h < 0 || (i !== h && i !== h + 1));
  const only = args.find((a) => a.startsWith("--"));
  const numbers = args.filter((a) => !a.startsWith("--")).map(Number);
  const sizes = numbers.length ? numbers : undefined;
  if (only !== "--agent") console.table(await runLeaderCoreBench(sizes));
  if (only !== "--core") console.table(await runLeaderAgentBench(sizes, hubs));
}

function sameBytes(a: Uint8Array, b: ArrayBuffer): boolean {
  const c = new Uint8Array(b);
  return a.length === c.length && a.every((x, i) => x === c[i]);
}
