/**
 * Loopback throughput and round trip of the TCP transport against the Deno UDP transport (and,
 * on Linux, the FFI UDP transport, the fast path, for scale).
 *
 *   deno run -A --unstable-net scripts/bench/tcp.ts [seconds=3] [size=1420]
 *
 * Throughput: one transport sends `size`-byte frames to another in the same process, in batches
 * of 16 with a flush each, keeping at most 64 frames unreceived (a window, so the sender runs no
 * further ahead of the receiver than a device would and the receiver's UDP socket buffer does not
 * overflow); frames and megabytes per second are what the receiver got, and frames per CPU-second
 * of the process. Loss: what UDP or the TCP queue dropped. Round trip: 2,000 ping-pongs of
 * 100-byte frames, one at a time. Figures only, no assertions.
 * @module
 */

import type { Transport } from "../../lib/io/driver.ts";
import { DenoUdpTransport } from "../../drivers/udp_deno.ts";
import { LinuxUdpTransport } from "../../drivers/linux/udp.ts";
import { TcpTransport } from "../../drivers/tcp.ts";
import type { TransportStats } from "../../drivers/shared/stats.ts";

type Kind = "udp" | "tcp" | "udp-linux";
type Measured = Transport & { stats: TransportStats };

const BATCH = 16;
// Below what a loopback UDP socket buffer holds (about 90 datagrams of 1,420 bytes by default).
const WINDOW = 64;

async function open(kind: Kind): Promise<Measured> {
  switch (kind) {
    case "udp":
      return await DenoUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
    case "tcp":
      return await TcpTransport.open({ port: 0, hostname: "127.0.0.1" });
    case "udp-linux":
      return await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1" });
  }
}

/** One row of the table. */
export interface TcpBenchRow {
  /** `udp` (DenoUdpTransport), `tcp` (TcpTransport) or `udp-linux` (the FFI fast path, for scale). */
  transport: Kind;
  /** Frames the receiver got per second. */
  "frames/s": number;
  /** Megabytes (10^6) of payload the receiver got per second. */
  "MB/s": number;
  /** Frames sent but not received, as a share of those sent. */
  loss: string;
  /** Frames received per CPU-second of this process (sender and receiver both run in it). */
  "frames/cpu-s": number;
  /** Median round trip of one 100-byte frame, in microseconds. */
  "rtt p50 µs": number;
  /** 99th percentile round trip, in microseconds. */
  "rtt p99 µs": number;
}

async function throughput(
  kind: Kind,
  seconds: number,
  size: number,
): Promise<{ fps: number; mbps: number; loss: number; cpu: number }> {
  const rx = await open(kind);
  const tx = await open(kind);
  let received = 0;
  let bytes = 0;
  let target = 0;
  let wake: (() => void) | null = null;
  rx.start({
    datagram: (d) => {
      received++;
      bytes += d.length;
    },
    flush: () => {
      if (wake !== null && received >= target) {
        const w = wake;
        wake = null;
        w();
      }
    },
  });
  tx.start({ datagram: () => {}, flush: () => {} });
  const to = tx.endpoint(`${kind === "tcp" ? "tcp://" : ""}127.0.0.1:${rx.port}`);
  const buf = new Uint8Array(size).fill(0x5a);
  let sent = 0;
  // Frames given up on: UDP drops what overflows the receiver's socket buffer, and a window
  // waiting for those would wait forever.
  let lost = 0;
  // Waits until the receiver is within half a window, or 20 ms (then the rest counts as lost).
  const catchUp = () =>
    new Promise<void>((resolve) => {
      target = sent - lost - WINDOW / 2;
      const timer = setTimeout(() => {
        wake = null;
        lost = sent - received;
        resolve();
      }, 20);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const run = async (ms: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      for (let i = 0; i < BATCH; i++) tx.send(buf, to);
      sent += BATCH;
      tx.flush();
      if (sent - lost - received > WINDOW) await catchUp();
    }
  };
  await run(300); // warm up: JIT, socket buffers, the TCP connection
  await new Promise((r) => setTimeout(r, 50));
  const r0 = received;
  const b0 = bytes;
  const s0 = sent;
  const c0 = cpuSeconds();
  const t0 = performance.now();
  await run(seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds() - c0;
  await new Promise((r) => setTimeout(r, 100)); // let what is in flight land
  const got = received - r0;
  await tx.close();
  await rx.close();
  return {
    fps: got / elapsed,
    mbps: (bytes - b0) / elapsed / 1e6,
    loss: Math.max(0, 1 - got / (sent - s0)),
    cpu: got / cpu,
  };
}

/** User plus system CPU seconds used by this process so far (Linux; NaN elsewhere). */
function cpuSeconds(): number {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

async function roundTrip(kind: Kind, count: number): Promise<{ p50: number; p99: number }> {
  const a = await open(kind);
  const b = await open(kind);
  let answered: (() => void) | null = null;
  b.start({ datagram: (d, from) => b.send(d, from), flush: () => b.flush() });
  a.start({
    datagram: () => {
      const w = answered;
      answered = null;
      w?.();
    },
    flush: () => {},
  });
  const to = a.endpoint(`${kind === "tcp" ? "tcp://" : ""}127.0.0.1:${b.port}`);
  const ping = new Uint8Array(100);
  const times: number[] = [];
  for (let i = 0; i < count + 100; i++) {
    const t0 = performance.now();
    const back = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 1000);
      answered = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
    a.send(ping, to);
    a.flush();
    const ok = await back;
    if (ok && i >= 100) times.push((performance.now() - t0) * 1000);
  }
  await a.close();
  await b.close();
  times.sort((x, y) => x - y);
  const at = (q: number) =>
    Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))]);
  return { p50: at(0.5), p99: at(0.99) };
}

/** Measures both transports; `seconds` of throughput each, `size`-byte frames. */
export async function runTcpBench(seconds = 3, size = 1420): Promise<TcpBenchRow[]> {
  const rows: TcpBenchRow[] = [];
  for (const kind of ["udp", "tcp", "udp-linux"] as const) {
    if (kind === "udp-linux" && Deno.build.os !== "linux") continue;
    const t = await throughput(kind, seconds, size);
    const rtt = await roundTrip(kind, 2000);
    rows.push({
      transport: kind,
      "frames/s": Math.round(t.fps),
      "MB/s": Math.round(t.mbps * 10) / 10,
      loss: `${(t.loss * 100).toFixed(2)}%`,
      "frames/cpu-s": Math.round(t.cpu),
      "rtt p50 µs": rtt.p50,
      "rtt p99 µs": rtt.p99,
    });
  }
  return rows;
}

if (import.meta.main) {
  const seconds = Number(Deno.args[0] ?? 3);
  const size = Number(Deno.args[1] ?? 1420);
  console.log(`## loopback, ${size}-byte frames, ${seconds} s each: Deno UDP vs TCP transport`);
  const rows = await runTcpBench(seconds, size);
  console.table(rows);
  const [udp, tcp] = rows;
  console.log(`tcp/udp throughput: ${(tcp["frames/s"] / udp["frames/s"]).toFixed(2)}x`);
}
