/**
 * The services benchmark (issue 16), root: a mesh in namespaces, each node in its own:
 *
 * - `lead`: `weft --leader` (TUN mode);
 * - `srv`: the provider, as a user runs one: an HTTP echo backend (a separate process listening
 *   on every address: action `echo` is `POST /echo`, the JSON comes back) and the real CLI,
 *   `weft --join <token> --service echo:8080/tcp --service-http echo=http://127.0.0.1:8080
 *   --service-caller-limit ...` (the default per-caller limit, 200 calls a second and 32 at
 *   once, would measure the limiter rather than the path);
 * - `cli`: a mesh agent embedded through the library (mod.ts's `MeshAgent`, TUN mode, joined
 *   with a token: services_node.ts) that calls the service with one caller and with many at
 *   once: `mesh.services.request("echo/echo")` (the service port, through the tunnel, then the provider
 *   agent's HTTP call to the backend on its loopback), against the same calls straight over HTTP
 *   from `cli` to the same backend at `srv`'s overlay address (through both TUNs and the
 *   tunnel), same payload, interleaved, `--rounds` times (the rate: median of the rounds; p50
 *   and p99: over every call); and, beside them, the same calls of a service `cli` provides
 *   itself (`local`: the client's own node, no tunnel). Each payload size in turn (`--payload`,
 *   default 100 bytes and 1 MiB of base64 filler: messages of 8 KiB and more go deflated);
 * - `s1`, `s2`, `s3`: embedded agents that each subscribe `--subs` times to `bench/*`; `cli`
 *   publishes `--events` events (mode `all`, `--window` in flight) and every node reports when
 *   each of its subscribers got them all: the fan-out rate is deliveries a second, from the
 *   first publish to the last delivery (one clock: the namespaces share the host's).
 *
 * Figures and ratios, never assertions.
 *
 *   deno run -A --unstable-net scripts/bench/services.ts [--seconds 2] [--rounds 5]
 *     [--concurrency 1,16] [--payload 100,1048576] [--events 2000] [--window 32] [--subs 4]
 * @module
 */

import { canBuildLabs, destroyLabsOnSignal, eventually, Lab } from "../../tests/fixtures/netns.ts";
import { startMeshNode, waitUp, weftIn } from "../../tests/fixtures/mesh_lab.ts";
import { median, percentile } from "./net_measure.ts";
import type { CallFigures, NodeConfig, PublishFigures } from "./services_node.ts";

const NODE_SCRIPT = new URL("./services_node.ts", import.meta.url).pathname;
const CIDR = "10.93.0.0/24";
const IF_PREFIX = "wv";
const BACKEND_PORT = 8080;
/** The provider's per-caller limit: far above what the callers ask (see the module docs). */
const CALLER_LIMIT = "1000000,concurrent=256";
/** How long the driver waits for a process's report before calling it a hang, ms. */
const GUARD_MS = 600_000;

/** What the benchmark is asked to do. */
export interface ServicesBenchOptions {
  /** Seconds per measurement (default 2). */
  seconds?: number;
  /** Rounds of measurements, interleaved (default 5). */
  rounds?: number;
  /** Callers at once (default [1, 16]). */
  concurrency?: number[];
  /** Filler bytes per call, each size measured in turn (default 100 and 1 MiB). */
  payloads?: number[];
  /** Events to publish (default 2000). */
  events?: number;
  /** Publishes in flight (default 32). */
  window?: number;
  /** Subscribers per subscribing node (default 4). */
  subs?: number;
}

/** One path at one concurrency: rate the median over the rounds, latencies of all calls. */
export interface ServicesCallRow {
  /** Filler bytes per call. */
  payloadBytes: number;
  /** `mesh` (to the provider), `local` (a service of the caller's node) or `http` (POST). */
  path: string;
  /** Callers at once. */
  concurrency: number;
  /** Answered calls a second. */
  rps: number;
  /** Latency median, ms. */
  p50Ms: number;
  /** Latency 99th percentile, ms. */
  p99Ms: number;
  /** Calls answered, all rounds. */
  calls: number;
  /** Calls failed, all rounds. */
  errors: number;
}

/** Mesh against HTTP at one concurrency and payload. */
export interface ServicesRatio {
  /** Filler bytes per call. */
  payloadBytes: number;
  /** Callers at once. */
  concurrency: number;
  /** Mesh calls a second over HTTP calls a second. */
  rps: number;
  /** Mesh p50 over HTTP p50. */
  p50: number;
  /** Mesh p99 over HTTP p99. */
  p99: number;
}

/** The fan-out figures. */
export interface FanoutRow {
  /** Subscribing nodes. */
  nodes: number;
  /** Subscribers in all. */
  subscribers: number;
  /** Events published. */
  events: number;
  /** Deliveries expected (events × subscribers) and made. */
  expected: number;
  /** Deliveries made. */
  delivered: number;
  /** Deliveries a second, first publish to last delivery. */
  deliveriesPerSecond: number;
  /** Publishes a second (each acknowledged by every subscribing node). */
  publishesPerSecond: number;
  /** Publishes some node did not acknowledge. */
  unacked: number;
  /** Events dropped by full subscriber queues. */
  dropped: number;
}

/** Everything the benchmark reports. */
export interface ServicesBenchResult {
  /** The request figures. */
  rows: ServicesCallRow[];
  /** Mesh over HTTP. */
  ratios: ServicesRatio[];
  /** Publish fan-out. */
  fanout: FanoutRow | null;
  /** Errors seen, and what was measured. */
  notes: string[];
}

/** The JSON lines a process printed so far. */
function reports(output: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line));
    } catch { /* a line cut short, or not ours */ }
  }
  return out;
}

/** Waits for a report of `kind` from a process; throws with its output when it exits first. */
async function report(
  proc: { child: Deno.ChildProcess; output: () => string },
  kind: string,
  what: string,
): Promise<Record<string, unknown>> {
  let exited = false;
  proc.child.status.then(() => exited = true);
  const find = () => reports(proc.output()).find((r) => r.kind === kind);
  await eventually(() => Promise.resolve(exited || find() !== undefined), GUARD_MS, 100);
  const r = find();
  if (!r) {
    throw new Error(
      `${what}: no ${kind} report${exited ? " (it exited)" : ""}:\n${proc.output().slice(-3000)}`,
    );
  }
  return r;
}

/** Runs the benchmark; null where it cannot run (not root, no namespaces). */
export async function runServicesBench(
  opts: ServicesBenchOptions = {},
): Promise<ServicesBenchResult | null> {
  if (!(await canBuildLabs())) return null;
  const o = {
    seconds: opts.seconds ?? 2,
    rounds: opts.rounds ?? 5,
    concurrency: opts.concurrency ?? [1, 16],
    payloads: opts.payloads ?? [100, 1 << 20],
    events: opts.events ?? 2000,
    window: opts.window ?? 32,
    subs: opts.subs ?? 4,
  };
  const subscribers = ["s1", "s2", "s3"];
  const lab = await Lab.create(["lead", "srv", "cli", ...subscribers]);
  const dir = await Deno.makeTempDir({ prefix: "weft-services-bench-" });
  const mesh = { dir, cidr: CIDR, ifPrefix: IF_PREFIX };
  const deno = (host: string, config: NodeConfig) =>
    lab.spawn(host, Deno.execPath(), [
      "run",
      "-A",
      "--unstable-net",
      NODE_SCRIPT,
      JSON.stringify(config),
    ]);
  try {
    const leader = startMeshNode(lab, mesh, "lead", ["--leader", "--advertise", "192.0.2.1:51820"]);
    await waitUp(lab, "lead", dir, leader);
    const tok = await weftIn(lab, "lead", dir, "token", "create", "--uses", "5", "--ttl", "1h");
    if (tok.code !== 0) throw new Error(`token create failed: ${tok.stderr}`);
    const token = tok.stdout.trim();
    const node = (host: string, extra: Partial<Extract<NodeConfig, { role: "node" }>>) =>
      deno(host, {
        role: "node",
        name: host,
        token,
        stateDir: `${dir}/${host}`,
        iface: `${IF_PREFIX}${host.slice(0, 2)}${lab.tag}`,
        ...extra,
      });

    const backend = deno("srv", { role: "backend", port: BACKEND_PORT });
    await report(backend, "ready", "the backend");
    const subscribe = { count: o.subs, expected: o.events };
    // One join at a time: the leader answers them in turn anyway.
    const provider = startMeshNode(lab, mesh, "srv", [
      "--join",
      token,
      "--service",
      `echo:${BACKEND_PORT}/tcp`,
      "--service-http",
      `echo=http://127.0.0.1:${BACKEND_PORT}`,
      "--service-caller-limit",
      CALLER_LIMIT,
    ]);
    await waitUp(lab, "srv", dir, provider);
    const nodes = new Map<string, ReturnType<typeof node>>();
    for (const h of subscribers) {
      nodes.set(h, node(h, { subscribe }));
      await report(nodes.get(h)!, "subscribed", h);
    }
    const caller = node("cli", {
      call: {
        service: "echo",
        provider: "srv",
        backendPort: BACKEND_PORT,
        seconds: o.seconds,
        concurrency: o.concurrency,
        rounds: o.rounds,
        payloads: o.payloads,
        events: o.events,
        window: o.window,
        subscribers,
      },
    });
    const result = await report(caller, "result", "the caller") as {
      calls: CallFigures[];
      pingMs: number | null;
      publish: PublishFigures | null;
    };

    const notes: string[] = [
      `payloads ${
        o.payloads.join(", ")
      } B of base64 filler, ${o.seconds} s per measurement, ${o.rounds} ` +
      "round(s) interleaved; the mesh path adds the provider agent's (weft --join ... " +
      `--service-http, --service-caller-limit ${CALLER_LIMIT}) HTTP call to its backend ` +
      "on loopback",
      `ping RTT cli → srv through the tunnel (TUN to TUN), median of 20: ${
        result.pingMs === null ? "n/a" : round2(result.pingMs)
      } ms`,
    ];
    const { rows, ratios, errors } = callRows(result.calls, o.concurrency);
    notes.push(...errors);

    let fanout: FanoutRow | null = null;
    const pub = result.publish;
    if (pub) {
      const done = await Promise.all(subscribers.map(async (h) => {
        const proc = nodes.get(h)!;
        // A node whose subscribers never got every event reports what they got when stopped.
        const got = await Promise.race([
          report(proc, "done", h),
          new Promise<null>((r) => setTimeout(() => r(null), 30_000)),
        ]);
        if (got) return got;
        await lab.stop(proc.child);
        notes.push(`${h}: not every event arrived`);
        return reports(proc.output()).find((r) => r.kind === "done") ?? null;
      })) as ({ delivered: number; lastAt: number; dropped: number } | null)[];
      const delivered = done.reduce((s, d) => s + (d?.delivered ?? 0), 0);
      const last = Math.max(...done.map((d) => d?.lastAt ?? 0));
      const expected = pub.events * o.subs * subscribers.length;
      fanout = {
        nodes: subscribers.length,
        subscribers: o.subs * subscribers.length,
        events: pub.events,
        expected,
        delivered,
        deliveriesPerSecond: Math.round(delivered / ((last - pub.startedAt) / 1000)),
        publishesPerSecond: Math.round(pub.events / pub.seconds),
        unacked: pub.unacked,
        dropped: done.reduce((s, d) => s + (d?.dropped ?? 0), 0),
      };
      if (pub.failed > 0) notes.push(`${pub.failed} publishes failed`);
    }
    return { rows, ratios, fanout, notes };
  } finally {
    await lab.destroy();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * The request figures of every round, as rows per path and concurrency (calls a second: the
 * median over the rounds; p50 and p99: over every call of every round), mesh-over-HTTP ratios,
 * and one line per kind of error seen.
 */
export function callRows(
  calls: readonly CallFigures[],
  concurrency: readonly number[],
): { rows: ServicesCallRow[]; ratios: ServicesRatio[]; errors: string[] } {
  const rows: ServicesCallRow[] = [];
  const errors: string[] = [];
  const payloads = [...new Set(calls.map((r) => r.payloadBytes))];
  const paths = (["mesh", "local", "http"] as const).filter((p) => calls.some((r) => r.path === p));
  for (const bytes of payloads) {
    for (const path of paths) {
      for (const c of concurrency) {
        const runs = calls.filter((r) =>
          r.path === path && r.concurrency === c && r.payloadBytes === bytes
        );
        const lat = runs.flatMap((r) => r.latMs);
        let failed = 0;
        const byKind = new Map<string, number>();
        for (const r of runs) {
          for (const [e, n] of Object.entries(r.errors)) {
            failed += n;
            byKind.set(e, (byKind.get(e) ?? 0) + n);
          }
        }
        for (const [e, n] of byKind) errors.push(`${path} x${c} ${bytes} B: ${n} × ${e}`);
        rows.push({
          payloadBytes: bytes,
          path,
          concurrency: c,
          rps: Math.round(median(runs.map((r) => r.rps))),
          p50Ms: round2(percentile(lat, 50)),
          p99Ms: round2(percentile(lat, 99)),
          calls: runs.reduce((s, r) => s + r.calls, 0),
          errors: failed,
        });
      }
    }
  }
  const ratios = payloads.flatMap((bytes) =>
    concurrency.map((c): ServicesRatio => {
      const row = (path: string) =>
        rows.find((r) => r.path === path && r.concurrency === c && r.payloadBytes === bytes)!;
      const m = row("mesh");
      const h = row("http");
      return {
        payloadBytes: bytes,
        concurrency: c,
        rps: round2(m.rps / h.rps),
        p50: round2(m.p50Ms / h.p50Ms),
        p99: round2(m.p99Ms / h.p99Ms),
      };
    })
  );
  return { rows, ratios, errors };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Prints the tables. */
export function printServicesBench(r: ServicesBenchResult): void {
  console.table(r.rows);
  console.log(
    "ratios mesh.services.request against plain HTTP through the tunnel (rps, p50, p99):",
  );
  console.table(r.ratios);
  if (r.fanout) {
    console.log("publish fan-out (mode all):");
    console.table([r.fanout]);
  }
  for (const n of r.notes) console.log(`note: ${n}`);
}

if (import.meta.main) {
  destroyLabsOnSignal();
  const flag = (name: string) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Deno.args[i + 1] : undefined;
  };
  const num = (name: string) => (flag(name) === undefined ? undefined : Number(flag(name)));
  const r = await runServicesBench({
    seconds: num("seconds"),
    rounds: num("rounds"),
    concurrency: flag("concurrency")?.split(",").map(Number),
    payloads: flag("payload")?.split(",").map(Number),
    events: num("events"),
    window: num("window"),
    subs: num("subs"),
  });
  if (!r) console.log("skipped: needs root and ip netns");
  else printServicesBench(r);
}
