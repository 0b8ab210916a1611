/**
 * What one readiness hop costs: from a datagram sent by another process to the JS code that
 * handles it, through each way weft could wait for an fd (issue 15, latency). A child process
 * sends small UDP datagrams to 127.0.0.1 carrying its CLOCK_MONOTONIC send time; the receiver
 * stamps the moment its handler runs, per way of waiting:
 *
 * - `poll_async`: the Poller's way: poll(2) on a Deno FFI nonblocking (blocking-pool) thread,
 *   the promise resolved on the JS thread (two thread wake-ups per hop);
 * - `poll_async x2`: one such poll per fd (separate threads for TUN and UDP), the datagram on one;
 * - `recv_async`: a blocking recvfrom(2) on the nonblocking FFI thread (no poll, same hop);
 * - `deno udp`: `Deno.listenDatagram` (tokio's reactor, on the JS thread's own epoll);
 * - `poll sync`: poll(2) blocking on the JS thread itself (one wake-up; the event loop waits);
 * - `spin`: zero-timeout polls on the JS thread in a loop (no wake-up; burns a core);
 * - `sigio`: the kernel signals the process when the fd turns readable (`O_ASYNC`), and Deno's
 *   signal listener runs on the JS thread (its handler wakes the event loop's own epoll);
 * - `Poller`: the real Poller: by default (an awaited poll on the helper thread), with `spinMs`
 *   (zero-timeout polls for a while after each round), and with `lingerMs` (after traffic, polls
 *   on the JS thread, with the event loop's epoll in the set).
 *
 * Cold: one datagram every `--gap` ms (default 20), as an idle tunnel's ping; the median and p90
 * of the send→handler delay in µs, the ways interleaved so load on the machine hits all alike.
 * Figures, never assertions. `deno run -A scripts/bench/poll_hop.ts [--samples N] [--gap MS]`.
 * @module
 */

import { Poller, type PollerOptions } from "../../drivers/linux/poller.ts";
import {
  AF_INET,
  libc,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
} from "../../drivers/linux/libc.ts";

const F_GETFL = 3;
const F_SETFL = 4;
const F_SETOWN = 8;
const O_ASYNC = 0o20000;

const ffi = Deno.dlopen(
  "libc.so.6",
  {
    clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
    recvfrom_async: {
      name: "recvfrom",
      parameters: ["i32", "buffer", "usize", "i32", "pointer", "pointer"],
      result: "isize",
      nonblocking: true,
    },
    poll_async: {
      name: "poll",
      parameters: ["buffer", "usize", "i32"],
      result: "i32",
      nonblocking: true,
    },
  } as const,
);

const ts = new BigInt64Array(2);
const tsBytes = new Uint8Array(ts.buffer);
/** CLOCK_MONOTONIC in ns (shared by every process on the machine). */
export function monoNs(): number {
  ffi.symbols.clock_gettime(1, tsBytes);
  return Number(ts[0]) * 1e9 + Number(ts[1]);
}

function udpSocket(blocking: boolean): { fd: number; port: number } {
  const c = libc();
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK), 0);
  const sa = new Uint8Array(new ArrayBuffer(16));
  new DataView(sa.buffer).setUint16(0, AF_INET, true);
  sa.set([127, 0, 0, 1], 4);
  if (c.bind(fd, sa, 16) < 0) throw new Error("bind");
  const len = new Uint8Array(new Uint32Array([16]).buffer);
  c.getsockname(fd, sa, len);
  return { fd, port: (sa[2] << 8) | sa[3] };
}

/** The sender: reads "port gapMs\n" lines on stdin, sends one stamped datagram per line. */
async function sender(): Promise<void> {
  const c = libc();
  const { fd } = udpSocket(false);
  const sa = new Uint8Array(new ArrayBuffer(16));
  const v = new DataView(sa.buffer);
  v.setUint16(0, AF_INET, true);
  sa.set([127, 0, 0, 1], 4);
  const msg = new Uint8Array(new ArrayBuffer(64));
  const mv = new DataView(msg.buffer);
  const dec = new TextDecoderStream();
  let buf = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(dec)) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const [port, gap] = buf.slice(0, nl).split(" ").map(Number);
      buf = buf.slice(nl + 1);
      await new Promise((r) => setTimeout(r, gap));
      v.setUint16(2, port, false);
      mv.setFloat64(0, monoNs(), true);
      c.sendto(fd, msg, 64, 0, sa, 16);
    }
  }
}

type Way = { name: string; setup(): Promise<Receiver> | Receiver };
/** Arms a receiver on a port; `next()` resolves with the handler's delay (µs) for one datagram. */
interface Receiver {
  port: number;
  next(): Promise<number>;
  close(): Promise<void> | void;
}

const rx = new Uint8Array(new ArrayBuffer(2048));
const rxView = new DataView(rx.buffer);
function readDelay(fd: number): number | null {
  const n = libc().read(fd, rx, BigInt(rx.length));
  if (n < 8) return null;
  return (monoNs() - rxView.getFloat64(0, true)) / 1000;
}

function pollfds(fds: number[]): Uint8Array {
  const b = new Uint8Array(new ArrayBuffer(8 * fds.length));
  const v = new DataView(b.buffer);
  fds.forEach((fd, i) => {
    v.setInt32(i * 8, fd, true);
    v.setInt16(i * 8 + 4, 1, true);
  });
  return b;
}

const ways: Way[] = [
  {
    name: "poll_async",
    setup() {
      const s = udpSocket(false);
      const fds = pollfds([s.fd]);
      return {
        port: s.port,
        async next() {
          for (;;) {
            await libc().poll_async(fds, 1n, -1);
            const d = readDelay(s.fd);
            if (d !== null) return d;
          }
        },
        close: () => void libc().close(s.fd),
      };
    },
  },
  {
    name: "poll_async x2",
    setup() {
      const s = udpSocket(false);
      const other = udpSocket(false);
      const fds = pollfds([s.fd]);
      const otherFds = pollfds([other.fd]);
      // The other fd's poll stays in flight on its own thread, as a TUN's would.
      const otherPoll = libc().poll_async(otherFds, 1n, -1);
      return {
        port: s.port,
        async next() {
          for (;;) {
            await libc().poll_async(fds, 1n, -1);
            const d = readDelay(s.fd);
            if (d !== null) return d;
          }
        },
        async close() {
          libc().sendto(other.fd, rx, 1, 0, loopback(other.port), 16);
          await otherPoll;
          libc().close(s.fd);
          libc().close(other.fd);
        },
      };
    },
  },
  {
    name: "recv_async",
    setup() {
      const s = udpSocket(true);
      const p = Deno.UnsafePointer.of(rx);
      return {
        port: s.port,
        async next() {
          const n = Number(
            await ffi.symbols.recvfrom_async(s.fd, rx, BigInt(rx.length), 0, null, null),
          );
          void p;
          if (n < 8) return NaN;
          return (monoNs() - rxView.getFloat64(0, true)) / 1000;
        },
        close: () => void libc().close(s.fd),
      };
    },
  },
  {
    name: "deno udp",
    setup() {
      const s = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      return {
        port: (s.addr as Deno.NetAddr).port,
        async next() {
          const [d] = await s.receive();
          const t = monoNs();
          return (t - new DataView(d.buffer, d.byteOffset).getFloat64(0, true)) / 1000;
        },
        close: () => s.close(),
      };
    },
  },
  {
    name: "poll sync",
    setup() {
      const s = udpSocket(false);
      const fds = pollfds([s.fd]);
      return {
        port: s.port,
        // deno-lint-ignore require-await
        async next() {
          for (;;) {
            libc().poll(fds, 1n, 1000);
            const d = readDelay(s.fd);
            if (d !== null) return d;
          }
        },
        close: () => void libc().close(s.fd),
      };
    },
  },
  {
    name: "spin",
    setup() {
      const s = udpSocket(false);
      return {
        port: s.port,
        // deno-lint-ignore require-await
        async next() {
          for (;;) {
            const d = readDelay(s.fd);
            if (d !== null) return d;
          }
        },
        close: () => void libc().close(s.fd),
      };
    },
  },
  {
    // The kernel signals the process (O_ASYNC, F_SETOWN) when the fd turns readable; Deno's
    // signal handler wakes the JS thread's own epoll: one wake-up, no helper thread.
    name: "sigio",
    setup() {
      const s = udpSocket(false);
      const c = libc();
      c.fcntl(s.fd, F_SETOWN, Deno.pid);
      c.fcntl(s.fd, F_SETFL, c.fcntl(s.fd, F_GETFL, 0) | O_ASYNC);
      let wake: (() => void) | null = null;
      const onSig = () => {
        wake?.();
        wake = null;
      };
      Deno.addSignalListener("SIGIO", onSig);
      return {
        port: s.port,
        async next() {
          for (;;) {
            const d = readDelay(s.fd);
            if (d !== null) return d;
            await new Promise<void>((r) => (wake = r));
          }
        },
        close() {
          // The socket first: a SIGIO still on its way then finds the listener there.
          c.close(s.fd);
          Deno.removeSignalListener("SIGIO", onSig);
        },
      };
    },
  },
  pollerWay("Poller", {}),
  pollerWay("Poller spinMs 0.5", { spinMs: 0.5 }),
  pollerWay("Poller lingerMs 1000", { lingerMs: 1000 }),
];

function pollerWay(name: string, opts: PollerOptions): Way {
  return {
    name,
    setup() {
      const s = udpSocket(false);
      const poller = new Poller(opts);
      let waiting: ((d: number) => void) | null = null;
      poller.add(s.fd, {
        wantsWrite: false,
        onWritable() {},
        onReadable() {
          for (;;) {
            const d = readDelay(s.fd);
            if (d === null) return false;
            waiting?.(d);
            waiting = null;
          }
        },
      });
      return {
        port: s.port,
        next: () => new Promise<number>((r) => (waiting = r)),
        async close() {
          await poller.close();
          libc().close(s.fd);
        },
      };
    },
  };
}

function loopback(port: number): Uint8Array {
  const sa = new Uint8Array(new ArrayBuffer(16));
  new DataView(sa.buffer).setUint16(0, AF_INET, true);
  new DataView(sa.buffer).setUint16(2, port, false);
  sa.set([127, 0, 0, 1], 4);
  return sa;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function main(): Promise<void> {
  const arg = (name: string, dflt: number) => {
    const i = Deno.args.indexOf(name);
    return i >= 0 ? Number(Deno.args[i + 1]) : dflt;
  };
  const samples = arg("--samples", 60);
  const gap = arg("--gap", 20);
  const only = Deno.args.includes("--only") ? Deno.args[Deno.args.indexOf("--only") + 1] : "";
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--sender"],
    stdin: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  const enc = new TextEncoder();
  const chosen = ways.filter((x) => !only || x.name.includes(only));
  const results = new Map<string, number[]>(chosen.map((x) => [x.name, []]));
  // Interleaved: a few datagrams per way per round, so the machine's load hits every way alike.
  const perRound = 5;
  for (let round = 0; round * perRound < samples; round++) {
    for (const way of chosen) {
      const r = await way.setup();
      // A first datagram warms the way up (threads started, code compiled); not counted.
      for (let i = -1; i < perRound; i++) {
        // The sender waits `gap` ms after the line before sending: time enough to arm.
        await w.write(enc.encode(`${r.port} ${gap}\n`));
        const d = await r.next();
        if (i >= 0) results.get(way.name)!.push(d);
      }
      await r.close();
    }
  }
  await w.close();
  await child.status;
  const rows = [...results].map(([name, xs]) => ({
    way: name,
    "median µs": Math.round(pct(xs, 50)),
    "p10 µs": Math.round(pct(xs, 10)),
    "p90 µs": Math.round(pct(xs, 90)),
    n: xs.length,
  }));
  console.log(`send → handler delay, one datagram every ${gap} ms, ${samples} samples per way`);
  console.table(rows);
}

if (import.meta.main) {
  if (Deno.args.includes("--sender")) await sender();
  else await main();
}
