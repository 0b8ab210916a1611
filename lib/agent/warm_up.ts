/**
 * The data path warmed at start: once per process, before the agent's device carries a packet, a
 * pair of throwaway devices with the agent's crypto suite hand each other ping-sized packets
 * through the real per-packet code (a handshake, then request and reply: the TUN's read, route,
 * seal, sendmmsg; recvmmsg, open, replay and source checks, the TUN's write), so that V8 compiles
 * that code then rather than during a fresh tunnel's first pings.
 *
 * Why: V8 compiles a function with its optimising tiers only once it has run a few times (weft's
 * thresholds: lib/agent/jit.ts), on V8's worker threads beside it (lib/agent/v8_workers.ts; under
 * `SCHED_IDLE` until 2026-11-28, when they got a core only when one was free). Without a warm-up a fresh tunnel's first pings ran baseline code and
 * waited on those compiles (docs/performance.md, "Latency: the tail of an idle tunnel").
 *
 * The pair's drivers are twins of the agent's, of the same classes: a {@link LinuxTun} over one
 * end of a Unix socket pair (the warm-up plays the host on the other end) and a
 * {@link LinuxUdpTransport} on 127.0.0.1, and around them what the agent's are wrapped in: a mesh
 * member's TUN split for its control stack ({@link SplitDevice}), its UDP beside TCP
 * ({@link DualTransport}, the TCP twin listening nowhere) under the relay mux ({@link RelayMux},
 * on the agent's relay client, which the pair's direct packets never reach). Twins of other
 * classes would teach V8 calls the agent never makes: measured, a warm-up over memory drivers
 * left the device's code slower for good (the calls into the drivers compiled for the warm-up's
 * classes, then thrown away and compiled again for the agent's), so with other drivers (the
 * userspace stack, a transport wrapped otherwise) there is none. The pair's datagrams go from one
 * loopback socket of this process to the other; the agent's own device, drivers, peers and
 * counters are made or touched only after it.
 *
 * Most round trips are handed to the drivers directly; a few each batch go as the agent's own
 * packets do, through the poller's loop (lingering as the agent's, its wait on the JS thread) and
 * the event loop's turns.
 *
 * Bounded: {@link WARM_UP_ROUNDS} round trips, {@link WARM_UP_BUDGET_MS} of the JS thread's CPU
 * time, or {@link WARM_UP_WALL_MS} from the rounds' start (no batch begins after), whichever comes
 * first. Off with the agent's `warmUp: false` or `WEFT_WARM_UP=0`.
 * @module
 */

import type { CryptoSuite } from "../crypto/types.ts";
import type { Logger } from "../log/logger.ts";
import { Poller } from "../../drivers/linux/poller.ts";
import { libc } from "../../drivers/linux/libc.ts";
import { makeKeys, openPair, type Pair, type WarmDrivers } from "./warm_up_pair.ts";

export { type WarmDrivers, warmDriversOf } from "./warm_up_pair.ts";

/** Round trips at most (a request and its reply each). */
export const WARM_UP_ROUNDS = 200;
/**
 * Time budget of the rounds, ms of the JS thread's own CPU time (the pauses between batches, and
 * time other processes had the core, excluded: on a loaded machine wall time counted them and
 * cut the rounds short before V8's optimising tier).
 */
export const WARM_UP_BUDGET_MS = 40;
/**
 * No batch of rounds but the first begins this long (ms, wall) after the rounds began: what a
 * loaded machine may add to the agent's start. (From the warm-up's start, as it was, the two
 * pairs' making alone took longer at load 12: one batch, and no TurboFan code.)
 */
export const WARM_UP_WALL_MS = 300;
/**
 * Batches of rounds, with a pause after each in which V8's workers finish the compiles the batch
 * asked for; the next batch's calls install them. A function reaches TurboFan in several such
 * steps (Maglev's job, its code installed and counted hot, TurboFan's job started by a call and
 * installed by a later one), and a round run before its compile landed is a round run slowly:
 * many short batches, not a few long. Measured at load 12 to 22 (the JS thread's CPU time): a
 * first batch of 40 round trips took 31 to 35 ms of the budget, one of 12 took 20 to 28, and
 * each later one of 12 took 2 to 4.
 */
const BATCHES = 12;
/** Round trips of the first batch handed to the drivers directly. */
const FIRST_BATCH = 10;
/** Round trips of each later batch handed to the drivers directly. */
const BATCH = 10;
const PAUSE_MS = 8;
/**
 * Round trips of each batch carried through the poller and the event loop, as the agent's own
 * packets are (the others are handed to the drivers directly): its wait on the JS thread
 * (`lingerMs`), the handlers' calls, the turns of the loop.
 */
const POLLED_PER_BATCH = 2;

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
  /** The host's group packets (router solicitations) the pair's devices dropped, as the agent's do. */
  chatter: number;
  /** Of the rounds, those carried through the poller and the event loop. */
  polled: number;
  /** The JS thread's CPU time running the rounds (pauses excluded), ms; wall time without it. */
  ms: number;
  /** The JS thread's CPU time making the pairs (keys, sockets, devices), ms; -1 unknown. */
  openMs: number;
  /** Wall time from start to end (pauses included), ms. */
  wallMs: number;
  /** The full collection after it, ms; absent without V8's `gc` (`--expose-gc`). */
  gcMs?: number;
  /** The process's CPU time from start to end (pauses and V8's workers included), ms; -1 unknown. */
  cpuMs: number;
}

/** `Deno.cpuUsage` (µs of user and system CPU), which Deno's types do not list yet. */
function cpuNowMs(): number {
  const usage = (Deno as unknown as { cpuUsage?: () => { user: number; system: number } })
    .cpuUsage;
  if (typeof usage !== "function") return -1;
  const u = usage();
  return (u.user + u.system) / 1000;
}

const CLOCK_THREAD_CPUTIME_ID = 3;
const timespec = new BigInt64Array(2);
const timespecBytes = new Uint8Array(timespec.buffer);

/** The calling thread's CPU time (ms): the JS thread's own, whoever else had the core. */
function threadCpuMs(): number {
  if (libc().clock_gettime(CLOCK_THREAD_CPUTIME_ID, timespecBytes) !== 0) return performance.now();
  return Number(timespec[0]) * 1000 + Number(timespec[1]) / 1e6;
}

/**
 * Runs the warm-up with `suite` (the agent's) over twins of `drivers` (the agent's), bounded by
 * {@link WARM_UP_ROUNDS}, {@link WARM_UP_BUDGET_MS} and {@link WARM_UP_WALL_MS}; the twins have a
 * poller of their own (lingering as the agent's does), closed with them. Throws when the
 * throwaway pair cannot be made or does not carry a packet.
 */
export async function warmDataPath(suite: CryptoSuite, drivers: WarmDrivers): Promise<WarmUp> {
  const poller = new Poller({ onError: () => {}, lingerMs: drivers.lingerMs ?? 0 });
  let w: WarmUp;
  try {
    w = await warmOn(suite, drivers, poller);
  } finally {
    await poller.close();
  }
  // The pair's garbage (its sockets' and TUN twins' buffers, sessions, devices) collected now,
  // before the first packet, rather than by a collection in the middle of the first pings. V8's
  // `gc` is there with weft's flags (`--expose-gc`, lib/agent/jit.ts); without it, V8 decides.
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc === "function") {
    const t0 = performance.now();
    gc();
    w.gcMs = Math.round((performance.now() - t0) * 10) / 10;
  }
  return w;
}

async function warmOn(suite: CryptoSuite, drivers: WarmDrivers, poller: Poller): Promise<WarmUp> {
  const cpu0 = cpuNowMs();
  const wall0 = performance.now();
  const open0 = threadCpuMs();
  let openMs = 0;
  const total = { sealed: 0, opened: 0, handshakes: 0, chatter: 0 };
  const add = (c: ReturnType<Pair["counts"]>) => {
    total.sealed += c.sealed;
    total.opened += c.opened;
    total.handshakes += c.handshakes;
    total.chatter += c.chatter;
  };
  const keys = makeKeys();
  // A first pair carries a few packets both ways and is closed before the rounds: V8 tracks
  // the type and whether it ever changed of each object field, and packets and closing (flags
  // set, sessions dropped) change some (a replay window's highest counter becomes a double once
  // it moves). Changed only after the code was optimised, or seen first by the agent's own
  // objects, they would throw that code away (a deoptimisation, then the compile again in the
  // first real pings); changed first, the compiles do not count on them.
  const first = await openPair(suite, drivers, poller, keys);
  try {
    for (let seq = 0; seq < 4; seq++) {
      if (!first.one(true, seq) || !first.one(false, seq)) {
        throw new Error("the warm-up pair did not carry a packet");
      }
    }
    add(first.counts());
  } finally {
    await first.close();
  }
  const pair = await openPair(suite, drivers, poller, keys);
  try {
    if (!pair.one(true, 0)) throw new Error("the warm-up pair did not carry a packet");
    openMs = threadCpuMs() - open0;
    let rounds = 0;
    let polled = 0;
    let ms = 0;
    const rounds0 = performance.now();
    const next = () => {
      rounds++;
      return (rounds + 1) & 0xffff;
    };
    for (
      let batch = 0;
      batch < BATCHES && ms < WARM_UP_BUDGET_MS &&
      (batch === 0 || performance.now() - rounds0 < WARM_UP_WALL_MS);
      batch++
    ) {
      const t0 = threadCpuMs();
      const left = () => rounds < WARM_UP_ROUNDS && threadCpuMs() - t0 + ms < WARM_UP_BUDGET_MS;
      for (let i = 0; i < (batch === 0 ? FIRST_BATCH : BATCH) && left(); i++) {
        const seq = next();
        if (!pair.one(true, seq) || !pair.one(false, seq)) {
          throw new Error(`the warm-up pair lost a packet after ${rounds} round trips`);
        }
        pair.tick();
      }
      pair.chatter();
      // Then a few as the agent's packets go: the poller's loop, the event loop's turns.
      for (let i = 0; i < POLLED_PER_BATCH && left(); i++) {
        if (!await pair.polled(next())) {
          throw new Error(`the warm-up pair lost a packet after ${rounds} round trips`);
        }
        polled++;
      }
      ms += threadCpuMs() - t0;
      // V8's workers finish the compiles these rounds asked for; the next rounds install them.
      await new Promise((r) => setTimeout(r, PAUSE_MS));
    }
    add(pair.counts());
    const cpu1 = cpuNowMs();
    return {
      rounds,
      polled,
      ...total,
      ms: Math.round(ms * 10) / 10,
      openMs: Math.round(openMs * 10) / 10,
      wallMs: Math.round((performance.now() - wall0) * 10) / 10,
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
  drivers: WarmDrivers,
  logger: Logger,
): Promise<WarmUp | null> {
  if (done !== null) return done;
  return done = warmDataPath(suite, drivers).then(
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
