/**
 * Where a measured pair of the routes benchmark (scripts/bench/paths.ts) spends its CPU and
 * loses its packets: with `PATHS_BENCH_PROFILE=DIR`, for each row, per agent of the pair and
 * the leader (the relay, on a relayed row): each thread's user and system CPU-s per GB, the
 * driver and relay counters that moved (batches: datagrams per GSO send and per GRO receive,
 * relay packets), and per namespace of the route (the agents' hosts and the sites' routers) the
 * kernel's UDP and IP counters that moved (`nstat`: socket buffer drops are `UdpRcvbufErrors`);
 * with `PATHS_BENCH_PERF=1` too, a `perf record -g` of each agent into DIR (start the bench with
 * `DENO_V8_FLAGS=--perf-basic-prof` for named JavaScript frames). Written to DIR/<row>.txt.
 * @module
 */

import type { NatMesh } from "../../tests/fixtures/nat_mesh.ts";
import { metricsOf } from "../../tests/fixtures/mesh_lab.ts";
import { type ThreadTimes, threadTimes } from "./thread_times.ts";

const HZ = 100;

/** The machine's CPU ticks by kind (`/proc/stat`'s first line). */
function machineTicks(): number[] {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
  return line.trim().split(/\s+/).slice(1).map(Number);
}

const STAT_KINDS = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];

/** The counters of a metrics text worth comparing: drivers', relays' (by series). */
function counters(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [, k, v] of text.matchAll(/^(weft_(?:udp|tun|transport|relay)[^ ]*) (\S+)$/gm)) {
    out.set(k, Number(v));
  }
  return out;
}

/** The kernel's counters in a namespace (`nstat -az`, not touching its history). */
async function nstat(m: NatMesh, where: string): Promise<Map<string, number>> {
  const r = await m.lab.exec(where, "nstat", "-asz");
  const out = new Map<string, number>();
  for (const line of r.stdout.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 2 && /^(Udp|Ip|IpExt)/.test(f[0])) out.set(f[0], Number(f[1]));
  }
  return out;
}

function moved(a: Map<string, number>, b: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [k, v] of b) {
    const d = v - (a.get(k) ?? 0);
    if (d !== 0) out.push(`${k} ${d}`);
  }
  return out;
}

/** A profile being taken of one row; {@link finish} writes it. */
export class PathsProfile {
  readonly #m: NatMesh;
  readonly #dir: string;
  readonly #name: string;
  readonly #hosts: string[];
  readonly #spaces: string[];
  readonly #t0 = new Map<string, Map<number, ThreadTimes>>();
  readonly #t1 = new Map<string, Map<number, ThreadTimes>>();
  #s0: number[] = [];
  #s1: number[] = [];
  readonly #c0 = new Map<string, Map<string, number>>();
  readonly #n0 = new Map<string, Map<string, number>>();
  readonly #perf: Deno.ChildProcess[] = [];
  /** The inner TCP's state at the sender (`ss -ti`), once a second while measured. */
  readonly #tcp: string[] = [];
  #sampling: Promise<void> | null = null;
  #stopped = false;

  private constructor(m: NatMesh, dir: string, name: string, hosts: string[], spaces: string[]) {
    this.#m = m;
    this.#dir = dir;
    this.#name = name;
    this.#hosts = hosts;
    this.#spaces = spaces;
  }

  /**
   * Starts profiling `hosts` (agents) and the namespaces `spaces` (hosts and routers) for the
   * row `name`, when `PATHS_BENCH_PROFILE` names a folder; else null.
   */
  static async start(
    m: NatMesh,
    name: string,
    hosts: string[],
    spaces: string[],
  ): Promise<PathsProfile | null> {
    const dir = Deno.env.get("PATHS_BENCH_PROFILE");
    if (!dir) return null;
    await Deno.mkdir(dir, { recursive: true });
    const p = new PathsProfile(m, dir, name.replace(/[^a-zA-Z0-9]+/g, "-"), hosts, spaces);
    for (const h of hosts) {
      p.#c0.set(h, counters(await metricsOf(m.lab, h)));
    }
    for (const s of spaces) p.#n0.set(s, await nstat(m, s));
    for (const h of hosts) p.#t0.set(h, threadTimes(m.procs.get(h)!.child.pid));
    p.#s0 = machineTicks();
    p.#sampling = p.#sampleTcp(hosts[0]);
    if (Deno.env.get("PATHS_BENCH_PERF")) {
      for (const h of hosts) {
        p.#perf.push(
          new Deno.Command("perf", {
            args: [
              ...["record", "-F", "999", "-g", "-p", String(m.procs.get(h)!.child.pid)],
              ...["-o", `${dir}/${p.#name}-${h}.data`],
            ],
            stdout: "null",
            stderr: "null",
          }).spawn(),
        );
      }
    }
    return p;
  }

  /**
   * The sender's iperf3 connection as `ss -ti` shows it, once a second: cwnd, RTT, and what
   * limited it (rwnd_limited, sndbuf_limited: the window, not the path).
   */
  async #sampleTcp(from: string): Promise<void> {
    while (!this.#stopped) {
      await new Promise((r) => setTimeout(r, 1000));
      if (this.#stopped) break;
      const r = await this.#m.lab.exec(from, "ss", "-tinH", "dport = :5201");
      const lines = r.stdout.split("\n").map((l) => l.trim()).filter((l) => l.includes("cwnd"));
      // The data connection: the one with the most bytes acked.
      const acked = (l: string) => Number(/bytes_acked:(\d+)/.exec(l)?.[1] ?? 0);
      const best = lines.sort((a, b) => acked(b) - acked(a))[0];
      if (best) this.#tcp.push(best);
    }
  }

  /** Ends the profile, as the transfer ends (its bytes come later: {@link write}). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const h of this.#hosts) this.#t1.set(h, threadTimes(this.#m.procs.get(h)!.child.pid));
    this.#s1 = machineTicks();
    await this.#sampling;
    for (const p of this.#perf) {
      try {
        p.kill("SIGINT");
      } catch { /* gone */ }
      await p.status;
    }
  }

  /** Writes the profile of a transfer that moved `bytes`. */
  async write(bytes: number): Promise<void> {
    const t1 = this.#t1;
    const gb = bytes / 1e9;
    const lines = [`${this.#name}: ${gb.toFixed(3)} GB received`];
    // The whole machine's CPU while measured, in CPU-s: what was left idle, who else ran.
    const kinds = STAT_KINDS.map((k, i) => `${k} ${((this.#s1[i] - this.#s0[i]) / HZ).toFixed(2)}`);
    lines.push(`machine CPU-s: ${kinds.join(", ")}`);
    for (const h of this.#hosts) {
      const a = this.#t0.get(h)!;
      let u = 0, s = 0;
      const rows: string[] = [];
      for (const [tid, x] of t1.get(h)!) {
        const y = a.get(tid) ?? { utime: 0, stime: 0, voluntary: 0, involuntary: 0 };
        const du = (x.utime - y.utime) / HZ, ds = (x.stime - y.stime) / HZ;
        u += du;
        s += ds;
        if (du + ds > 0) {
          const waits = ((x.voluntary - y.voluntary) / gb).toFixed(0);
          const preempted = ((x.involuntary - y.involuntary) / gb).toFixed(0);
          rows.push(
            `    ${x.name} (${tid}): user ${(du / gb).toFixed(2)} sys ${(ds / gb).toFixed(2)}, ` +
              `switches per GB: ${waits} waits, ${preempted} preempted`,
          );
        }
      }
      lines.push(`${h}: CPU-s per GB user ${(u / gb).toFixed(2)} system ${(s / gb).toFixed(2)}`);
      lines.push(...rows);
      const c1 = counters(await metricsOf(this.#m.lab, h));
      lines.push(`  counters: ${moved(this.#c0.get(h)!, c1).join(", ")}`);
    }
    for (const sp of this.#spaces) {
      const n1 = await nstat(this.#m, sp);
      lines.push(`nstat ${sp}: ${moved(this.#n0.get(sp)!, n1).join(", ")}`);
    }
    lines.push("inner TCP at the sender, once a second:", ...this.#tcp.map((l) => `  ${l}`));
    await Deno.writeTextFile(`${this.#dir}/${this.#name}.txt`, lines.join("\n") + "\n");
  }
}
