/**
 * `deno task bench`: every benchmark in one run, each printing its own table. Benchmarks that
 * need root and network namespaces are skipped (with a note) where they cannot run.
 * @module
 */

import { runCryptoBench } from "./crypto.ts";
import { runDatapathBench } from "./datapath.ts";
import { runControlSendBench } from "./control_send.ts";
import { runCryptoWorkersBench } from "./crypto_workers.ts";
import { runCryptoWorkersNetBench } from "./crypto_workers_net.ts";
import { runHandshakeBench } from "./handshake.ts";
import { runPqBench } from "./pq.ts";
import { printNetBench, runNetBench } from "./net.ts";
import { runMeshBench } from "./mesh.ts";
import { runDnsBench } from "./dns.ts";
import { runPolicyBench } from "./policy.ts";
import { runNatBench } from "./nat.ts";
import { runPathsBench } from "./paths.ts";
import { printRelayCheck, printSummaryRounds, SUMMARY_NOTE, summaryTable } from "./summary.ts";
import { printServicesBench, runServicesBench } from "./services.ts";
import { runMetricsBench } from "./metrics.ts";
import { printLibs, runLibsBench } from "./libs.ts";
import { runLeaderStoreBench } from "./leader_store.ts";
import { runLeaderAgentBench, runLeaderCoreBench } from "./leader_core.ts";
import { printMemberScale, runMemberScaleBench } from "./member_scale.ts";
import { fleetPlan, fleetRows, runFleetBench } from "./fleet.ts";
import { runSegmentsBench } from "./segments.ts";
import { printSoak, runSoakBench } from "./soak.ts";
import { parseSoakArgs } from "./soak_stats.ts";

console.log("## crypto: ChaCha20-Poly1305 seal/open (in place) and X25519, per backend");
const crypto = await runCryptoBench();
console.table(crypto.filter((r) => r.kind === "aead").map(({ kind: _, ...r }) => r));
console.table(crypto.filter((r) => r.kind === "dh").map(({ kind: _, ...r }) => r));

console.log(
  "## data path: CPU µs per packet, TUN read → seal → UDP send and UDP receive → open → TUN " +
    "write, copying against zero-copy (Linux)",
);
const datapath = await runDatapathBench();
if (!datapath) console.log("skipped: Linux only");
else {
  console.log(`AEAD: ${datapath.aead}; zero/copy is the median of each run's own ratio`);
  console.table(datapath.rows);
}

console.log(
  "## leader's control datagrams: CPU µs per datagram through the control stack, the device " +
    "and sendmmsg, to 64 members (push) and a window of 128 to one (window), against the same " +
    "packets from the TUN (Linux)",
);
const control = await runControlSendBench();
if (!control) console.log("skipped: Linux only");
else console.table([control]);

console.log(
  "## crypto workers: seal batches of 64 × 1420 B inline against 1 and 2 workers (libsodium); " +
    "3 interleaved rounds, median and spread",
);
const workers = await runCryptoWorkersBench(3);
if (!workers) console.log("skipped: libsodium is not available");
else console.table(workers);

console.log("## handshakes: complete Noise_IKpsk2 handshakes per second, per backend");
console.table(runHandshakeBench());

console.log(
  "## post-quantum keys: CPU of one ML-KEM-768 rotation, and of one member's rotations with " +
    "1,000 members at the default interval (compare: a member's idle CPU, docs/performance.md)",
);
console.table(runPqBench());

console.log(
  "## network lab: weft against each wireguard-go (WG_GO=path:...): iperf3 TCP and UDP, ping " +
    "RTT, agent CPU per GB, RSS, medians of interleaved rounds (root only)",
);
// BENCH_SECONDS per iperf3 run (default 5); the builds in `--rounds N` interleaved rounds (default
// 3: on a shared machine only figures of one round compare), BENCH_RUNS runs per measure in each
// (default 1), the median.
const roundsAt = Deno.args.indexOf("--rounds");
const rounds = roundsAt >= 0 ? Number(Deno.args[roundsAt + 1]) : undefined;
const net = await runNetBench({ rounds: rounds ?? Number(Deno.env.get("BENCH_ROUNDS") ?? 3) });
if (!net) console.log("skipped: needs root, ip netns, wg, iperf3, ss, ping, curl");
else printNetBench(net);

console.log(
  "## network lab: weft against weft with 0, 1 and 2 crypto workers, 3 interleaved rounds, " +
    "median (min–max) (root only)",
);
const workersNet = await runCryptoWorkersNetBench({
  seconds: Number(Deno.env.get("BENCH_SECONDS") ?? 5),
});
if (!workersNet) console.log("skipped: needs root, ip netns, wg, iperf3, ss, ping, curl");
else console.table(workersNet);

console.log(
  "## NAT lab: both joined to the first reply between two members, per NAT shape (root only)",
);
// `deno task bench --runs N`: N runs per NAT shape instead of 20.
const runsAt = Deno.args.indexOf("--runs");
const nat = await runNatBench(runsAt >= 0 ? Number(Deno.args[runsAt + 1]) : 20);
if (!nat) console.log("skipped: needs root, ip netns, iptables, conntrack, ping");
else console.table(nat);

console.log(
  "## NAT lab: direct UDP, relayed UDP, TCP, WebSocket and TCP through an HTTP proxy between " +
    "two members (root only)",
);
// `deno task bench --rounds N`: every route N times, interleaved, medians (default 1).
const paths = await runPathsBench(Number(Deno.env.get("BENCH_SECONDS") ?? 8), rounds ?? 1);
if (!paths) console.log("skipped: needs root, ip netns, iptables, conntrack, ping, iperf3, ss");
else {
  console.table(paths.rows);
  console.log("ratios against direct UDP (throughput, idle RTT, loaded RTT median and p95):");
  console.table(paths.ratios);
  for (const n of paths.notes) console.log(`note: ${n}`);
}

console.log(
  "## summary: direct UDP, relayed UDP, TCP, WebSocket and the HTTP proxy beside weft and each " +
    "wireguard-go (the two labs above; root only)",
);
console.table(summaryTable(net, paths));
console.log(SUMMARY_NOTE);
printRelayCheck(paths);
printSummaryRounds(net);

console.log(
  "## services: mesh.services.request against plain HTTP through the tunnel (one caller, 16 callers), " +
    "publish fan-out (root only)",
);
const services = await runServicesBench();
if (!services) console.log("skipped: needs root and ip netns");
else printServicesBench(services);

console.log("## simulated mesh: joins, convergence, change propagation, memory (one process)");
console.table(await runMeshBench([100, 1000]));

console.log(
  "## the leader's store: joins per second and one change reaching every node, with the state " +
    "directory, etcd and one leader, etcd and two leaders (one process, a real etcd)",
);
const stores = await runLeaderStoreBench(100);
if (!stores) console.log("skipped: etcd is not installed");
else console.table(stores);

console.log(
  "## the leader at scale: per-event work of its state and service at 1,000, 3,000 and 10,000 " +
    "members (joins/s at size N, a quiet hello, one change and one removal told, /v1/nodes), " +
    "state in memory and in its directory (one process, nothing sent)",
);
console.table(await runLeaderCoreBench());
console.log(
  "## the leader at scale: a whole leader agent given N members (joins/s, one change applied by " +
    "every part, /v1/nodes, /status); 10,000 with --leader-10k",
);
console.table(
  await runLeaderAgentBench(
    Deno.args.includes("--leader-10k") ? [1000, 3000, 10000] : [1000, 3000],
  ),
);

console.log(
  "## a fleet on one leader: a weft --leader process and N simulated members in another " +
    "process (real join, WireGuard and sync), N = 1,000 and 3,000 (`--fleet-10k`: 10,000 too; " +
    "FLEET_SIZES=n,n,... to choose), each a full mesh (no policy, 64 joins in flight) and a " +
    "scoped fleet (--hubs 10 --concurrency 1024; FLEET_HUBS=K for K hubs, 0 for none); the " +
    "machine's load average beside each row",
);
for (
  const run of fleetPlan({
    sizes: Deno.env.get("FLEET_SIZES"),
    hubs: Deno.env.get("FLEET_HUBS"),
    fleet10k: Deno.args.includes("--fleet-10k"),
  })
) {
  const kind = run.hubs ? `scoped to ${run.hubs} hubs` : "full mesh";
  try {
    console.table(fleetRows(await runFleetBench(run)));
  } catch (e) {
    console.log(`N=${run.members}, ${kind}: failed: ${(e as Error).message.split("\n")[0]}`);
  }
}

console.log("## DNS: queries per second with dnsperf against a 1,000-member zone");
const dns = await runDnsBench();
if (!dns) console.log("skipped: dnsperf is not installed");
else console.log(dns);

console.log(
  "## Layer 2 segments: iperf3 TCP VM to VM through a segment (VXLAN in the tunnel) against the " +
    "same members' overlay addresses, interleaved, median (root only)",
);
{
  const seg = await runSegmentsBench({ seconds: Number(Deno.env.get("BENCH_SECONDS") ?? 5) });
  if (!seg) console.log("skipped: needs root, ip netns, iperf3, bridge, iptables");
  else {
    console.table(seg.rows);
    console.log(`segment / overlay: ${seg.ratio}`);
  }
}

console.log("## policy filter: per-packet cost with 0 and 1,000 rules");
console.log(await runPolicyBench());

console.log("## /metrics: one render of a mesh page (every collector), 50 and 500 peers");
console.table([runMetricsBench(50), runMetricsBench(500, 200)]);

console.log(
  "## hand-written parts against npm libraries: DNS codec / dns-packet, /metrics / prom-client, " +
    "did-you-mean / didyoumean2, leven, fastest-levenshtein (scripts/bench/libs.ts)",
);
printLibs(await runLibsBench());

console.log(
  "## a member with many known peers: idle CPU and RSS of one member knowing 20 members and " +
    "10,000 (20 of them active); `--member-known N` for another size, `--member-window S`",
);
{
  const at = (f: string) => {
    const i = Deno.args.indexOf(f);
    return i >= 0 ? Number(Deno.args[i + 1]) : undefined;
  };
  try {
    printMemberScale(
      await runMemberScaleBench({
        known: [20, at("--member-known") ?? 10_000],
        windowSeconds: at("--member-window") ?? 60,
      }),
    );
  } catch (e) {
    // A mesh that never settles is a finding, not the end of the other benches' run.
    console.log(`failed: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
  }
}

console.log(
  "## soak: a leader and members under sustained traffic (TCP direct and relayed, UDP, pings) " +
    "and churn (a member replaced each minute, a policy reload each 10 s, DNS 1,000/s, service " +
    "calls 100/s): RSS, heap after a full GC and fds per agent, and their growth from the middle " +
    "third to the last (root only; `--soak-minutes N`, default 3; `--no-soak` skips it)",
);
if (Deno.args.includes("--no-soak")) console.log("skipped: --no-soak");
else {
  const at = Deno.args.indexOf("--soak-minutes");
  try {
    const soak = await runSoakBench(
      parseSoakArgs(at >= 0 ? ["--minutes", Deno.args[at + 1]] : [], 3),
    );
    if (!soak) console.log("skipped: needs root, ip netns, iptables, iperf3, ping, ss");
    else printSoak(soak);
  } catch (e) {
    console.log(`failed: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
  }
}
