/**
 * Where one GB of weft's TCP costs its CPU (root): a weft tunnel between two namespaces (the
 * network lab's), one iperf3 TCP stream for `--seconds` (10) after 2 s of warm-up, and meanwhile
 * per agent: each thread's user and system time (/proc), the driver counters (batches: datagrams
 * per GSO send, segments per TUN read, packets per coalesced TUN write, from `/metrics`), with
 * `--syscalls` the system calls by kind (`perf stat` on the kernel's syscall tracepoints), and
 * with `--perf DIR` a `perf record` of both agents (V8 started with `--perf-basic-prof`, so
 * JavaScript frames have names; `perf report -i DIR/weft-a.data --sort dso`). `--wg-go PATH`
 * measures that wireguard-go build the same way after weft (no driver counters). `--link-mtu N`
 * sets both tunnel interfaces' MTU once they are up (the lab's is 1420).
 *
 * `deno run -A scripts/bench/datapath_profile.ts [--seconds 10] [--perf DIR] [--syscalls]
 *  [--wg-go PATH] [--link-mtu N] [weft up flags...]`
 * @module
 */

import { canBuildLabs } from "../../tests/fixtures/netns.ts";
import { findBuilds, type Tunnel, withTunnel } from "./net_lab.ts";
import { iperf3 } from "./net_measure.ts";
import { threadTimes } from "./thread_times.ts";
import { JIT_V8_FLAGS } from "../../lib/agent/jit.ts";

const HZ = 100;
/** The system calls counted with `--syscalls` (and all of them together). */
const SYSCALLS = [
  "read",
  "write",
  "readv",
  "writev",
  "sendmmsg",
  "recvmmsg",
  "sendmsg",
  "recvmsg",
  "epoll_wait",
  "epoll_pwait",
  "epoll_pwait2",
  "poll",
  "ppoll",
  "futex",
  "eventfd2",
  "ioctl",
];
const args = [...Deno.args];
const take = (name: string): string | undefined => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const [, v] = args.splice(i, 2);
  return v;
};
const flag = (name: string): boolean => {
  const i = args.indexOf(name);
  if (i >= 0) args.splice(i, 1);
  return i >= 0;
};
const seconds = Number(take("--seconds") ?? 10);
const perfDir = take("--perf");
const syscalls = flag("--syscalls");
const wgGo = take("--wg-go");
const linkMtu = take("--link-mtu");

async function metrics(
  lab: { exec: (h: string, ...c: string[]) => Promise<{ stdout: string }> },
  host: string,
) {
  const m = await lab.exec(host, "curl", "-s", "--max-time", "3", "http://127.0.0.1:51880/metrics");
  const out: Record<string, number> = {};
  for (const [, k, v] of m.stdout.matchAll(/^(weft_(?:udp|tun|transport)[^ ]*) (\S+)$/gm)) {
    out[k] = Number(v);
  }
  return out;
}

if (!(await canBuildLabs())) {
  console.log("needs root and network namespaces");
  Deno.exit(0);
}
const { builds } = await findBuilds(wgGo ?? "");
const chosen = builds.filter((b) =>
  b.kind === "weft" || (wgGo !== undefined && b.name !== "wireguard-go")
);
for (const build of chosen) {
  const v8 = perfDir && build.kind === "weft" ? [...JIT_V8_FLAGS, "--perf-basic-prof"] : undefined;
  console.log(`== ${build.name}`);
  await withTunnel(build, build.kind === "weft" ? args : [], (t) => measure(t, build.name), v8);
}

async function measure(t: Tunnel, name: string): Promise<void> {
  const { lab, a, b } = t;
  if (linkMtu !== undefined) {
    // The tunnel interfaces' MTU, set under the agents (TCP's segment size follows it).
    for (const n of [a, b]) {
      await lab.run(n.spec.host, "ip", "link", "set", n.spec.iface, "mtu", linkMtu);
    }
  }
  // Warm the path (V8's tier-up, the handshake) before measuring.
  await iperf3(lab, "b", "a", t.target, { seconds: 2 });
  const pids = { a: a.child.pid, b: b.child.pid };
  const m0 = { a: await metrics(lab, "a"), b: await metrics(lab, "b") };
  const t0 = { a: threadTimes(pids.a), b: threadTimes(pids.b) };
  const tools: Deno.ChildProcess[] = [];
  const statSides: string[] = [];
  if (perfDir) {
    await Deno.mkdir(perfDir, { recursive: true });
    for (const [side, pid] of Object.entries(pids)) {
      tools.push(
        new Deno.Command("perf", {
          args: [
            "record",
            "-F",
            "999",
            "-g",
            "-p",
            String(pid),
            "-o",
            `${perfDir}/${name}-${side}.data`,
          ],
          stdout: "null",
          stderr: "null",
        }).spawn(),
      );
    }
  }
  if (syscalls) {
    // Counted by the kernel's tracepoints: cheap, unlike tracing each call.
    const events = SYSCALLS.map((c) => `syscalls:sys_enter_${c}`).join(",");
    for (const [side, pid] of Object.entries(pids)) {
      tools.push(
        new Deno.Command("perf", {
          args: ["stat", "-x", ",", "-e", `raw_syscalls:sys_enter,${events}`, "-p", String(pid)],
          stdout: "null",
          stderr: "piped",
        }).spawn(),
      );
      statSides.push(side);
    }
  }
  const run = await iperf3(lab, "b", "a", t.target, { seconds });
  for (const p of tools) p.kill("SIGINT");
  const counts = new Map<string, string>();
  for (const [k, p] of tools.entries()) {
    const side = statSides[k - (tools.length - statSides.length)];
    if (side === undefined) {
      await p.status;
      continue;
    }
    const out = new TextDecoder().decode((await p.output()).stderr);
    const rows = out.split("\n").map((l) => l.split(",")).filter((f) =>
      f.length > 3 && f[0] !== "0"
    ).map((f) => `${f[2].replace(/^(raw_)?syscalls:sys_enter_?/, "") || "all"} ${f[0]}`);
    counts.set(side, rows.join(", "));
  }
  const t1 = { a: threadTimes(pids.a), b: threadTimes(pids.b) };
  const m1 = { a: await metrics(lab, "a"), b: await metrics(lab, "b") };
  const gb = run.recvBytes / 1e9;
  console.log(
    `iperf3 TCP 1 stream ${seconds} s: ${(run.recvBps / 1e6).toFixed(0)} Mbit/s, ${
      gb.toFixed(2)
    } GB, ` +
      `retransmits ${run.retransmits}`,
  );
  let total = 0;
  for (const side of ["a", "b"] as const) {
    let u = 0, s = 0;
    const rows: string[] = [];
    for (const [tid, x] of t1[side]) {
      const y = t0[side].get(tid) ?? { utime: 0, stime: 0 };
      const du = (x.utime - y.utime) / HZ, ds = (x.stime - y.stime) / HZ;
      u += du;
      s += ds;
      if (du + ds > 0) {
        rows.push(
          `    ${x.name} (${tid}): user ${(du / gb).toFixed(2)} sys ${(ds / gb).toFixed(2)}`,
        );
      }
    }
    console.log(
      `${side === "a" ? "sender" : "receiver"} (${side}) CPU-s per GB: user ${
        (u / gb).toFixed(2)
      }, system ${(s / gb).toFixed(2)}`,
    );
    for (const r of rows) console.log(r);
    const d: string[] = [];
    for (const [k, v] of Object.entries(m1[side])) {
      const x = v - (m0[side][k] ?? 0);
      if (x !== 0) d.push(`${k} ${x}`);
    }
    console.log(`  counters: ${d.join(", ")}`);
    if (counts.has(side)) console.log(`  system calls in ${seconds} s: ${counts.get(side)}`);
    total += u + s;
  }
  const delta = (side: "a" | "b", k: string) => (m1[side][k] ?? 0) - (m0[side][k] ?? 0);
  const per = (side: "a" | "b", what: string, of: string) =>
    (delta(side, what) / delta(side, of)).toFixed(1);
  console.log(
    `${name}: ${(run.recvBps / 1e6).toFixed(0)} Mbit/s, agents' CPU-s per GB ${
      (total / gb).toFixed(2)
    }` +
      (name === "weft"
        ? `, datagrams per GSO send ${
          per(
            "a",
            'weft_udp_offload_datagrams_total{kind="gso"}',
            'weft_udp_offload_messages_total{kind="gso"}',
          )
        }, segments per TUN read ${
          per("a", "weft_tun_gso_segments_total", "weft_tun_gso_reads_total")
        }` +
          `, packets per TUN write ${
            per("b", "weft_tun_coalesced_packets_total", "weft_tun_coalesced_writes_total")
          }`
        : ""),
  );
}
