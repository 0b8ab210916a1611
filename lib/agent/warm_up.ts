/**
 * The data path warmed at start: once per process, before the agent's device carries a packet, a
 * pair of throwaway devices with the agent's crypto suite, joined over an in-memory network,
 * hand each other ping-sized packets through the real per-packet code (a handshake, then request
 * and reply: route, seal, send; receive, open, replay and source checks, the TUN's offload write
 * queue), so that V8 compiles that code then rather than during a fresh tunnel's first pings.
 *
 * Why: V8 compiles a function with its optimising tiers only once it has run a few times (weft's
 * thresholds: lib/agent/jit.ts), on worker threads that get a core only when one is free
 * (lib/agent/v8_workers.ts). Without a warm-up a fresh tunnel's first pings ran baseline code and
 * waited on those compiles (docs/performance.md, "Latency: the tail of an idle tunnel").
 *
 * Nothing leaves the process and nothing touches the agent's own device: the pair's transports
 * are memory (drivers/memory.ts), their packet devices count what they are given, both devices
 * are closed after, and the agent's device, peers, counters and drivers are made after it.
 * Bounded: {@link WARM_UP_ROUNDS} round trips or {@link WARM_UP_BUDGET_MS} of the JS thread's
 * time, whichever comes first. Off with the agent's `warmUp: false` or `WEFT_WARM_UP=0`.
 * @module
 */

import type { CryptoSuite } from "../crypto/types.ts";
import type { PacketDevice, PacketSink } from "../io/driver.ts";
import type { Logger } from "../log/logger.ts";
import { Device } from "../device/device.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../crypto/keys.ts";
import { writeIcmpEcho } from "../net/icmp.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { TunOffload } from "../../drivers/linux/tun_offload.ts";
import { encodeVnetHeader, GSO_NONE, VNET_HDR_LEN } from "../../drivers/linux/vnet.ts";

/** Round trips at most (a request and its reply each). */
export const WARM_UP_ROUNDS = 400;
/** Time budget of the rounds on the JS thread, ms (the pauses between batches excluded). */
export const WARM_UP_BUDGET_MS = 40;
/** Batches of rounds, with a pause after each: V8's workers finish and install their compiles. */
const BATCHES = 4;
const PAUSE_MS = 5;

/** What {@link warmDataPath} did. */
export interface WarmUp {
  /** Round trips completed (each: a packet sealed, sent, opened and written, both ways). */
  rounds: number;
  /** Transport messages the pair sealed (keepalives included). */
  sealed: number;
  /** Transport messages the pair opened and accepted. */
  opened: number;
  /** Handshakes the pair completed (one a pair). */
  handshakes: number;
  /** Time the JS thread spent running packets (pauses excluded), ms. */
  ms: number;
  /** The process's CPU time from start to end (pauses and V8's workers included), ms; -1 unknown. */
  cpuMs: number;
}

/**
 * The TUN's offload paths (the code a TUN with offloads runs: reads cut and handed over, writes
 * queued in lent slots, coalesced and flushed) with the kernel left out: reads are played by the
 * warm-up, writes are counted.
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

  /** Plays a read of one packet (a complete checksum, as a ping's) and the end of the batch. */
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

const A = new Uint8Array([198, 18, 0, 1]);
const B = new Uint8Array([198, 18, 0, 2]);

/** A throwaway pair of devices joined by a memory network. */
interface Pair {
  /** Hands one ping-sized packet from one end to the other; false when it did not arrive. */
  one(aToB: boolean, seq: number): boolean;
  /** Messages sealed and opened, handshakes completed, so far. */
  counts(): { sealed: number; opened: number; handshakes: number };
  close(): Promise<void>;
}

function openPair(suite: CryptoSuite, mtu: number): Pair {
  const net = new MemoryNetwork({ manual: true });
  const ta = net.bind("198.18.0.1", 51820);
  const tb = net.bind("198.18.0.2", 51820);
  const pa = new WarmPackets(mtu);
  const pb = new WarmPackets(mtu);
  const ka = generatePrivateKey();
  const kb = generatePrivateKey();
  const a = new Device({ privateKey: ka, suite, transport: ta, packets: pa, tickMs: 0 });
  const b = new Device({ privateKey: kb, suite, transport: tb, packets: pb, tickMs: 0 });
  let handshakes = 0;
  a.onEvent((e) => {
    if (e.type === "handshake-complete") handshakes++;
  });
  a.setPeer({
    publicKey: encodeKey(publicKeyOf(kb)),
    endpoint: "198.18.0.2:51820",
    allowedIps: ["198.18.0.2/32"],
  });
  b.setPeer({
    publicKey: encodeKey(publicKeyOf(ka)),
    endpoint: "198.18.0.1:51820",
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
      // The handshake takes a few trips the first time; after that one delivery does.
      for (let i = 0; i < 8 && to.written < want; i++) net.deliver();
      return to.written >= want;
    },
    counts() {
      const peers = [...a.peers(), ...b.peers()];
      return {
        sealed: peers.reduce((n, p) => n + p.counters.txPackets, 0),
        opened: peers.reduce((n, p) => n + p.counters.rxPackets, 0),
        handshakes,
      };
    },
    async close() {
      await Promise.allSettled([a.close(), b.close()]);
    },
  };
}

/** `Deno.cpuUsage` (µs of user and system CPU), which Deno's types do not list yet. */
function cpuNowMs(): number {
  const usage = (Deno as unknown as { cpuUsage?: () => { user: number; system: number } })
    .cpuUsage;
  if (typeof usage !== "function") return -1;
  const u = usage();
  return (u.user + u.system) / 1000;
}

/**
 * Runs the warm-up with `suite` (the agent's) and the overlay's `mtu`, bounded by
 * {@link WARM_UP_ROUNDS} and {@link WARM_UP_BUDGET_MS}. Throws only when the throwaway pair
 * does not carry a packet.
 */
export async function warmDataPath(suite: CryptoSuite, mtu = 1420): Promise<WarmUp> {
  const cpu0 = cpuNowMs();
  const total = { sealed: 0, opened: 0, handshakes: 0 };
  const add = (c: ReturnType<Pair["counts"]>) => {
    total.sealed += c.sealed;
    total.opened += c.opened;
    total.handshakes += c.handshakes;
  };
  // A first pair carries one packet and is closed before the rounds: V8 tracks whether an object
  // field ever changed, and closing (flags set, sessions dropped) changes some. Changed only
  // after the code was optimised, they would throw that code away (a deoptimisation, then the
  // compile again in the first real pings); changed first, the compiles do not count on them.
  const first = openPair(suite, mtu);
  try {
    if (!first.one(true, 0)) throw new Error("the warm-up pair did not carry a packet");
    add(first.counts());
  } finally {
    await first.close();
  }
  const pair = openPair(suite, mtu);
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
    add(pair.counts());
    const cpu1 = cpuNowMs();
    return {
      rounds,
      ...total,
      ms: Math.round(ms * 10) / 10,
      cpuMs: cpu0 < 0 || cpu1 < 0 ? -1 : Math.round((cpu1 - cpu0) * 10) / 10,
    };
  } finally {
    await pair.close();
  }
}

/** Whether `WEFT_WARM_UP` leaves the warm-up on: anything but `0` does (unset included). */
export function warmUpAllowedByEnv(): boolean {
  try {
    return Deno.env.get("WEFT_WARM_UP") !== "0";
  } catch {
    return true; // no --allow-env: the default
  }
}

let done: Promise<WarmUp | null> | null = null;

/**
 * Warms the data path once per process (the code is the process's, whatever the device; later
 * calls get the first's result); null when it failed (logged at debug: the agent runs as it
 * would without it).
 */
export function warmDataPathOnce(
  suite: CryptoSuite,
  mtu: number,
  logger: Logger,
): Promise<WarmUp | null> {
  if (done !== null) return done;
  return done = warmDataPath(suite, mtu).then(
    (w) => {
      logger.debug("data path warmed", { ...w });
      return w;
    },
    (e) => {
      logger.debug("data path not warmed", { error: String(e) });
      return null;
    },
  );
}
