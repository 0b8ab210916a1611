/**
 * What one `GET /metrics` costs a leader of many peers: the page of scripts/bench/metrics.ts
 * served through the status routes and read to its end, as a scraper does. Per round: ms per
 * scrape, the page's bytes and chunks, and the memory it took: the peak of heap used plus
 * external (array buffers) above the level before, sampled at each chunk read, and what was
 * left once collected.
 *
 *   deno run -A --v8-flags=--expose-gc scripts/bench/metrics_memory.ts [peers=10000] [rounds=5]
 * @module
 */

import { meshPage } from "./metrics.ts";
import { statusRoutes, type StatusSource } from "../../lib/control/routes/status.ts";

/** What one scrape measured. */
export interface ScrapeCost {
  /** Milliseconds from the request to the page's last byte. */
  ms: number;
  /** Bytes of the page. */
  bytes: number;
  /** Chunks the body came in. */
  chunks: number;
  /** Peak of heap used plus external above the level before, MiB. */
  peakMiB: number;
  /** Left after a collection, MiB. */
  retainedMiB: number;
}

const MIB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc;
const level = () => {
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
};

/** Scrapes `/metrics` of a page of `peers` peers `rounds` times (after one warm-up scrape). */
export async function runMetricsMemoryBench(peers = 10_000, rounds = 5): Promise<ScrapeCost[]> {
  if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");
  const app = statusRoutes({ metrics: meshPage(peers) } as unknown as StatusSource, {
    dashboard: false,
  });
  const out: ScrapeCost[] = [];
  for (let r = 0; r <= rounds; r++) {
    gc();
    const base = level();
    let peak = base, bytes = 0, chunks = 0;
    const t0 = performance.now();
    const res = await app.request("/metrics");
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      peak = Math.max(peak, level());
      if (done) break;
      bytes += value.length;
      chunks++;
    }
    const ms = performance.now() - t0;
    gc();
    const cost = {
      ms: Math.round(ms),
      bytes,
      chunks,
      peakMiB: Math.round((peak - base) / MIB * 10) / 10,
      retainedMiB: Math.round((level() - base) / MIB * 10) / 10,
    };
    if (r > 0) out.push(cost);
  }
  return out;
}

if (import.meta.main) {
  const costs = await runMetricsMemoryBench(
    Number(Deno.args[0] ?? 10_000),
    Number(Deno.args[1] ?? 5),
  );
  for (const c of costs) console.log(JSON.stringify(c));
}
