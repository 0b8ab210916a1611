/**
 * CPU time per packet of the device's data path, each way, copying against zero-copy:
 *
 * - send: a TUN read (TunOffload cutting a 64 KB TSO packet, or one small packet per read) →
 *   seal → the UDP send queue → sendmmsg (GSO) to loopback;
 * - receive: recvmmsg (GRO) → split → open → the TUN's write queue → coalescing → the write
 *   (counted instead of reaching a kernel: drivers/testing/offload_packets.ts).
 *
 * Two devices joined over loopback, driven synchronously (no poller): each round, A reads and
 * sends, then B receives. CPU time (user + system of the process, `process.cpuUsage`, so a loaded
 * machine's waiting does not count) is summed per direction around each half. `copy` hides the
 * drivers' reserve/commit, so the device copies as before (into its own buffer, then into the
 * send queue; into the write queue); `zero-copy` uses them. One child process holds a pair of
 * each and interleaves their rounds, so both see the same (busy) machine; each figure is the
 * median over the children.
 *
 *   deno run -A --unstable-net scripts/bench/datapath.ts [rounds=3000] [runs=5]
 *
 * The AEAD is the one an agent picks here; `WEFT_BENCH_CRYPTO=sodium` (or another backend) forces one.
 * @module
 */

import process from "node:process";
import { Device } from "../../lib/device/device.ts";
import { selectSuite } from "../../lib/crypto/select.ts";
import type { BackendName } from "../../lib/crypto/types.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../../lib/crypto/keys.ts";
import { LinuxUdpTransport } from "../../drivers/linux/udp.ts";
import type { Poller } from "../../drivers/linux/poller.ts";
import { OffloadPackets } from "../../drivers/testing/offload_packets.ts";
import { buildPacket, randomBytes, refPseudo } from "../../drivers/testing/ip_packets.ts";

/** A traffic shape. */
export type Scenario = "bulk" | "small";
/** Whether the drivers' reserve/commit are used. */
export type Mode = "copy" | "zero-copy";

/** One row of the result: a scenario and a direction, both modes, CPU µs per packet. */
export interface DatapathRow {
  scenario: Scenario;
  path: "send" | "receive";
  "copy µs/pkt": number;
  "zero-copy µs/pkt": number;
  /** The median of the children's ratios (each child measures both modes side by side). */
  "zero/copy": number;
  /** The range of those ratios. */
  "min..max": string;
}

const MSS = 1380;
/** Small packets per round in the `small` scenario (one read each). */
const SMALL_PER_ROUND = 64;

/** One child's figures. */
interface ChildResult {
  aead: string;
  packets: number;
  sendUs: number;
  recvUs: number;
  delivered: number;
  commits: number;
}

/** Stands in for the poller: the bench drives the sockets itself. */
const idlePoller = {
  add() {},
  remove: () => Promise.resolve(),
  wake() {},
  close: () => Promise.resolve(),
} as unknown as Poller;

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Two devices joined over loopback, copying or not, and how to run one round through them. */
interface World {
  mode: Mode;
  round(measure: boolean): void;
  result(): Promise<ChildResult>;
}

async function world(scenario: Scenario, mode: Mode): Promise<World> {
  const zero = mode === "zero-copy";
  const opts = { port: 0, hostname: "127.0.0.1", poller: idlePoller, onError: console.error };
  const ta = await LinuxUdpTransport.open(opts);
  const tb = await LinuxUdpTransport.open(opts);
  if (!zero) {
    // The device checks for reserve on every packet: without it, it copies as it always did.
    Object.defineProperty(ta, "reserve", { value: undefined });
    Object.defineProperty(tb, "reserve", { value: undefined });
  }
  const pa = new OffloadPackets(1420, zero);
  const pb = new OffloadPackets(1420, zero);
  // The agent's own choice, or the backend named by WEFT_BENCH_CRYPTO (to compare them).
  const suite = selectSuite(Deno.env.get("WEFT_BENCH_CRYPTO") as BackendName | undefined);
  const ka = generatePrivateKey();
  const kb = generatePrivateKey();
  const a = new Device({ privateKey: ka, suite, transport: ta, packets: pa, tickMs: 0 });
  const b = new Device({ privateKey: kb, suite, transport: tb, packets: pb, tickMs: 0 });
  a.setPeer({
    publicKey: encodeKey(publicKeyOf(kb)),
    endpoint: `127.0.0.1:${tb.port}`,
    allowedIps: ["10.0.0.2/32"],
  });
  b.setPeer({
    publicKey: encodeKey(publicKeyOf(ka)),
    endpoint: `127.0.0.1:${ta.port}`,
    allowedIps: ["10.0.0.1/32"],
  });
  a.start();
  b.start();

  // A 64 KB TSO packet as the host hands it over (checksum field: the pseudo-header sum), and a
  // TCP ACK with timestamps (52 bytes, padded to 64).
  const big = buildPacket({ payload: randomBytes(65535 - 40 - 1) });
  const ps = refPseudo(big, big.length - 20);
  big[36] = ps >> 8;
  big[37] = ps & 0xff;
  const ack = buildPacket({ options: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2] });
  pa.readPlain(ack); // the handshake, then this packet
  pa.endReads();
  for (let i = 0; i < 4; i++) {
    tb.onReadable();
    ta.onReadable();
  }
  if (pb.written.packets === 0) {
    throw new Error(`no session: ${JSON.stringify([a.drops.snapshot(), b.drops.snapshot()])}`);
  }
  const deliveredBefore = pb.written.packets;
  let sendUs = 0;
  let recvUs = 0;
  let packets = 0;
  let warm = 0;
  return {
    mode,
    round(measure: boolean): void {
      let n = 0;
      const c0 = cpuMicros();
      if (scenario === "bulk") n = pa.readTso(big, MSS);
      else for (let i = 0; i < SMALL_PER_ROUND; i++) n += pa.readPlain(ack);
      pa.endReads();
      const c1 = cpuMicros();
      tb.onReadable();
      const c2 = cpuMicros();
      if (measure) {
        sendUs += c1 - c0;
        recvUs += c2 - c1;
        packets += n;
      } else warm += n;
    },
    async result(): Promise<ChildResult> {
      const r = {
        aead: a.aeadName,
        packets,
        sendUs: sendUs / packets,
        recvUs: recvUs / packets,
        delivered: pb.written.packets - deliveredBefore - warm,
        commits: pb.commits,
      };
      await a.close();
      await b.close();
      return r;
    },
  };
}

/** Both modes in one process, their rounds interleaved so both see the same machine. */
async function child(scenario: Scenario, rounds: number): Promise<ChildResult[]> {
  const worlds = [await world(scenario, "copy"), await world(scenario, "zero-copy")];
  for (let i = 0; i < Math.max(200, rounds / 4); i++) for (const w of worlds) w.round(false);
  for (let i = 0; i < rounds; i++) {
    // Alternate which goes first, so neither always follows the other.
    if (i & 1) { for (let k = worlds.length - 1; k >= 0; k--) worlds[k].round(true); }
    else for (const w of worlds) w.round(true);
  }
  const out: ChildResult[] = [];
  for (const w of worlds) out.push(await w.result());
  return out;
}

async function runChild(scenario: Scenario, rounds: number): Promise<ChildResult[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--child", scenario, `${rounds}`],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`datapath bench child ${scenario} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * Runs the bench (Linux only): `runs` children per scenario and mode, alternating, each of
 * `rounds` rounds. Returns null where it cannot run, with the backend used otherwise.
 */
export async function runDatapathBench(
  rounds = 3000,
  runs = 5,
): Promise<{ aead: string; rows: DatapathRow[] } | null> {
  if (Deno.build.os !== "linux") return null;
  const rows: DatapathRow[] = [];
  let aead = "";
  for (const scenario of ["bulk", "small"] as const) {
    // Small packets are cheaper: more rounds' worth for a comparable run.
    const r = scenario === "bulk" ? rounds : Math.round(rounds * 48 / SMALL_PER_ROUND);
    const got: Record<Mode, ChildResult[]> = { "copy": [], "zero-copy": [] };
    for (let i = 0; i < runs; i++) {
      const [copy, zero] = await runChild(scenario, r);
      for (const [mode, res] of [["copy", copy], ["zero-copy", zero]] as const) {
        if (res.delivered !== res.packets) {
          throw new Error(`${scenario} ${mode}: ${res.delivered} of ${res.packets} delivered`);
        }
        if ((mode === "zero-copy") !== (res.commits > 0)) {
          throw new Error(`${scenario} ${mode}: ${res.commits} slots committed`);
        }
        aead = res.aead;
        got[mode].push(res);
      }
    }
    for (const path of ["send", "receive"] as const) {
      const us = (x: ChildResult) => path === "send" ? x.sendUs : x.recvUs;
      // Each child ran both modes side by side: its ratio is the steadier figure on a busy box.
      const ratios = got.copy.map((c, i) => us(got["zero-copy"][i]) / us(c));
      rows.push({
        scenario,
        path,
        "copy µs/pkt": round3(median(got.copy.map(us))),
        "zero-copy µs/pkt": round3(median(got["zero-copy"].map(us))),
        "zero/copy": round3(median(ratios)),
        "min..max": `${round3(Math.min(...ratios))}..${round3(Math.max(...ratios))}`,
      });
    }
  }
  return { aead, rows };
}

if (import.meta.main) {
  if (Deno.args[0] === "--child") {
    const [, scenario, rounds] = Deno.args;
    console.log(JSON.stringify(await child(scenario as Scenario, Number(rounds))));
  } else {
    const res = await runDatapathBench(Number(Deno.args[0] ?? 3000), Number(Deno.args[1] ?? 5));
    if (res === null) console.log("skipped: Linux only");
    else {
      console.log(`AEAD: ${res.aead}; CPU µs per packet (process user + system)`);
      console.table(res.rows);
    }
  }
}
