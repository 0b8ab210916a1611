/**
 * TUN offloads against the real kernel (root). The test makes a network namespace and re-runs
 * this file inside it (WEFT_TUN_OFFLOAD_NS set), where the "inside:" tests run. The transfer test
 * makes a second namespace for a second TUN; the two TUNs are relayed by this process (what one
 * reads is written to the other), so the kernels on both sides send and receive through the
 * offload paths: large TCP segments read and cut, TCP segments coalesced on write, partial
 * checksums completed, USO datagrams cut. Both namespaces are always deleted.
 */
import assert from "node:assert/strict";
import { DEFAULT_OFFLOADS, LinuxTun } from "./tun.ts";
import { AF_INET, libc, MSG_DONTWAIT, SOCK_CLOEXEC, SOCK_DGRAM, sysError } from "./libc.ts";
import { TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_USO4 } from "./vnet.ts";
import type { PacketSink } from "../../lib/io/driver.ts";
import type { Logger } from "../../lib/log/logger.ts";
import { haveCommands, must, runInsideNamespace, sh } from "../../tests/fixtures/netns.ts";
import { buildPacket } from "../testing/ip_packets.ts";

const ENV = "WEFT_TUN_OFFLOAD_NS";
const INSIDE = Deno.env.get(ENV) !== undefined;
const CAN_RUN = Deno.build.os === "linux" && Deno.uid() === 0 && !INSIDE &&
  (await haveCommands("ip"));
const PORT = 7100;
const MTU = 1420;

function uniqueName(): string {
  return `wo${crypto.randomUUID().slice(0, 8)}`;
}

Deno.test({
  name: "TUN offloads in network namespaces of their own (runs the inside: tests there)",
  ignore: !CAN_RUN,
  fn: async () => {
    const { success, text } = await runInsideNamespace(
      new URL(import.meta.url).pathname,
      ENV,
      "weft-offload",
    );
    assert.ok(success, text);
    assert.match(text, /ok \| 2 passed \| 0 failed/, text);
  },
});

/** A logger that keeps its warnings. */
function recordingLogger(lines: string[]): Logger {
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (event) => void lines.push(event),
    error: (event) => void lines.push(event),
    child: () => logger,
    enabled: () => true,
  };
  return logger;
}

Deno.test({
  name: "inside: offloads on by default, off on request; a refusal falls back, logged once",
  ignore: !INSIDE,
  fn: async () => {
    const on = await LinuxTun.open({ name: uniqueName(), onError: (e) => assert.fail(String(e)) });
    try {
      const base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
      assert.equal(on.offload & base, base);
      assert.equal(on.offload & ~DEFAULT_OFFLOADS, 0);
      assert.ok(on.offloadStats);
      // What the agent reads: the same counters, names and offload figures, by interface.
      assert.deepEqual(on.driverStats(), {
        kind: "tun",
        counters: on.stats,
        offloads: on.offloadNames,
        offload: on.offloadStats,
      });
      assert.equal(on.driverStats().counters, on.stats);
    } finally {
      await on.close();
    }
    const off = await LinuxTun.open({ name: uniqueName(), offload: false });
    try {
      assert.equal(off.offload, 0);
      assert.equal(off.offloadStats, null);
      assert.deepEqual(off.driverStats().offloads, []);
      off.flush(); // nothing queued on the plain path: a no-op
    } finally {
      await off.close();
    }
    // The kernel refuses a flag it does not know: the TUN falls back to the plain path.
    const lines: string[] = [];
    const name = uniqueName();
    const refused = await LinuxTun.open({
      name,
      offloadFlags: TUN_F_CSUM | 0x4000_0000,
      logger: recordingLogger(lines),
      onError: (e) => assert.fail(String(e)),
    });
    try {
      assert.equal(refused.offload, 0);
      assert.equal(lines.length, 1);
      assert.match(lines[0], /TUN offloads refused by the kernel \(TUNSETOFFLOAD: EINVAL/);
      // The plain path works: the interface is up and takes packets.
      await refused.configure({ addresses: ["10.91.0.1/24"] });
      const seen: Uint8Array[] = [];
      refused.start({ packet: (p) => void seen.push(p.slice()), flush() {} });
      const s = Deno.listenDatagram({ transport: "udp", hostname: "10.91.0.1", port: 0 });
      try {
        const udpSeen = () => seen.some((p) => p[9] === 17 && p.length === 31);
        for (let i = 0; i < 50 && !udpSeen(); i++) {
          await s.send(Uint8Array.of(1, 2, 3), {
            transport: "udp",
            hostname: "10.91.0.2",
            port: 9,
          });
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        s.close();
      }
      assert.ok(
        seen.some((p) => p[9] === 17 && p.length === 31),
        `a plain UDP packet was read: ${JSON.stringify(seen.map((p) => [p.length, p[0], p[9]]))}`,
      );
    } finally {
      await refused.close();
    }
  },
});

/** Checksum and header error counters of the namespace this runs in (or of `ns`). */
async function errorCounters(ns?: string): Promise<Record<string, number>> {
  const text = ns === undefined
    ? (await Deno.readTextFile("/proc/net/snmp")) + (await Deno.readTextFile("/proc/net/snmp6"))
    : await must("ip", "netns", "exec", ns, "cat", "/proc/net/snmp", "/proc/net/snmp6");
  const out: Record<string, number> = {};
  const lines = text.split("\n");
  for (let i = 0; i + 1 < lines.length; i++) {
    const [kind, ...names] = lines[i].split(/\s+/);
    const [kind2, ...values] = lines[i + 1].split(/\s+/);
    if (kind.endsWith(":") && kind === kind2 && names.length === values.length) {
      names.forEach((n, k) => (out[`${kind}${n}`] = Number(values[k])));
      i++;
    }
  }
  for (const line of lines) {
    const m = /^(\w+)\s+(\d+)$/.exec(line.trim());
    if (m) out[m[1]] = Number(m[2]);
  }
  const pick: Record<string, number> = {};
  for (
    const k of [
      "Tcp:InCsumErrors",
      "Udp:InCsumErrors",
      "Ip:InHdrErrors",
      "Udp6InCsumErrors",
      "Ip6InHdrErrors",
    ]
  ) {
    assert.ok(k in out, `${k} in /proc/net/snmp*`);
    pick[k] = out[k];
  }
  return pick;
}

/** Echoes `data` through a TCP connection to the echo peer, writing and reading at once. */
async function tcpEcho(host: string, data: Uint8Array): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: host, port: PORT });
  try {
    const got = new Uint8Array(data.length);
    let have = 0;
    const reading = (async () => {
      const reader = conn.readable.getReader();
      while (have < data.length) {
        const { value, done } = await reader.read();
        if (done) break;
        got.set(value.subarray(0, Math.min(value.length, data.length - have)), have);
        have += value.length;
      }
      reader.releaseLock();
    })();
    const writer = conn.writable.getWriter();
    for (let at = 0; at < data.length;) {
      const n = Math.min(data.length - at, 1 + Math.floor(Math.random() * 100_000));
      await writer.write(data.subarray(at, at + n));
      at += n;
    }
    writer.releaseLock();
    await reading;
    assert.equal(have, data.length);
    return got;
  } finally {
    conn.close();
  }
}

/** Every size from 1 to `max`, one at a time, each echoed back before the next. */
async function tcpSizes(host: string, max: number): Promise<void> {
  const conn = await Deno.connect({ hostname: host, port: PORT });
  conn.setNoDelay(true);
  const buf = new Uint8Array(max);
  try {
    for (let size = 1; size <= max; size++) {
      const data = crypto.getRandomValues(new Uint8Array(size));
      let sent = 0;
      while (sent < size) sent += await conn.write(data.subarray(sent));
      let have = 0;
      while (have < size) {
        const n = await conn.read(buf.subarray(have, size));
        assert.ok(n !== null, `connection closed at size ${size}`);
        have += n;
      }
      assert.deepEqual(buf.subarray(0, size), data, `size ${size}`);
    }
  } finally {
    conn.close();
  }
}

/** Every UDP payload size from 1 to `max`, each echoed back. */
async function udpSizes(local: string, peer: string, max: number): Promise<void> {
  const s = Deno.listenDatagram({ transport: "udp", hostname: local, port: 0 });
  try {
    for (let size = 1; size <= max; size++) {
      const data = crypto.getRandomValues(new Uint8Array(size));
      await s.send(data, { transport: "udp", hostname: peer, port: PORT });
      let timer: ReturnType<typeof setTimeout> | undefined;
      const [got] = await Promise.race([
        s.receive(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`UDP size ${size}: no echo`)), 3000);
        }),
      ]).finally(() => clearTimeout(timer));
      assert.deepEqual(got, data, `UDP size ${size}`);
    }
  } finally {
    s.close();
  }
}

/** One UDP GSO send (UDP_SEGMENT) of `count` datagrams of `size` bytes; returns the echoes. */
async function udpGso(local: number[], peer: number[], size: number, count: number) {
  const c = libc();
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert.ok(fd >= 0, sysError("socket").message);
  try {
    const sa = (addr: number[], port: number) => {
      const b = new Uint8Array(16);
      new DataView(b.buffer).setUint16(0, AF_INET, true);
      new DataView(b.buffer).setUint16(2, port);
      b.set(addr, 4);
      return b;
    };
    assert.equal(c.bind(fd, sa(local, 0), 16), 0, sysError("bind").message);
    const gso = new Uint8Array(new Int32Array([size]).buffer);
    // SOL_UDP 17, UDP_SEGMENT 103.
    assert.equal(c.setsockopt(fd, 17, 103, gso, 4), 0, sysError("UDP_SEGMENT").message);
    const data = crypto.getRandomValues(new Uint8Array(size * count));
    const to = sa(peer, PORT);
    assert.equal(
      c.sendto(fd, data, data.length, 0, to, 16),
      data.length,
      sysError("sendto").message,
    );
    const got: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (let tries = 0; got.length < count && tries < 300; tries++) {
      const n = c.recvfrom(fd, buf, buf.length, MSG_DONTWAIT, null, null);
      if (n >= 0) got.push(buf.slice(0, n));
      else await new Promise((r) => setTimeout(r, 10));
    }
    return { data, got };
  } finally {
    c.close(fd);
  }
}

Deno.test({
  name:
    "inside: two TUNs relayed in-process: large TCP both ways, every TCP and UDP size, USO; no checksum errors",
  ignore: !INSIDE,
  fn: async () => {
    const nsB = `${Deno.env.get(ENV)}-b`;
    await must("ip", "netns", "add", nsB);
    const onError = (e: unknown) => assert.fail(String(e));
    let peer: Deno.ChildProcess | null = null;
    const tA = await LinuxTun.open({ name: uniqueName(), mtu: MTU, onError });
    let tB: LinuxTun | null = null;
    try {
      const b = tB = await LinuxTun.open({ name: uniqueName(), mtu: MTU, onError });
      await tA.configure({ addresses: ["10.90.0.1/24", "fd00:90::1/64"] });
      await must("ip", "link", "set", "dev", b.name, "netns", nsB);
      await must("ip", "-n", nsB, "link", "set", "lo", "up");
      await must("ip", "-n", nsB, "link", "set", "dev", b.name, "mtu", String(MTU), "up");
      await must("ip", "-n", nsB, "addr", "add", "10.90.0.2/24", "dev", b.name);
      await must("ip", "-n", nsB, "-6", "addr", "add", "fd00:90::2/64", "dev", b.name, "nodad");
      const relay = (to: LinuxTun): PacketSink => ({
        packet: (p) => to.write(p),
        flush: () => to.flush(),
      });
      tA.start(relay(b));
      b.start(relay(tA));
      const script = new URL("../testing/echo_peer.ts", import.meta.url).pathname;
      peer = new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          nsB,
          Deno.execPath(),
          "run",
          "-A",
          "--unstable-net",
          script,
          String(PORT),
        ],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = peer.stdout.getReader();
      const first = await reader.read();
      assert.match(new TextDecoder().decode(first.value), /ready/);
      reader.releaseLock();
      peer.stdout.cancel().catch(() => {});

      const beforeA = await errorCounters();
      const beforeB = await errorCounters(nsB);

      // Large TCP both ways (the peer echoes): the kernels send segments of up to 64 KB.
      for (const host of ["10.90.0.2", "fd00:90::2"]) {
        const data = randomLarge(16 << 20);
        const got = await tcpEcho(host, data);
        assert.ok(equalBytes(got, data), `TCP echo over ${host}`);
      }
      const afterBulkA = { ...tA.offloadStats! };
      const afterBulkB = { ...b.offloadStats! };
      assert.ok(afterBulkA.gsoReads > 0, "A read GSO packets");
      assert.ok(afterBulkA.segments > afterBulkA.gsoReads * 2, "and cut them");
      assert.ok(afterBulkB.gsoReads > 0, "B read GSO packets");
      assert.ok(afterBulkA.coalescedWrites > 0 && afterBulkB.coalescedWrites > 0, "both coalesced");
      assert.ok(afterBulkA.coalescedPackets > afterBulkA.coalescedWrites);

      // Every TCP segment size to the MTU (payload 1 .. MTU - headers), and every UDP size.
      await tcpSizes("10.90.0.2", MTU - 40);
      await tcpSizes("fd00:90::2", MTU - 60);
      await udpSizes("10.90.0.1", "10.90.0.2", MTU - 28);
      await udpSizes("fd00:90::1", "fd00:90::2", MTU - 48);
      assert.ok(tA.offloadStats!.checksumsCompleted > 0, "partial checksums were completed");

      // USO: one send of 12 datagrams, cut by the TUN when the kernel granted USO.
      const gsoBefore = tA.offloadStats!.gsoReads;
      const { data, got } = await udpGso([10, 90, 0, 1], [10, 90, 0, 2], 1000, 12);
      assert.equal(got.length, 12);
      const joined = new Set(got.map((g) => g.join(",")));
      for (let k = 0; k < 12; k++) {
        assert.ok(joined.has(data.subarray(k * 1000, (k + 1) * 1000).join(",")), `datagram ${k}`);
      }
      if (tA.offload & TUN_F_USO4) assert.equal(tA.offloadStats!.gsoReads, gsoBefore + 1);

      assert.deepEqual(await errorCounters(), beforeA, "checksum errors in A");
      assert.deepEqual(await errorCounters(nsB), beforeB, "checksum errors in B");
      // The counters do count: a TCP and a UDP packet with a bad checksum, written to A.
      for (const proto of ["tcp", "udp"] as const) {
        const bad = buildPacket({
          proto,
          src: [10, 90, 0, 2],
          dst: [10, 90, 0, 1],
          sport: PORT,
          dport: 40999,
          payload: Uint8Array.of(1, 2, 3),
        });
        bad[bad.length - 1] ^= 0xff;
        tA.write(bad);
      }
      tA.flush();
      const afterBad = await errorCounters();
      assert.equal(afterBad["Tcp:InCsumErrors"], beforeA["Tcp:InCsumErrors"] + 1);
      assert.equal(afterBad["Udp:InCsumErrors"], beforeA["Udp:InCsumErrors"] + 1);
      for (const t of [tA, b]) {
        assert.equal(t.offloadStats!.readDrops, 0);
        assert.equal(t.stats.writeErrors, 0);
        assert.equal(t.stats.readErrors, 0);
      }
    } finally {
      if (peer) {
        try {
          peer.kill("SIGKILL");
        } catch { /* gone */ }
        await peer.status;
      }
      await tB?.close();
      await tA.close();
      await sh("ip", "netns", "del", nsB);
    }
  },
});

function randomLarge(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, i + 65536));
  return b;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
