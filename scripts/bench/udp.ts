/**
 * Loopback UDP throughput of DenoUdpTransport vs LinuxUdpTransport, the latter without and with
 * UDP offload (GSO on send, GRO on receive).
 *
 *   deno run -A --unstable-net scripts/bench/udp.ts [seconds=3] [size=1420]
 *
 * Receive: the transport under test reads while a LinuxUdpTransport in another process
 * (scripts/bench/udp_peer.ts) blasts datagrams at it. Send: the transport under test sends as
 * fast as it can to a peer process that counts. Besides packets per second, the CPU time this
 * process used per packet is measured (from /proc/self/stat), and turned into packets per
 * CPU-second: on a small machine the peer competes for cores, so that figure is the steadier one.
 *
 * With offload (`linux+offload`), the peer uses it too: on receive it blasts with GSO (loopback
 * hands a GSO message whole to a GRO socket, as a veth or a NIC with GRO would coalesce a real
 * flow), on send it counts with GRO. Without it both ends send and read datagram by datagram.
 * @module
 */

import type { Transport } from "../../lib/io/driver.ts";
import { LinuxUdpTransport } from "../../drivers/linux/udp.ts";
import { DenoUdpTransport } from "../../drivers/udp_deno.ts";
import type { TransportStats } from "../../drivers/shared/stats.ts";

const seconds = Number(Deno.args[0] ?? 3);
const size = Number(Deno.args[1] ?? 1420);
const PEER = new URL("./udp_peer.ts", import.meta.url).pathname;
const TICKS_PER_SECOND = 100;

type Kind = "deno" | "linux" | "offload";
type Measured = Transport & { stats: TransportStats };
const KINDS: Kind[] = ["deno", "linux", "offload"];
const LABELS: Record<Kind, string> = {
  deno: "DenoUdpTransport",
  linux: "LinuxUdpTransport",
  offload: "LinuxUdpTransport+offload",
};
/** The peer's offload argument for a kind. */
const peerOffload = (kind: Kind) => kind === "offload" ? "on" : "off";

async function open(kind: Kind): Promise<Measured> {
  const offload = kind === "offload";
  return kind === "deno"
    ? await DenoUdpTransport.open({ port: 0, hostname: "127.0.0.1" })
    : await LinuxUdpTransport.open({ port: 0, hostname: "127.0.0.1", gso: offload, gro: offload });
}

/** User plus system CPU seconds used by this process so far. */
function cpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** The peer process, with its JSON lines. */
function peer(...args: string[]): { next(): Promise<Record<string, number>>; done: Promise<void> } {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", PEER, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines: Record<string, number>[] = [];
  const waiting: ((r: Record<string, number>) => void)[] = [];
  const done = (async () => {
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const obj = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        const w = waiting.shift();
        if (w) w(obj);
        else lines.push(obj);
      }
    }
    await child.status;
  })();
  return {
    next: () => {
      const r = lines.shift();
      return r ? Promise.resolve(r) : new Promise((resolve) => waiting.push(resolve));
    },
    done,
  };
}

interface Figure {
  pps: number;
  perCpu: number;
  /** Received/sent share (receive: of what the peer sent; send: of what we sent). */
  share: number;
}

/** The transport under test receives from a fast sender process. */
async function receive(kind: Kind): Promise<Figure> {
  const t = await open(kind);
  let count = 0;
  t.start({
    datagram() {
      count++;
    },
    flush() {},
  });
  const p = peer("blast", String(t.port), String(seconds), String(size), peerOffload(kind));
  // Start the clocks at the first datagram, so peer start-up is not counted.
  while (count === 0) await new Promise((r) => setTimeout(r, 1));
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const c0 = count;
  const { sent } = await p.next();
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds() - cpu0;
  const got = count - c0;
  await new Promise((r) => setTimeout(r, 100));
  const total = count;
  await p.done;
  await t.close();
  return { pps: got / elapsed, perCpu: got / cpu, share: total / sent };
}

const yieldToLoop = () => new Promise((r) => setTimeout(r, 0));

/** The transport under test sends to a process that counts. */
async function send(kind: Kind): Promise<Figure> {
  const p = peer("count", String(seconds + 1), peerOffload(kind));
  const { port } = await p.next();
  const t = await open(kind);
  const to = t.endpoint(`127.0.0.1:${port}`);
  const data = new Uint8Array(size);
  const cpu0 = cpuSeconds();
  const start = performance.now();
  const end = start + seconds * 1000;
  let queued = 0;
  const accounted = () => t.stats.datagramsOut + t.stats.sendErrors + t.stats.sendDrops;
  while (performance.now() < end) {
    for (let i = 0; i < 256; i++) t.send(data, to);
    t.flush();
    queued += 256;
    // Deno's sends complete on the event loop: let them, keeping the backlog bounded.
    if (kind === "deno") { while (accounted() < queued - 1024) await yieldToLoop(); }
  }
  while (accounted() < queued) await yieldToLoop();
  const elapsed = (performance.now() - start) / 1000;
  const cpu = cpuSeconds() - cpu0;
  const sent = t.stats.datagramsOut;
  await t.close();
  const { received } = await p.next();
  await p.done;
  return { pps: sent / elapsed, perCpu: sent / cpu, share: received / Math.max(1, sent) };
}

/**
 * Receive cost with full batches: a burst is queued in the socket (sent synchronously from this
 * thread, so the receiver cannot run meanwhile), then the clock runs until it is all read.
 * The burst is kept under Deno's default socket buffer (about 90 datagrams of 1420 bytes).
 */
async function drain(kind: Kind, burst: number): Promise<number> {
  const t = await open(kind);
  const offload = kind === "offload";
  const sender = await LinuxUdpTransport.open({
    port: 0,
    hostname: "127.0.0.1",
    gso: offload,
    gro: offload,
  });
  let count = 0;
  let target = 0;
  let finished: (() => void) | null = null;
  t.start({
    datagram() {
      if (++count === target && finished) finished();
    },
    flush() {},
  });
  const to = sender.endpoint(`127.0.0.1:${t.port}`);
  const data = new Uint8Array(size);
  let busy = 0;
  let drained = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    target = count + burst;
    for (let i = 0; i < burst; i++) sender.send(data, to);
    sender.flush();
    const t0 = performance.now();
    const done = new Promise<void>((r) => finished = r);
    const timeout = new Promise<void>((r) => setTimeout(r, 200));
    await Promise.race([done, timeout]);
    busy += performance.now() - t0;
    drained += burst - Math.max(0, target - count);
    count = target;
  }
  await sender.close();
  await t.close();
  return drained / (busy / 1000);
}

const fmt = (n: number) => Math.round(n).toLocaleString("en");
const drains: string[] = [];
for (const kind of KINDS) {
  drains.push(`${LABELS[kind]}: ${fmt(await drain(kind, 80))} pkt/s`);
}
for (const kind of ["linux", "offload"] as Kind[]) {
  drains.push(`${LABELS[kind]} (bursts of 1000): ${fmt(await drain(kind, 1000))} pkt/s`);
}

const rows: string[][] = [];
for (const kind of KINDS) {
  const rx = await receive(kind);
  const tx = await send(kind);
  rows.push([
    LABELS[kind],
    fmt(rx.pps),
    ((rx.pps * size * 8) / 1e9).toFixed(2),
    fmt(rx.perCpu),
    `${(rx.share * 100).toFixed(1)}%`,
    fmt(tx.pps),
    ((tx.pps * size * 8) / 1e9).toFixed(2),
    fmt(tx.perCpu),
    `${(tx.share * 100).toFixed(1)}%`,
  ]);
}
const head = [
  "transport",
  "recv pkt/s",
  "Gbit/s",
  "pkt/CPU-s",
  "got",
  "send pkt/s",
  "Gbit/s",
  "pkt/CPU-s",
  "delivered",
];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells: string[]) =>
  cells.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join("  ");
console.log(
  `loopback UDP, ${size}-byte datagrams, ${seconds} s per figure, ` +
    `${navigator.hardwareConcurrency} cores`,
);
console.log(line(head));
for (const r of rows) console.log(line(r));
console.log(`saturated receive (bursts of 80 queued, then drained): ${drains.join(", ")}`);
