/**
 * The data path warmed at start: once per process, before the agent's device carries a packet, a
 * pair of throwaway devices with the agent's crypto suite, joined over an in-memory network,
 * hand each other ping-sized packets (a handshake, then request and reply: route, seal, send;
 * receive, open, checks, write) until V8 has compiled that code with its optimising tiers.
 *
 * Why: V8 compiles a function on its worker threads when it has run often enough (weft's
 * thresholds: lib/agent/jit.ts), and those compiles went on for tens of seconds of real traffic,
 * each one a worker the JS thread woke mid-packet that then held the core for 0.2 to 1.7 ms
 * (docs/performance.md, "Latency: the tail of an idle tunnel"). Done here they happen before
 * the first real packet. Nothing leaves the process: the devices' transports are memory
 * (drivers/memory.ts), their packet devices count what they get, and both are closed after.
 *
 * Off unless `WEFT_WARM_UP=1`: in two runs of interleaved rounds it cut the compiles in the first
 * 100 pings by about 40 % but moved the ping p90 both ways and raised the median by 0.05 to 0.08
 * ms (docs/performance.md, "Latency: the tail of an idle tunnel"), so it is there to measure.
 * @module
 */

import type { CryptoSuite } from "../crypto/types.ts";
import type { PacketDevice, PacketSink, Transport } from "../io/driver.ts";
import type { Logger } from "../log/logger.ts";
import { Device } from "../device/device.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../crypto/keys.ts";
import { writeIcmpEcho } from "../net/icmp.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { LinuxUdpTransport } from "../../drivers/linux/udp.ts";
import type { Poller } from "../../drivers/linux/poller.ts";
import { TunOffload } from "../../drivers/linux/tun_offload.ts";
import { encodeVnetHeader, GSO_NONE, VNET_HDR_LEN } from "../../drivers/linux/vnet.ts";

/** Round trips at most (a request and its reply each). */
export const WARM_UP_ROUNDS = 400;
/** CPU budget of the whole warm-up, in ms of wall time on the JS thread. */
export const WARM_UP_BUDGET_MS = 40;
/** Pauses between batches of rounds: the workers' compiles finish and are installed meanwhile. */
const BATCHES = 4;
const PAUSE_MS = 5;

/** What {@link warmDataPath} did. */
export interface WarmUp {
  /** Round trips completed (each: a packet sealed, sent, opened and written, both ways). */
  rounds: number;
  /** Wall time spent running packets (pauses excluded), ms. */
  ms: number;
  /** The pair's transports: the agent's UDP driver on loopback, or the memory network. */
  underlay: "udp" | "memory";
}

/**
 * The TUN's offload paths (the same code a TUN with offloads runs: reads cut and handed over,
 * writes queued in lent slots, coalesced and flushed) with the kernel left out: reads are played
 * by the warm-up, writes are counted.
 */
class WarmPackets implements PacketDevice {
  readonly name = "warm-up";
  readonly mtu: number;
  readonly off: TunOffload;
  /** IP packets "written" to the host. */
  written = 0;
  #sink: PacketSink | null = null;

  constructor(mtu: number) {
    this.mtu = mtu;
    this.off = new TunOffload({
      mtu,
      emit: (_at, len) => len,
      onWritten: (packets) => (this.written += packets),
    });
  }

  start(sink: PacketSink): void {
    this.#sink = sink;
  }

  /** Plays a read of one packet (a complete checksum, as a ping's) and the end of the round. */
  read(pkt: Uint8Array): void {
    const a = this.off.arena;
    encodeVnetHeader(a, 0, 0, GSO_NONE, 0, 0, 0, 0);
    a.set(pkt, VNET_HDR_LEN);
    this.off.handleRead(VNET_HDR_LEN + pkt.length, this.#sink!);
    this.#sink!.flush();
  }

  write(data: Uint8Array): void {
    this.off.write(data);
  }

  flush(): void {
    this.off.flush();
  }

  reserve(max: number): Uint8Array | null {
    return this.off.reserve(max);
  }

  commit(length: number): void {
    this.off.commit(length);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Two transports that reach each other, and how to hand over what was sent. */
interface Underlay {
  a: Transport;
  b: Transport;
  /** Where each is reached. */
  endpoints: [string, string];
  /** Delivers what was sent (both ways). */
  deliver(): void;
}

/**
 * With the agent's poller (Linux): the agent's own UDP driver, two sockets on 127.0.0.1 read by
 * the warm-up itself (the poller only sees them readable after the warm-up has read them);
 * otherwise the memory network.
 */
async function underlay(poller: Poller | undefined): Promise<Underlay> {
  if (poller === undefined) {
    const net = new MemoryNetwork({ manual: true });
    return {
      a: net.bind("198.18.0.1", 51820),
      b: net.bind("198.18.0.2", 51820),
      endpoints: ["198.18.0.1:51820", "198.18.0.2:51820"],
      deliver: () => void net.deliver(),
    };
  }
  const opts = { port: 0, hostname: "127.0.0.1", poller, gso: false };
  const a = await LinuxUdpTransport.open(opts);
  const b = await LinuxUdpTransport.open(opts).catch(async (e) => {
    await a.close();
    throw e;
  });
  return {
    a,
    b,
    endpoints: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`],
    deliver: () => {
      b.onReadable();
      a.onReadable();
    },
  };
}

const A = new Uint8Array([198, 18, 0, 1]);
const B = new Uint8Array([198, 18, 0, 2]);

/** A throwaway pair of devices joined by an underlay. */
interface Pair {
  /** Hands one ping-sized packet from one end to the other; false when it did not arrive. */
  one(aToB: boolean, seq: number): boolean;
  close(): Promise<void>;
}

async function openPair(suite: CryptoSuite, mtu: number, poller?: Poller): Promise<Pair> {
  const u = await underlay(poller);
  const pa = new WarmPackets(mtu);
  const pb = new WarmPackets(mtu);
  const ka = generatePrivateKey();
  const kb = generatePrivateKey();
  const a = new Device({ privateKey: ka, suite, transport: u.a, packets: pa, tickMs: 0 });
  const b = new Device({ privateKey: kb, suite, transport: u.b, packets: pb, tickMs: 0 });
  a.setPeer({
    publicKey: encodeKey(publicKeyOf(kb)),
    endpoint: u.endpoints[1],
    allowedIps: ["198.18.0.2/32"],
  });
  b.setPeer({
    publicKey: encodeKey(publicKeyOf(ka)),
    endpoint: u.endpoints[0],
    allowedIps: ["198.18.0.1/32"],
  });
  a.start();
  b.start();
  // A ping's size (56 bytes of data).
  const buf = new Uint8Array(128);
  const data = new Uint8Array(56);
  return {
    one(aToB, seq) {
      const [from, to] = aToB ? [pa, pb] : [pb, pa];
      const want = to.written + 1;
      from.read(
        buf.subarray(0, writeIcmpEcho(buf, aToB ? A : B, aToB ? B : A, aToB, 0x5746, seq, data)),
      );
      // The handshake takes three trips the first time; loopback delivers at once after that.
      for (let i = 0; i < 8 && to.written < want; i++) u.deliver();
      return to.written >= want;
    },
    async close() {
      await Promise.allSettled([a.close(), b.close()]);
    },
  };
}

/**
 * Runs the warm-up with `suite` (the agent's), over the agent's UDP driver when its `poller` is
 * given; bounded by {@link WARM_UP_ROUNDS} and {@link WARM_UP_BUDGET_MS}. Throws only when the
 * throwaway pair does not carry a packet.
 */
export async function warmDataPath(
  suite: CryptoSuite,
  mtu = 1420,
  poller?: Poller,
): Promise<WarmUp> {
  // A first pair carries one packet and is closed before the rounds: V8 tracks whether an object
  // field ever changed, and closing (flags set, sessions dropped) changes some. Changed only
  // after the code was optimised, they would throw that code away (a deoptimisation, then the
  // compile again in the first real pings); changed first, the compiles do not count on them.
  const first = await openPair(suite, mtu, poller);
  try {
    if (!first.one(true, 0)) throw new Error("the warm-up pair did not carry a packet");
  } finally {
    await first.close();
  }
  const pair = await openPair(suite, mtu, poller);
  try {
    if (!pair.one(true, 0)) throw new Error("the warm-up pair did not carry a packet");
    let rounds = 0;
    let ms = 0;
    const perBatch = Math.ceil(WARM_UP_ROUNDS / BATCHES);
    for (let batch = 0; batch < BATCHES && ms < WARM_UP_BUDGET_MS; batch++) {
      const t0 = performance.now();
      for (let i = 0; i < perBatch; i++) {
        const seq = (rounds + 1) & 0xffff;
        if (!pair.one(true, seq) || !pair.one(false, seq)) {
          throw new Error(`the warm-up pair lost a packet after ${rounds} round trips`);
        }
        rounds++;
        if ((i & 15) === 15 && performance.now() - t0 + ms >= WARM_UP_BUDGET_MS) break;
      }
      ms += performance.now() - t0;
      // V8's workers finish the compiles these rounds asked for; the next rounds install them.
      await new Promise((r) => setTimeout(r, PAUSE_MS));
    }
    return { rounds, ms: Math.round(ms * 10) / 10, underlay: poller ? "udp" : "memory" };
  } finally {
    await pair.close();
  }
}

/** Whether the warm-up is on: only with `WEFT_WARM_UP=1` (see the module's docs for why). */
export function warmUpEnabled(): boolean {
  try {
    return Deno.env.get("WEFT_WARM_UP") === "1";
  } catch {
    return false; // no --allow-env
  }
}

let done: Promise<WarmUp | null> | null = null;

/**
 * Warms the data path once per process (later calls get the first's result); null when not
 * turned on or when it failed (logged: the agent runs as it would without it).
 */
export function warmDataPathOnce(
  suite: CryptoSuite,
  mtu: number,
  poller: Poller | undefined,
  logger: Logger,
): Promise<WarmUp | null> {
  if (done !== null) return done;
  if (!warmUpEnabled()) return done = Promise.resolve(null);
  // Loopback may be down (a fresh network namespace): then the memory network.
  const run = poller === undefined
    ? warmDataPath(suite, mtu)
    : warmDataPath(suite, mtu, poller).catch(() => warmDataPath(suite, mtu));
  return done = run.then(
    (w) => {
      logger.debug("data path warmed", { rounds: w.rounds, ms: w.ms, underlay: w.underlay });
      return w;
    },
    (e) => {
      logger.debug("data path not warmed", { error: String(e) });
      return null;
    },
  );
}
