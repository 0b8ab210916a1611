/**
 * Idle-tunnel ping latency (issue 15), root: a tunnel between two fresh namespaces per
 * implementation — weft with each variant asked for, the Debian `wireguard-go`, the other builds
 * of `WG_GO` (as the network lab) — all up at once and pinged in interleaved rounds, so the
 * machine's load falls on every one alike; prints the RTT median, p10 and p90 of each.
 *
 * `--trace` also runs a weft tunnel whose agents stamp each step of each ping
 * (`WEFT_LATENCY_TRACE`, lib/agent/latency_trace.ts) and prints where the round trip went: the
 * median of each step over the pings, from `ping` sending the request to `ping` getting the reply,
 * over the slowest tenth and over the first ping of each round (the tunnel idle before it).
 *
 * A variant is `NAME=ENV=VALUE[,ENV=VALUE]` (`--weft spin=WEFT_POLL_SPIN_MS=0.5`): weft with these
 * environment variables; `--weft NAME` alone is weft as it is, a neutral twin of the first variant:
 * the difference between the two is what the order and the machine did, not a setting. `--weft-v8 NAME=FLAG[,FLAG]` is weft started with these V8 flags instead of
 * its own (lib/agent/jit.ts; `--weft-v8 v8=` with none: V8's defaults); `NAME=+FLAG[,FLAG]` with
 * its own and these after them (the later wins). Figures, never assertions.
 *
 * Besides the whole run's percentiles it prints the fresh tunnel's p90 (the first two rounds: a
 * fresh agent's code still compiling) and the p90 after them, nearest rank, and the tunnel's very
 * first ping (`handshake ping`: sent before any session, it waits for the handshake).
 *
 * `--tcp N` also runs iperf3 TCP with one stream N times per implementation (`--seconds`, 5),
 * interleaved: throughput (median, mean, each run) and both agents' CPU-seconds per GB.
 *
 * The variants are pinged in turn, each round starting one later (the order they were named in,
 * rotated; the tunnels come up in round 0's order). `--shuffle SEED`: round r is led by variant
 * (r + SEED) mod n and the others follow in an order drawn from SEED and r (round 0's brings the
 * tunnels up too), so no variant always follows the same neighbour, and runs with SEED 0 to n-1
 * each have another variant first after the setup: a variant's own figures apart from its place.
 *
 * `--raw FILE` writes every RTT with its variant, round, place in the round's order and seq as JSON.
 *
 * `--cpu` also measures both agents' CPU time and context switches (wake-ups) per second, idle
 * (10 s, long after the last packet) and while pinged every 50 ms (10 s), from /proc.
 *
 * `--sched` records the scheduler's events through the rounds (`perf record`, system-wide) and
 * prints, per implementation, how long its agents' threads waited for a CPU inside each ping
 * (scripts/bench/sched_wait.ts): over all pings and over the slowest tenth.
 *
 * `deno run -A scripts/bench/latency.ts [--rounds 10] [--count 20] [--interval 0.05] [--warm N]
 *  [--trace] [--cpu] [--tcp N] [--weft NAME[=ENV=VALUE,...] ...] [--weft-v8 NAME=FLAGS ...]
 *  [--no-wg] [--shuffle SEED] [--keep] [--raw FILE] [--sched]`
 * @module
 */

import { canBuildLabs, destroyLabsOnSignal, haveCommands } from "../../tests/fixtures/netns.ts";
import { type Build, findBuilds, type Tunnel, withTunnel } from "./net_lab.ts";
import { CpuMeter, iperf3, median, percentile } from "./net_measure.ts";
import { analyzeSched, type PingSched } from "./sched_wait.ts";
import { JIT_V8_FLAGS } from "../../lib/agent/jit.ts";

interface Variant {
  name: string;
  build: Build;
  env: Record<string, string>;
  /** V8 flags instead of weft's own. */
  v8Flags?: string[];
  trace?: string;
}

export interface TraceEvent {
  k: string;
  t: number;
  a: number;
  b: number;
  c: number;
}

/** The steps of one ping's round trip, in order: a label and the event that ends the step. */
export const STEPS = [
  "ping sends → a: poll wakes (TUN)",
  "a: wake → packet read from TUN",
  "a: route + seal",
  "a: sendmmsg called → b: poll wakes (UDP)",
  "b: wake → datagram received",
  "b: open (decrypt) + checks",
  "b: TUN write (request)",
  "b written → b: poll wakes (TUN, reply)",
  "b: wake → reply read from TUN",
  "b: route + seal",
  "b: sendmmsg called → a: poll wakes (UDP)",
  "a: wake → datagram received",
  "a: open (decrypt) + checks",
  "a: TUN write (reply)",
  "a written → ping gets the reply",
] as const;

/** The step durations (µs) of one ping, or null when its events are not all there. */
export function pingSteps(
  a: TraceEvent[],
  b: TraceEvent[],
  sent: number,
  rttMs: number,
): number[] | null {
  const find = (evs: TraceEvent[], from: number, pred: (e: TraceEvent) => boolean) => {
    for (let i = from; i < evs.length; i++) if (pred(evs[i])) return i;
    return -1;
  };
  const wakeBefore = (evs: TraceEvent[], i: number) => {
    for (let j = i; j >= 0; j--) if (evs[j].k === "poll-wake") return j;
    return -1;
  };
  const aRead = find(a, 0, (e) => e.k === "tun-read" && e.a === 8 && e.c === sent);
  if (aRead < 0) return null;
  const t0 = a[aRead].c;
  const aWake = wakeBefore(a, aRead);
  const aSend = find(a, aRead, (e) => e.k === "udp-send");
  const aFlush = find(a, aSend, (e) => e.k === "udp-flush");
  if (aWake < 0 || aSend < 0 || aFlush < 0) return null;
  const bRecv = find(b, 0, (e) => e.k === "udp-recv" && e.t >= a[aSend].t);
  if (bRecv < 0) return null;
  const bWake = wakeBefore(b, bRecv);
  const bWrite = find(b, bRecv, (e) => e.k === "tun-write" && e.a === 8 && e.c === sent);
  if (bWrite < 0) return null;
  const bWritten = find(b, bWrite, (e) => e.k === "tun-written");
  const bRead = find(b, bWritten, (e) => e.k === "tun-read" && e.a === 0 && e.c === sent);
  if (bRead < 0) return null;
  const bWake2 = wakeBefore(b, bRead);
  const bSend = find(b, bRead, (e) => e.k === "udp-send");
  const bFlush = find(b, bSend, (e) => e.k === "udp-flush");
  if (bFlush < 0) return null;
  const aRecv = find(a, aFlush, (e) => e.k === "udp-recv" && e.t >= b[bSend].t);
  if (aRecv < 0) return null;
  const aWake2 = wakeBefore(a, aRecv);
  const aWrite = find(a, aRecv, (e) => e.k === "tun-write" && e.a === 0 && e.c === sent);
  if (aWrite < 0) return null;
  const aWritten = find(a, aWrite, (e) => e.k === "tun-written");
  if (bWake < 0 || bWake2 < 0 || aWake2 < 0 || aWritten < 0) return null;
  const times = [
    t0,
    a[aWake].t,
    a[aRead].t,
    a[aSend].t,
    b[bWake].t,
    b[bRecv].t,
    b[bWrite].t,
    b[bWritten].t,
    b[bWake2].t,
    b[bRead].t,
    b[bSend].t,
    a[aWake2].t,
    a[aRecv].t,
    a[aWrite].t,
    a[aWritten].t,
    t0 + rttMs * 1000,
  ];
  // Then, apart: how long each sendmmsg took to return (the receiver may wake before it does).
  return [
    ...times.slice(1).map((t, i) => t - times[i]),
    a[aFlush].t - a[aSend].t,
    b[bFlush].t - b[bSend].t,
  ];
}

function readTrace(prefix: string, pid: number): TraceEvent[] {
  try {
    return Deno.readTextFileSync(`${prefix}.${pid}`).trim().split("\n").filter((l) => l)
      .map((l) => JSON.parse(l) as TraceEvent);
  } catch {
    return [];
  }
}

async function withTunnels<T>(
  variants: Variant[],
  fn: (tunnels: Tunnel[]) => Promise<T>,
  acc: Tunnel[] = [],
): Promise<T> {
  if (acc.length === variants.length) return await fn(acc);
  const v = variants[acc.length];
  const saved = Object.keys(v.env).map((k) => [k, Deno.env.get(k)] as const);
  for (const [k, val] of Object.entries(v.env)) Deno.env.set(k, val);
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    for (const [k, val] of saved) val === undefined ? Deno.env.delete(k) : Deno.env.set(k, val);
  };
  try {
    return await withTunnel(v.build, [], (t) => {
      restore();
      return withTunnels(variants, fn, [...acc, t]);
    }, v.v8Flags);
  } finally {
    restore();
  }
}

/** One thread's figures: CPU time and time runnable but waiting for a CPU (ms), switches. */
interface ThreadFigures {
  cpuMs: number;
  waitMs: number;
  switches: number;
}

/**
 * Per thread of a process: CPU time and run-queue wait (ms, from schedstat: precise) and context
 * switches.
 */
function threadsOf(pid: number): Map<string, ThreadFigures> {
  const out = new Map<string, ThreadFigures>();
  for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const base = `/proc/${pid}/task/${e.name}`;
      const sched = Deno.readTextFileSync(`${base}/schedstat`).split(" ");
      const cpuMs = Number(sched[0]) / 1e6;
      const waitMs = Number(sched[1]) / 1e6;
      let switches = 0;
      const status = Deno.readTextFileSync(`${base}/status`);
      for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)/gm)) {
        switches += Number(m[1]);
      }
      out.set(`${pid}/${e.name}`, { cpuMs, waitMs, switches });
    } catch { /* the thread ended while listed */ }
  }
  return out;
}

/** A snapshot of several processes' threads. */
function snapshot(pids: number[]): Map<string, ThreadFigures> {
  return new Map(pids.flatMap((p) => [...threadsOf(p)]));
}

/** What the threads did between two snapshots (a thread born meanwhile counts from zero). */
function delta(
  before: Map<string, ThreadFigures>,
  after: Map<string, ThreadFigures>,
): ThreadFigures {
  let cpuMs = 0;
  let waitMs = 0;
  let switches = 0;
  for (const [tid, a] of after) {
    const b = before.get(tid);
    cpuMs += a.cpuMs - (b?.cpuMs ?? 0);
    waitMs += a.waitMs - (b?.waitMs ?? 0);
    switches += a.switches - (b?.switches ?? 0);
  }
  return { cpuMs, waitMs, switches };
}

/** What both agents of each tunnel spent per second while `during` ran (or idle `seconds`). */
async function measureCpu(
  tunnels: Tunnel[],
  seconds: number,
  during?: (t: Tunnel) => Promise<unknown>,
): Promise<{ cpuMsPerS: number; waitMsPerS: number; switchesPerS: number }[]> {
  const pids = tunnels.map((t) => [t.a.child.pid, t.b.child.pid]);
  const per = (d: ThreadFigures, s: number) => ({
    cpuMsPerS: d.cpuMs / s,
    waitMsPerS: d.waitMs / s,
    switchesPerS: d.switches / s,
  });
  if (!during) {
    const before = pids.map(snapshot);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const s = (performance.now() - t0) / 1000;
    return pids.map((ps, i) => per(delta(before[i], snapshot(ps)), s));
  }
  const out: { cpuMsPerS: number; waitMsPerS: number; switchesPerS: number }[] = [];
  for (const [i, t] of tunnels.entries()) {
    const before = snapshot(pids[i]);
    const t0 = performance.now();
    await during(t);
    out.push(per(delta(before, snapshot(pids[i])), (performance.now() - t0) / 1000));
  }
  return out;
}

/**
 * The order the variants are pinged in round `round`: each round starts one later, so none is
 * always the first pinged after the tunnels came up (a fresh tunnel's first round is its slowest,
 * and the later ones' compile jobs had the others' pings to finish in) or after the same neighbour.
 */
export function roundOrder(n: number, round: number): number[] {
  return Array.from({ length: n }, (_, k) => (k + round) % n);
}

/**
 * Round `round`'s order under `--shuffle seed`: variant `(round + seed) % n` first, as in
 * {@link roundOrder} shifted by the seed (each variant leads as many rounds, and round 0 is led
 * by the seed's), the others behind it in an order drawn from the seed and the round, so none
 * keeps the same neighbour.
 */
export function shuffledOrder(n: number, round: number, seed: number): number[] {
  // mulberry32 over the seed and the round: small, and the same on every machine.
  let x = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(round + 1, 0x85ebca6b)) >>> 0;
  const next = () => {
    x = (x + 0x6d2b79f5) >>> 0;
    let t = x;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const first = (((round + seed) % n) + n) % n;
  const rest = Array.from({ length: n }, (_, k) => k).filter((k) => k !== first);
  for (let i = rest.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [rest[i], rest[j]] = [rest[j], rest[i]];
  }
  return [first, ...rest];
}

/**
 * A `--weft` value: `NAME=ENV=VALUE[,ENV=VALUE]` (a value may hold commas), or `NAME` (or `NAME=`)
 * alone for weft with no variable set.
 */
export function weftVariantOf(spec: string): { name: string; env: Record<string, string> } {
  const eq = spec.indexOf("=");
  const name = eq < 0 ? spec : spec.slice(0, eq);
  const env: Record<string, string> = {};
  const rest = eq < 0 ? "" : spec.slice(eq + 1);
  if (rest === "") return { name, env };
  for (const kv of rest.split(/,(?=[A-Z_][A-Z0-9_]*=)/)) {
    const j = kv.indexOf("=");
    if (j <= 0) throw new Error(`--weft ${spec}: expected ENV=VALUE, got "${kv}"`);
    env[kv.slice(0, j)] = kv.slice(j + 1);
  }
  return { name, env };
}

/** A `--weft-v8` value's flags: these alone, or after weft's own when it starts with `+`. */
export function v8FlagsOf(value: string): string[] {
  const more = value.startsWith("+");
  const flags = (more ? value.slice(1) : value).split(",").filter((f) => f !== "");
  return more ? [...JIT_V8_FLAGS, ...flags] : flags;
}

/** The rounds counted as the fresh tunnel's: its agents' code is still being compiled then. */
export const FRESH_ROUNDS = 2;

/** Parses `ping`'s replies: the RTT (ms) of each seq. */
export function parseRtts(out: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const x of out.matchAll(/icmp_seq=(\d+) .*time=([\d.]+) ms/g)) {
    m.set(Number(x[1]), Number(x[2]));
  }
  return m;
}

/** Runs the bench; prints the tables. */
export async function runLatencyBench(args: string[]): Promise<void> {
  if (!(await canBuildLabs()) || !(await haveCommands("wg", "ping"))) {
    console.log("latency bench skipped: needs root, ip netns, wg, ping");
    return;
  }
  const opt = (name: string, dflt: number) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const rounds = opt("--rounds", 10);
  const count = opt("--count", 20);
  const interval = opt("--interval", 0.05);
  const { builds, notes } = await findBuilds();
  const weft = builds.find((b) => b.kind === "weft")!;
  const variants: Variant[] = [{ name: "weft", build: weft, env: {} }];
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== "--weft") continue;
    const { name, env } = weftVariantOf(args[++i]);
    variants.push({ name: `weft ${name}`, build: weft, env });
  }
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== "--weft-v8") continue;
    const spec = args[++i];
    const eq = spec.indexOf("=");
    const v8Flags = v8FlagsOf(spec.slice(eq + 1));
    variants.push({ name: `weft ${spec.slice(0, eq)}`, build: weft, env: {}, v8Flags });
  }
  if (!args.includes("--no-wg")) {
    for (const b of builds) {
      if (b.kind !== "weft") variants.push({ name: b.name, build: b, env: {} });
    }
  }
  const dir = await Deno.makeTempDir({ prefix: "weft-latency-" });
  if (args.includes("--trace")) {
    for (const v of variants.filter((v) => v.build.kind === "weft")) {
      v.trace = `${dir}/${v.name.replace(/\W+/g, "_")}`;
      v.env = { ...v.env, WEFT_LATENCY_TRACE: v.trace };
    }
  }
  for (const n of notes) console.error(`latency: ${n}`);
  console.error(`latency: ${variants.map((v) => v.name).join(", ")}: ${rounds} rounds of ${count}`);
  const seedAt = args.indexOf("--shuffle");
  const seed = seedAt >= 0 ? Number(args[seedAt + 1]) : null;
  if (seed !== null && !Number.isInteger(seed)) throw new Error("--shuffle takes an integer seed");
  const orderOf = (round: number) =>
    seed === null
      ? roundOrder(variants.length, round)
      : shuffledOrder(variants.length, round, seed);
  // The tunnels come up in round 0's order: the last one up is the freshest when pinged.
  const upOrder = orderOf(0);
  if (seed !== null) {
    console.error(`latency: up and round 0: ${upOrder.map((i) => variants[i].name).join(", ")}`);
  }
  const rtts = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  // The first ping of each round comes after the tunnel sat idle while the others were pinged.
  const firsts = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  // The fresh tunnel's pings (its first rounds) and the rest, apart.
  const fresh = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const later = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  // The tunnel's first ping, sent before any session exists (it waits for the handshake).
  const handshakes = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  // pos: the variant's place in its round's order (0: pinged first).
  const raw: { v: string; round: number; pos: number; seq: number; rtt: number }[] = [];
  const traced = new Map<string, TracedRun[]>();
  try {
    await withTunnels(upOrder.map((i) => variants[i]), async (up) => {
      // Back in the variants' order.
      const tunnels = variants.map((_, i) => up[upOrder.indexOf(i)]);
      const warm = opt("--warm", 0);
      for (const i of upOrder) {
        const t = tunnels[i];
        // The first of these waits for the handshake: the fresh tunnel's first round trip.
        const setup = await t.lab.exec(
          "a",
          "ping",
          "-n",
          "-c",
          "3",
          "-i",
          "0.2",
          "-W",
          "2",
          t.target,
        );
        const first = parseRtts(setup.stdout).get(1);
        if (first !== undefined) handshakes.get(variants[i].name)!.push(first);
        // With --warm N: N pings back to back first, so the code is as warm (compiled,
        // optimised) as in an agent that has carried traffic.
        if (warm > 0) {
          await t.lab.exec("a", "ping", "-q", "-c", String(warm), "-i", "0", "-W", "2", t.target);
        }
      }
      const sched = args.includes("--sched") ? await startSched(`${dir}/sched.data`) : null;
      if (sched) console.error(`latency: scheduler's events in ${dir}/sched.data`);
      for (let r = 0; r < rounds; r++) {
        for (const [pos, i] of orderOf(r).entries()) {
          const t = tunnels[i];
          const v = variants[i];
          const fromUs = Date.now() * 1000;
          const out = await t.lab.exec(
            "a",
            "ping",
            "-n",
            "-c",
            String(count),
            "-i",
            String(interval),
            "-W",
            "2",
            t.target,
          );
          const got = parseRtts(out.stdout);
          rtts.get(v.name)!.push(...got.values());
          (r < FRESH_ROUNDS ? fresh : later).get(v.name)!.push(...got.values());
          for (const [seq, rtt] of got) raw.push({ v: v.name, round: r, pos, seq, rtt });
          const first = got.get(1);
          if (first !== undefined) firsts.get(v.name)!.push(first);
          if (v.trace) {
            // Seqs restart with each run: the trace's pings are matched to runs by send time.
            const list = traced.get(v.name) ?? [];
            list.push({ fromUs, toUs: Date.now() * 1000, rtts: got });
            traced.set(v.name, list);
          }
        }
      }
      if (sched) {
        const agents = tunnels.map((t, i) => ({
          name: variants[i].name,
          pids: [t.a.child.pid, t.b.child.pid],
        }));
        printSched(await sched.stop(agents));
      }
      const tcpRuns = opt("--tcp", 0);
      if (tcpRuns > 0) {
        // Throughput beside latency: iperf3 TCP 1 stream, the variants interleaved run by run.
        const seconds = opt("--seconds", 5);
        const mbps = variants.map(() => [] as number[]);
        const bytes = variants.map(() => 0);
        const meters = tunnels.map((t) =>
          new CpuMeter([{ role: "a", pid: t.a.child.pid }, { role: "b", pid: t.b.child.pid }])
        );
        for (let r = 0; r < tcpRuns; r++) {
          for (const [i, t] of tunnels.entries()) {
            const run = await iperf3(t.lab, "b", "a", t.target, { seconds }, meters[i]);
            mbps[i].push(run.recvBps / 1e6);
            bytes[i] += run.recvBytes;
            console.error(
              `latency: ${variants[i].name}: TCP run ${r + 1}: ${Math.round(run.recvBps / 1e6)}`,
            );
          }
        }
        console.log(`iperf3 TCP 1 stream, ${tcpRuns} interleaved runs of ${seconds} s`);
        console.table(variants.map((v, i) => ({
          implementation: v.name,
          "median Mbit/s": Math.round(median(mbps[i])),
          "mean Mbit/s": Math.round(mbps[i].reduce((a, b) => a + b, 0) / mbps[i].length),
          runs: mbps[i].map((x) => Math.round(x)).join(" "),
          "agents' CPU-s per GB": Number(
            ((meters[i].cpuSeconds("a") + meters[i].cpuSeconds("b")) / (bytes[i] / 1e9)).toFixed(2),
          ),
        })));
      }
      if (args.includes("--cpu")) {
        // Idle: long after the last packet (past any lingering), then while pinging every 50 ms.
        await new Promise((r) => setTimeout(r, 3000));
        const idle = await measureCpu(tunnels, 10);
        const pinging = await measureCpu(
          tunnels,
          10,
          (t) => t.lab.exec("a", "ping", "-q", "-c", "200", "-i", "0.05", "-W", "2", t.target),
        );
        console.log("both agents together: CPU ms per second and context switches per second");
        console.table(variants.map((v, i) => ({
          implementation: v.name,
          "idle 10 s: CPU ms/s": Number(idle[i].cpuMsPerS.toFixed(2)),
          "idle: switches/s": Number(idle[i].switchesPerS.toFixed(1)),
          "ping every 50 ms: CPU ms/s": Number(pinging[i].cpuMsPerS.toFixed(2)),
          "pinging: switches/s": Number(pinging[i].switchesPerS.toFixed(1)),
          // Runnable but not running: the time the machine's load made the agents' threads wait.
          "pinging: run-queue wait ms/s": Number(pinging[i].waitMsPerS.toFixed(2)),
        })));
      }
      // Stop the traced agents so they write their traces.
      for (const [i, t] of tunnels.entries()) {
        if (!variants[i].trace) continue;
        await t.lab.stop(t.a.child, 5000);
        await t.lab.stop(t.b.child, 5000);
        const a = readTrace(variants[i].trace!, t.a.child.pid);
        const b = readTrace(variants[i].trace!, t.b.child.pid);
        printBreakdown(variants[i].name, a, b, traced.get(variants[i].name) ?? []);
      }
    });
  } finally {
    if (!args.includes("--keep")) await Deno.remove(dir, { recursive: true });
    else console.error(`latency: traces kept in ${dir}`);
  }
  const rawAt = args.indexOf("--raw");
  if (rawAt >= 0) await Deno.writeTextFile(args[rawAt + 1], JSON.stringify(raw));
  const base = median(rtts.get("weft")!);
  console.log(
    `idle-tunnel ping RTT, ms: ${rounds} interleaved rounds of ${count} pings every ${interval} s`,
  );
  console.table(variants.map((v) => {
    const xs = rtts.get(v.name)!;
    return {
      implementation: v.name,
      "median": Number(median(xs).toFixed(3)),
      "p10": Number(percentile(xs, 10).toFixed(3)),
      "p90": Number(percentile(xs, 90).toFixed(3)),
      "p99": Number(percentile(xs, 99).toFixed(3)),
      "fresh p90": Number(percentile(fresh.get(v.name)!, 90).toFixed(3)),
      "p90 after": Number(percentile(later.get(v.name)!, 90).toFixed(3)),
      "÷ weft": Number((median(xs) / base).toFixed(2)),
      "first after idle: median": Number(median(firsts.get(v.name)!).toFixed(3)),
      "first: max": Number(Math.max(...firsts.get(v.name)!).toFixed(3)),
      "handshake ping": Number((handshakes.get(v.name)![0] ?? NaN).toFixed(2)),
      replies: xs.length,
    };
  }));
}

/** Starts `perf record` of the scheduler's switches and wake-ups, machine-wide. */
async function startSched(file: string) {
  const perf = new Deno.Command("perf", {
    args: [
      "record",
      "-q",
      "-k",
      "1",
      "-a",
      "-e",
      "sched:sched_switch",
      "-e",
      "sched:sched_wakeup",
      "-e",
      "sched:sched_wakeup_new",
      "-o",
      file,
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  // perf needs a moment before its events flow.
  await new Promise((r) => setTimeout(r, 1500));
  return {
    async stop(agents: { name: string; pids: number[] }[]): Promise<PingSched[]> {
      const tids = new Map<number, number>();
      for (const a of agents) {
        for (const pid of a.pids) {
          for (const e of Deno.readDirSync(`/proc/${pid}/task`)) tids.set(Number(e.name), pid);
        }
      }
      perf.kill("SIGINT");
      await perf.status;
      const script = new Deno.Command("perf", {
        args: ["script", "-i", file, "-F", "comm,pid,tid,cpu,time,event,trace", "--ns"],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const out = await analyzeSched(linesOf(script.stdout), agents, tids);
      await script.status;
      return out;
    },
  };
}

/** A byte stream's lines. */
async function* linesOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop()!;
    yield* parts;
  }
  if (rest) yield rest;
}

/** Per implementation: its agents' run-queue wait inside each ping, all and the slowest tenth. */
function printSched(pings: PingSched[]): void {
  const names = [...new Set(pings.map((p) => p.tunnel))];
  console.log("inside each ping (scheduler's events): the agents' threads, ms");
  console.table(names.flatMap((name) => {
    const all = pings.filter((p) => p.tunnel === name);
    const p90 = percentile(all.map((p) => p.spanMs), 90);
    const rows = [["all", all], ["slowest 10%", all.filter((p) => p.spanMs >= p90)]] as const;
    return rows.map(([which, xs]) => {
      const held = new Map<string, number>();
      for (const p of xs) {
        if (p.longestWaitMs >= 0.2) held.set(p.heldBy, (held.get(p.heldBy) ?? 0) + 1);
      }
      return {
        implementation: name,
        pings: `${which} (${xs.length})`,
        "span median": Number(median(xs.map((p) => p.spanMs)).toFixed(3)),
        "run median": Number(median(xs.map((p) => p.runMs)).toFixed(3)),
        "wait median": Number(median(xs.map((p) => p.waitMs)).toFixed(3)),
        "wait p90": Number(percentile(xs.map((p) => p.waitMs), 90).toFixed(3)),
        "longest wait ≥ 0.2": xs.filter((p) => p.longestWaitMs >= 0.2).length,
        "of them preempted": xs.filter((p) => p.longestWaitMs >= 0.2 && p.longestKind === "preempt")
          .length,
        "wake-ups median": median(xs.map((p) => p.wakeups)),
        "CPU held by": [...held].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([c, n]) =>
          `${c} ${n}`
        ).join(", "),
      };
    });
  }));
  const threads = new Map<string, Map<string, number>>();
  for (const p of pings) {
    const m = threads.get(p.tunnel) ?? new Map<string, number>();
    for (const t of p.threads) m.set(t, (m.get(t) ?? 0) + 1);
    threads.set(p.tunnel, m);
  }
  for (const [name, m] of threads) {
    const n = pings.filter((p) => p.tunnel === name).length;
    console.log(
      `${name}: threads that ran inside a ping (share of pings): ${
        [...m].sort((a, b) => b[1] - a[1]).map(([c, k]) => `${c} ${(k / n).toFixed(2)}`).join(", ")
      }`,
    );
  }
}

/** One traced ping run: when it ran (wall clock, µs) and the RTT of each seq. */
interface TracedRun {
  fromUs: number;
  toUs: number;
  rtts: Map<number, number>;
}

/** Prints the median of each step over the traced pings. */
function printBreakdown(name: string, a: TraceEvent[], b: TraceEvent[], runs: TracedRun[]): void {
  const perStep: number[][] = [...STEPS, "", ""].map(() => []);
  const totals: number[] = [];
  const each: number[][] = [];
  // The first ping of each run: the tunnel sat idle while the other variants were pinged.
  const firsts: number[][] = [];
  let used = 0;
  let pings = 0;
  for (const e of a) {
    if (e.k !== "tun-read" || e.a !== 8) continue;
    const run = runs.find((r) => e.c >= r.fromUs && e.c <= r.toUs);
    const rtt = run?.rtts.get(e.b);
    if (rtt === undefined) continue;
    pings++;
    const s = pingSteps(a, b, e.c, rtt);
    if (!s) continue;
    used++;
    s.forEach((d, i) => perStep[i].push(d));
    totals.push(rtt * 1000);
    each.push(s);
    if (e.b === 1) firsts.push(s);
  }
  // Where the tail's time goes: each step's median over the slowest tenth of the pings.
  const p90 = percentile(totals, 90);
  const slow = each.filter((_, i) => totals[i] >= p90);
  console.log(`${name}: where a ping's round trip goes (µs, over ${used} of ${pings} pings)`);
  console.table(STEPS.map((label, i) => ({
    step: label,
    median: Math.round(median(perStep[i])),
    p10: Math.round(percentile(perStep[i], 10)),
    p90: Math.round(percentile(perStep[i], 90)),
    "slowest 10%: median": Math.round(median(slow.map((x) => x[i]))),
    "slowest 10%: max": Math.round(Math.max(...slow.map((x) => x[i]))),
    "first after idle: median": Math.round(median(firsts.map((x) => x[i]))),
  })));
  const sumMed = perStep.slice(0, STEPS.length).reduce((s, xs) => s + median(xs), 0);
  console.log(
    `${name}: sendmmsg returned after a ${Math.round(median(perStep[STEPS.length]))} µs, b ${
      Math.round(median(perStep[STEPS.length + 1]))
    } µs (median)`,
  );
  console.log(
    `${name}: RTT median ${Math.round(median(totals))} µs; sum of the step medians ${
      Math.round(sumMed)
    } µs`,
  );
}

if (import.meta.main) {
  destroyLabsOnSignal();
  await runLatencyBench(Deno.args);
}
