/**
 * Crypto workers micro-benchmark: sealing batches of 64 × 1420-byte packets in place with
 * libsodium on the calling thread alone (the device's inline path) against the crypto worker
 * pool (lib/crypto/worker_pool.ts) with 1 and 2 workers, which splits each batch between the
 * workers and the calling thread. Packets per second and CPU-seconds per GB (the whole process:
 * the workers' CPU counts), each way measured `rounds` times interleaved, so a machine whose load
 * changes meets every way alike; the median and the spread (min–max) are printed, and the share
 * of packets the workers sealed (the caller takes back a share whose worker has not woken).
 * `deno run -A scripts/bench/crypto_workers.ts [rounds]` runs it alone.
 * @module
 */

import { cpuUsage } from "node:process";
import { loadSodium } from "../../lib/crypto/sodium.ts";
import { CryptoWorkerPool, OP_SEAL, TAG_BYTES } from "../../lib/crypto/worker_pool.ts";

const BATCH = 64;
const SIZE = 1420;
/** Bytes per packet slot: the packet, its tag, rounded to a cache line. */
const SLOT = 1472;
const WARM_MS = 200;
const RUN_MS = 1500;

/** One way's figures in one round. */
interface Sample {
  pps: number;
  cpuPerGB: number;
}

/** Runs `batch()` for `ms`; packets per second and CPU-seconds per GB sealed. */
function measure(batch: () => void, ms: number): Sample {
  const cpu0 = cpuUsage();
  const t0 = performance.now();
  let batches = 0;
  while (performance.now() - t0 < ms) {
    batch();
    batches++;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuUsage(cpu0);
  const packets = batches * BATCH;
  return {
    pps: packets / seconds,
    cpuPerGB: (cpu.user + cpu.system) / 1e6 / (packets * SIZE / 1e9),
  };
}

/** A way to seal a batch, and how to stop it. */
interface Way {
  name: string;
  batch: () => void;
  close: () => void;
  /** Of the packets sealed so far, the share the workers did (the caller took back the rest). */
  onWorkers: () => number;
}

async function ways(): Promise<Way[] | null> {
  const sodium = loadSodium();
  if (!sodium) return null;
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const key = sodium.aead.key(raw);
  // Inline: the device's path, one seal per packet in place, on this thread.
  const buf = new Uint8Array(BATCH * SLOT).fill(0x5a);
  const plains = Array.from({ length: BATCH }, (_, i) => buf.subarray(i * SLOT, i * SLOT + SIZE));
  const sealed = Array.from(
    { length: BATCH },
    (_, i) => buf.subarray(i * SLOT, i * SLOT + SIZE + TAG_BYTES),
  );
  let counter = 0;
  const out: Way[] = [{
    name: "inline",
    batch: () => {
      for (let i = 0; i < BATCH; i++) key.seal(counter++, plains[i], sealed[i]);
    },
    close: () => {},
    onWorkers: () => 0,
  }];
  for (const workers of [1, 2]) {
    const pool = await CryptoWorkerPool.start({
      workers,
      dataBytes: BATCH * SLOT,
      entries: BATCH,
    });
    pool.data.fill(0x5a);
    const k = pool.key(raw)!;
    let c = 0;
    out.push({
      name: `${workers} worker${workers > 1 ? "s" : ""} + caller`,
      batch: () => {
        for (let i = 0; i < BATCH; i++) pool.set(i, OP_SEAL, k, c++, i * SLOT, SIZE);
        pool.run(0, BATCH);
      },
      close: () => pool.close(),
      onWorkers: () => pool.stats.workerEntries / Math.max(1, pool.stats.entries),
    });
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The table: one row per way; null without libsodium. */
export async function runCryptoWorkersBench(rounds = 3): Promise<Record<string, unknown>[] | null> {
  const all = await ways();
  if (!all) return null;
  try {
    const samples = new Map<string, Sample[]>(all.map((w) => [w.name, []]));
    for (const w of all) measure(w.batch, WARM_MS);
    for (let r = 0; r < rounds; r++) {
      for (const w of all) samples.get(w.name)!.push(measure(w.batch, RUN_MS));
    }
    const inline = median(samples.get("inline")!.map((s) => s.pps));
    return all.map((w) => {
      const s = samples.get(w.name)!;
      const pps = s.map((x) => x.pps);
      const cpu = s.map((x) => x.cpuPerGB);
      return {
        way: w.name,
        "kpkt/s median": Math.round(median(pps) / 1000),
        "kpkt/s min–max": `${Math.round(Math.min(...pps) / 1000)}–${
          Math.round(Math.max(...pps) / 1000)
        }`,
        "Gbit/s": Math.round(median(pps) * SIZE * 8 / 1e8) / 10,
        "vs inline": (median(pps) / inline).toFixed(2),
        "CPU-s/GB median": Math.round(median(cpu) * 100) / 100,
        "CPU-s/GB min–max": `${Math.min(...cpu).toFixed(2)}–${Math.max(...cpu).toFixed(2)}`,
        "on workers": `${Math.round(w.onWorkers() * 100)}%`,
      };
    });
  } finally {
    for (const w of all) w.close();
  }
}

if (import.meta.main) {
  const rounds = Number(Deno.args[0] ?? 3);
  console.log(
    `crypto workers: seal ${BATCH} × ${SIZE} B per batch, ${rounds} rounds interleaved, ` +
      `${navigator.hardwareConcurrency} cores`,
  );
  const rows = await runCryptoWorkersBench(rounds);
  if (!rows) console.log("skipped: libsodium is not available");
  else console.table(rows);
}
