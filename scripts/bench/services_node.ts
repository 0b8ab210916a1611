/**
 * One process of the services benchmark (scripts/bench/services.ts), run inside a lab
 * namespace: either the HTTP backend (`backend`), or a mesh node (`node`) embedded through the
 * library (`MeshAgent` from mod.ts, TUN mode, joined with a token) that may subscribe to the
 * benchmark's events, and make the benchmark's calls and publishes (the provider is a `weft`
 * process the driver starts). It reports on stdout, one JSON object a line (`kind`: `ready`, `result`,
 * `subscribed`, `done`); the driver reads them.
 *
 *   deno run -A --unstable-net scripts/bench/services_node.ts '<config as JSON>'
 *
 * The caller measures both paths from the same process, one after the other, with the same
 * payload: `mesh.services.request` to the service (over the mesh's service port, through the tunnel) and
 * a plain HTTP POST to the backend at the provider's overlay address (through the TUN and the
 * tunnel). Every loop is bounded in time and in count.
 * @module
 */

import { createLogger, MeshAgent } from "../../mod.ts";
import { serveControl } from "../../mod.ts";
import { percentile } from "./net_measure.ts";

/** A request figure: one path at one concurrency and payload. */
export interface CallFigures {
  /**
   * `mesh` (mesh.services.request to the provider, through the tunnel), `local` (the same to a
   * service provided on the caller's own node) or `http` (POST through the tunnel).
   */
  path: CallPath;
  /** Callers at once. */
  concurrency: number;
  /** Bytes of filler in each call's params. */
  payloadBytes: number;
  /** Calls answered. */
  calls: number;
  /** Calls that failed, by error (code or message). */
  errors: Record<string, number>;
  /** Answered calls a second. */
  rps: number;
  /** The answered calls' latencies, ms (rounded to µs). */
  latMs: number[];
}

/** The ways a call is made. */
export type CallPath = "mesh" | "local" | "http";

/** What the caller measured of publishing. */
export interface PublishFigures {
  /** Events published. */
  events: number;
  /** Publishes in flight at once. */
  window: number;
  /** Wall clock (Unix ms) when the first publish started. */
  startedAt: number;
  /** Seconds until the last publish was acknowledged by every node. */
  seconds: number;
  /** Publishes whose event some node never acknowledged. */
  unacked: number;
  /** Publishes that threw. */
  failed: number;
}

/** The caller's plan. */
export interface CallPlan {
  /** The service's name (its action is `echo`). */
  service: string;
  /** The node that provides it (its overlay address is the HTTP target). */
  provider: string;
  /** The backend's port on the provider. */
  backendPort: number;
  /** Seconds per measurement. */
  seconds: number;
  /** The concurrencies to measure. */
  concurrency: number[];
  /** Measurement rounds (each path at each concurrency per round, interleaved). */
  rounds: number;
  /** Bytes of filler in each call's params: each size measured in turn. */
  payloads: number[];
  /** Events to publish (0: no publish phase). */
  events: number;
  /** Publishes in flight at once. */
  window: number;
  /** The nodes whose subscriptions must be known before publishing. */
  subscribers: string[];
}

/** A process's configuration (the one argument, as JSON). */
export type NodeConfig =
  | { role: "backend"; port: number }
  | {
    role: "node";
    name: string;
    token: string;
    stateDir: string;
    iface: string;
    /** Subscribe `count` times to `bench/*`, each expecting `expected` events. */
    subscribe?: { count: number; expected: number };
    /** Make the benchmark's calls and publishes. */
    call?: CallPlan;
  };

/** Most calls one measurement makes, whatever its time. */
const MAX_CALLS = 1_000_000;
/** How long the caller waits for what it needs (instances, subscriptions) before giving up, ms. */
const GUARD_MS = 120_000;

function say(obj: Record<string, unknown>): void {
  console.log(JSON.stringify(obj));
}

function wall(): number {
  return performance.timeOrigin + performance.now();
}

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  const end = performance.now() + GUARD_MS;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `concurrency` loops calling `call` for `seconds` (at most {@link MAX_CALLS} calls): answered
 * calls a second and their latencies, failures by error code (or message).
 */
export async function measure(
  path: CallPath,
  call: (i: number) => Promise<void>,
  concurrency: number,
  seconds: number,
  payloadBytes = 0,
): Promise<CallFigures> {
  const lat: number[] = [];
  const errors: Record<string, number> = {};
  let n = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end && n < MAX_CALLS) {
      const i = n++;
      const s = performance.now();
      try {
        await call(i);
        lat.push(performance.now() - s);
      } catch (e) {
        const key = (e as { code?: string }).code ?? (e instanceof Error ? e.message : String(e));
        errors[key.slice(0, 80)] = (errors[key.slice(0, 80)] ?? 0) + 1;
      }
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  return {
    path,
    concurrency,
    payloadBytes,
    calls: lat.length,
    errors,
    rps: lat.length / elapsed,
    latMs: lat.map((x) => Math.round(x * 1000) / 1000),
  };
}

/** The median ping RTT to `address` through the tunnel, ms (NaN when ping fails). */
async function pingMs(address: string): Promise<number> {
  const out = await new Deno.Command("ping", {
    args: ["-n", "-c", "20", "-i", "0.05", "-W", "2", address],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => null);
  if (!out) return NaN;
  const rtts = [...new TextDecoder().decode(out.stdout).matchAll(/time=([0-9.]+) ms/g)].map((m) =>
    Number(m[1])
  );
  return percentile(rtts, 50);
}

async function runCalls(
  mesh: MeshAgent,
  plan: CallPlan,
): Promise<{ calls: CallFigures[]; pingMs: number }> {
  const callable = () =>
    mesh.services.instances(plan.service).some((i) =>
      i.node === plan.provider && i.rpc && i.healthy
    );
  await waitFor(`${plan.service} on ${plan.provider}`, callable);
  const provider = mesh.view().members.find((m) => m.name === plan.provider)!;
  const url = `http://${provider.address}:${plan.backendPort}/echo`;
  // A service on this node too: `local` calls it (the same client, no tunnel).
  mesh.services.provide("here", { echo: (p) => p });
  const out: CallFigures[] = [];
  const ping = await pingMs(provider.address);
  for (const bytes of plan.payloads) {
    // Filler as data usually is: base64 of random bytes (deflating saves about a quarter).
    const random = new Uint8Array(Math.ceil(bytes * 3 / 4));
    for (let i = 0; i < random.length; i += 65536) {
      crypto.getRandomValues(random.subarray(i, i + 65536));
    }
    const filler = btoa(Array.from(random, (b) => String.fromCharCode(b)).join("")).slice(
      0,
      bytes,
    );
    const params = (i: number) => ({ i, filler });
    const timeoutMs = 5000 + Math.ceil(bytes / 1024) * 20;
    const viaService = (service: string) => async (i: number) => {
      const r = await mesh.services.request(`${service}/echo`, params(i), {
        timeoutMs,
        retries: 0,
      });
      if ((r as { i?: number }).i !== i) throw new Error("wrong answer");
    };
    const viaMesh = viaService(plan.service);
    const viaLocal = viaService("here");
    const viaHttp = async (i: number) => {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(params(i)),
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status}`);
      }
      if (((await res.json()) as { i?: number }).i !== i) throw new Error("wrong answer");
    };
    // Warm every path (sessions, connections, JIT) before anything is measured.
    await measure("mesh", viaMesh, 4, 1);
    await measure("local", viaLocal, 4, 1);
    await measure("http", viaHttp, 4, 1);
    for (let r = 0; r < plan.rounds; r++) {
      for (const c of plan.concurrency) {
        out.push(await measure("mesh", viaMesh, c, plan.seconds, bytes));
        out.push(await measure("local", viaLocal, c, plan.seconds, bytes));
        out.push(await measure("http", viaHttp, c, plan.seconds, bytes));
      }
    }
  }
  return { calls: out, pingMs: ping };
}

async function runPublish(mesh: MeshAgent, plan: CallPlan): Promise<PublishFigures> {
  const addresses = () =>
    plan.subscribers.map((n) => mesh.view().members.find((m) => m.name === n)?.address);
  await waitFor("the subscribers' subscriptions", () => {
    const known = mesh.services.status().remoteSubscriptions;
    return addresses().every((a) =>
      a !== undefined &&
      known.some((r) => r.address === a && r.entries.some((e) => e.pattern === "bench/*"))
    );
  });
  let next = 0;
  let unacked = 0;
  let failed = 0;
  const startedAt = wall();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: plan.window }, async () => {
    while (next < plan.events) {
      const i = next++;
      try {
        const r = await mesh.services.publish("bench/ev", { i }, { mode: "all" });
        if (r.unacked.length > 0) unacked++;
      } catch {
        failed++;
      }
    }
  }));
  return {
    events: plan.events,
    window: plan.window,
    startedAt,
    seconds: (performance.now() - t0) / 1000,
    unacked,
    failed,
  };
}

/** Subscribes `count` times; says `done` once each got `expected` events, or at SIGTERM. */
function subscribe(mesh: MeshAgent, name: string, count: number, expected: number): void {
  let delivered = 0;
  let last = 0;
  let finished = 0;
  let reported = false;
  const subs = Array.from(
    { length: count },
    () => mesh.services.subscribe("bench/*", { maxQueue: Math.max(256, expected) }),
  );
  const report = () => {
    if (reported) return;
    reported = true;
    const dropped = subs.reduce((s, x) => s + x.dropped, 0);
    say({ kind: "done", node: name, delivered, lastAt: last, dropped });
  };
  for (const s of subs) {
    void (async () => {
      let got = 0;
      for await (const _ of s) {
        delivered++;
        last = wall();
        if (++got === expected && ++finished === count) report();
      }
    })();
  }
  Deno.addSignalListener("SIGTERM", () => {
    report();
    Deno.exit(0);
  });
  say({ kind: "subscribed", node: name, count });
}

async function main(config: NodeConfig): Promise<void> {
  if (config.role === "backend") {
    // Any program as a service: an HTTP server answering POST /echo with the JSON it got.
    Deno.serve({
      hostname: "0.0.0.0",
      port: config.port,
      onListen: () => say({ kind: "ready", role: "backend", port: config.port }),
    }, async (req) => Response.json(await req.json()));
    return;
  }
  const mesh = await MeshAgent.start({
    role: "node",
    token: config.token,
    stateDir: config.stateDir,
    hostname: config.name,
    interfaceName: config.iface,
    listenPort: 51820,
    dnsPort: 0,
    logger: createLogger({ level: "warn" }),
  });
  // /metrics and /status on the usual address, for the driver.
  const server = serveControl(mesh.agent, { listen: "127.0.0.1:51880", mesh });
  say({ kind: "ready", role: "node", node: config.name });
  if (config.subscribe) {
    subscribe(mesh, config.name, config.subscribe.count, config.subscribe.expected);
  }
  if (config.call) {
    const { calls, pingMs } = await runCalls(mesh, config.call);
    const publish = config.call.events > 0 ? await runPublish(mesh, config.call) : null;
    say({ kind: "result", calls, pingMs, publish });
    await server.close();
    await mesh.close();
    Deno.exit(0);
  }
}

if (import.meta.main) {
  const arg = Deno.args[0];
  if (!arg) {
    console.error("usage: services_node.ts '<config as JSON>'");
    Deno.exit(2);
  }
  await main(JSON.parse(arg) as NodeConfig);
}
