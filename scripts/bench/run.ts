/**
 * `deno task bench`: every benchmark in one run, each printing its own table. Benchmarks that
 * need root and network namespaces are skipped (with a note) where they cannot run.
 * @module
 */

import { runCryptoBench } from "./crypto.ts";
import { runHandshakeBench } from "./handshake.ts";
import { runNetBench } from "./net.ts";

console.log("## crypto: ChaCha20-Poly1305 seal/open (in place) and X25519, per backend");
const crypto = await runCryptoBench();
console.table(crypto.filter((r) => r.kind === "aead").map(({ kind: _, ...r }) => r));
console.table(crypto.filter((r) => r.kind === "dh").map(({ kind: _, ...r }) => r));

console.log("## handshakes: complete Noise_IKpsk2 handshakes per second, per backend");
console.table(runHandshakeBench());

console.log("## network lab: iperf3 TCP through the tunnel, ping RTT, agent CPU (root only)");
const net = await runNetBench(Number(Deno.env.get("BENCH_SECONDS") ?? 8));
if (!net) console.log("skipped: needs root, ip netns, wireguard-go, wg, iperf3");
else {
  console.table(net.rows);
  console.log(`throughput ratio weft/wireguard-go: ${net.ratio.toFixed(2)}x`);
}
