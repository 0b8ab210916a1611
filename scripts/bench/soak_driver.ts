/**
 * The soak benchmark's load inside a namespace, through an agent's control API (one process for
 * the whole run: a `weft` command per call would start a process each time):
 *
 * - `policy <status> <state-dir> <every ms>`: on the leader, applies the two policies of
 *   soak_stats.ts in turn (the first at once), printing `{"kind": "policy", "applied",
 *   "failed", "error"?}` after each;
 * - `calls <status> <state-dir> <per second> <service/action>`: calls the action at that rate
 *   (at most 64 in flight: one due while 64 wait is counted `skipped`), printing every 5 s
 *   `{"kind": "calls", "ok", "failed", "skipped", "errors": {code: n}, "p50Ms", "p99Ms"}`
 *   (latencies of every answered call so far).
 *
 * Runs until SIGTERM, printing a last report then.
 * @module
 */

import { ControlClient } from "../../lib/control/mod.ts";
import { ServiceError } from "../../lib/services/mod.ts";
import { median, percentile } from "./net_measure.ts";
import { SOAK_POLICIES } from "./soak_stats.ts";

const print = (v: unknown) => console.log(JSON.stringify(v));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function policyLoop(client: ControlClient, everyMs: number): Promise<never> {
  let applied = 0;
  let failed = 0;
  for (let i = 0;; i++) {
    const t0 = Date.now();
    try {
      await client.applyPolicy(SOAK_POLICIES[i % 2]);
      applied++;
      print({ kind: "policy", applied, failed });
    } catch (e) {
      failed++;
      print({ kind: "policy", applied, failed, error: e instanceof Error ? e.message : String(e) });
    }
    await sleep(Math.max(0, everyMs - (Date.now() - t0)));
  }
}

async function callLoop(client: ControlClient, perSecond: number, path: string): Promise<never> {
  const lat: number[] = [];
  const errors: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  let skipped = 0;
  let inFlight = 0;
  const report = () =>
    print({
      kind: "calls",
      ok,
      failed,
      skipped,
      errors,
      p50Ms: Math.round(median(lat) * 100) / 100,
      p99Ms: Math.round(percentile(lat, 99) * 100) / 100,
    });
  Deno.addSignalListener("SIGTERM", () => {
    report();
    Deno.exit(0);
  });
  setInterval(report, 5000);
  const call = async (i: number) => {
    inFlight++;
    const t0 = performance.now();
    try {
      await client.call(path, { i }, { timeoutMs: 2000 });
      ok++;
      lat.push(performance.now() - t0);
    } catch (e) {
      failed++;
      const code = e instanceof ServiceError ? e.code : (e as Error).message.slice(0, 60);
      errors[code] = (errors[code] ?? 0) + 1;
    } finally {
      inFlight--;
    }
  };
  const start = performance.now();
  for (let i = 0;; i++) {
    const wait = start + (i * 1000) / perSecond - performance.now();
    if (wait > 0) await sleep(wait);
    if (inFlight >= 64) skipped++;
    else call(i);
  }
}

if (import.meta.main) {
  const [mode, status, stateDir, ...rest] = Deno.args;
  const token = (await Deno.readTextFile(`${stateDir}/control.token`)).trim();
  const client = new ControlClient(status, token);
  if (mode === "policy") await policyLoop(client, Number(rest[0]));
  else if (mode === "calls") await callLoop(client, Number(rest[0]), rest[1]);
  else {
    console.error("usage: soak_driver.ts policy|calls <status> <state-dir> ...");
    Deno.exit(2);
  }
}
