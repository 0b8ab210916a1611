/**
 * The data path warmed at start: once per process, before the agent's device carries a packet, a
 * pair of throwaway devices with the agent's crypto suite hand each other ping-sized packets
 * through the real per-packet code (a handshake, then request and reply: the TUN's read, route,
 * seal, sendmmsg; recvmmsg, open, replay and source checks, the TUN's write), so that V8 compiles
 * that code then rather than during a fresh tunnel's first pings.
 *
 * Why: V8 compiles a function with its optimising tiers only once it has run a few times (weft's
 * thresholds: lib/agent/jit.ts), on worker threads that get a core only when one is free
 * (lib/agent/v8_workers.ts). Without a warm-up a fresh tunnel's first pings ran baseline code and
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
import type { PacketDevice, Transport } from "../io/driver.ts";
import type { Logger } from "../log/logger.ts";
import { Device } from "../device/device.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../crypto/keys.ts";
import { writeIcmpEcho } from "../net/icmp.ts";
import { LinuxTun } from "../../drivers/linux/tun.ts";
import { LinuxUdpTransport } from "../../drivers/linux/udp.ts";
import { SplitDevice } from "../../drivers/split.ts";
import { DualTransport } from "../../drivers/dual.ts";
import { TcpTransport } from "../../drivers/tcp.ts";
import { RelayMux } from "../relay/mux.ts";
import { RelayTransport } from "../relay/transport.ts";
import { Poller, type PollHandler } from "../../drivers/linux/poller.ts";
import { libc } from "../../drivers/linux/libc.ts";
import { encodeVnetHeader, GSO_NONE, VNET_HDR_LEN } from "../../drivers/linux/vnet.ts";
import { AGENT_SEND_BATCH } from "./underlay.ts";

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
/** A round trip through the poller not back within this long (ms) is lost. */
const POLLED_TIMEOUT_MS = 1000;

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

/** The agent's drivers, when the warm-up can make twins of them. */
export interface WarmDrivers {
  /** The agent's TUN. */
  tun: LinuxTun;
  /** The agent's UDP transport. */
  udp: LinuxUdpTransport;
  /** The agent's packet device when it splits the TUN's for its control stack (a mesh member). */
  split?: SplitDevice;
  /**
   * The agent's transport when it wraps the UDP one: UDP and TCP (a {@link DualTransport}), a
   * mesh member's {@link RelayMux} over either.
   */
  wrapped?: Transport;
  /** The agent's poller's `lingerMs` (PollerOptions), for the twins' poller; 0 by default. */
  lingerMs?: number;
}

/**
 * The agent's drivers as {@link WarmDrivers} when the warm-up can make twins of them: a
 * {@link LinuxTun}, alone or split for a control stack, and a {@link LinuxUdpTransport}, alone,
 * beside TCP or under a relay mux (a mesh member's); null otherwise (no warm-up then).
 */
export function warmDriversOf(packets: PacketDevice, transport: Transport): WarmDrivers | null {
  const split = packets instanceof SplitDevice ? packets : undefined;
  const tun = split ? split.inner : packets;
  const udp = udpUnder(transport);
  if (!(tun instanceof LinuxTun) || udp === null) return null;
  return {
    tun,
    udp,
    ...(split ? { split } : {}),
    ...(transport !== udp ? { wrapped: transport } : {}),
  };
}

/** The Linux UDP transport a transport the warm-up can twin is made around; null: none. */
function udpUnder(t: Transport): LinuxUdpTransport | null {
  if (t instanceof LinuxUdpTransport) return t;
  if (t instanceof DualTransport) return t.tcp instanceof TcpTransport ? udpUnder(t.udp) : null;
  if (t instanceof RelayMux) return udpUnder(t.underlay);
  return null;
}

/**
 * A twin of `t` (the agent's transport) around `udp` (a twin of the UDP transport under it): the
 * same classes around it, a TCP side that listens nowhere, a relay side on the agent's relay
 * client (the pair's packets go direct: nothing reaches the client).
 */
async function transportTwin(t: Transport, udp: LinuxUdpTransport): Promise<Transport> {
  if (t instanceof DualTransport) {
    const tcp = await TcpTransport.open({ port: 0, listen: false });
    return new DualTransport(await transportTwin(t.udp, udp), tcp);
  }
  if (t instanceof RelayMux) {
    const under = await transportTwin(t.underlay, udp);
    return new RelayMux(under, new RelayTransport(t.relay.client, under));
  }
  return udp;
}

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;

/** A non-blocking Unix socket pair keeping message bounds, as a TUN does: [twin's, host's]. */
function socketPair(): [number, number] {
  const sv = new Int32Array(2);
  const flags = SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC;
  if (libc().socketpair(AF_UNIX, flags, 0, new Uint8Array(sv.buffer)) !== 0) {
    throw new Error("socketpair failed");
  }
  return [sv[0], sv[1]];
}

const A = new Uint8Array([198, 18, 0, 1]);
const B = new Uint8Array([198, 18, 0, 2]);

/** A throwaway pair of devices on twins of the agent's drivers. */
interface Pair {
  /** Hands one ping-sized packet from one end to the other; false when it did not arrive. */
  one(aToB: boolean, seq: number): boolean;
  /**
   * One round trip through the poller: a request written as the host would, its reply written
   * back by the other host when it arrives, all served by the poller's loop; false when lost.
   */
  polled(seq: number): Promise<boolean>;
  /** Fires both devices' due timers, as the agent's tick does. */
  tick(): void;
  /**
   * A's host sends what a new interface's host sends first: an IPv6 router solicitation to a
   * group, which the device drops (no peer for it). Without it that drop's code first ran in the
   * agent's own first packets, and its optimised send code was thrown away there.
   */
  chatter(): void;
  /** Messages sealed and opened, handshakes completed, group packets dropped, so far. */
  counts(): { sealed: number; opened: number; handshakes: number; chatter: number };
  close(): Promise<void>;
}

/** The pair's keys: made once for both pairs (an X25519 base-point multiplication each). */
interface Keys {
  a: Uint8Array;
  b: Uint8Array;
  aPublic: string;
  bPublic: string;
}

function makeKeys(): Keys {
  const a = generatePrivateKey();
  const b = generatePrivateKey();
  return { a, b, aPublic: encodeKey(publicKeyOf(a)), bPublic: encodeKey(publicKeyOf(b)) };
}

async function openPair(
  suite: CryptoSuite,
  drivers: WarmDrivers,
  poller: Poller,
  keys: Keys,
): Promise<Pair> {
  const c = libc();
  const hosts: number[] = [];
  const closers: (() => Promise<void> | void)[] = [async () => {
    for (const fd of hosts) {
      await poller.remove(fd);
      c.close(fd);
    }
  }];
  const close = async () => {
    for (const f of closers.reverse()) await Promise.resolve(f()).catch(() => {});
  };
  try {
    const udpOptions = {
      port: 0,
      // Loopback on a socket of the agent's family (dual-stack: IPv4 mapped, as its peers'),
      // so the same address code runs.
      hostname: drivers.udp.family === 6 ? "::ffff:127.0.0.1" : "127.0.0.1",
      poller,
      onError: () => {},
      sendBatch: AGENT_SEND_BATCH,
    };
    const ta = await LinuxUdpTransport.open(udpOptions);
    closers.push(() => ta.close());
    const tb = await LinuxUdpTransport.open(udpOptions);
    closers.push(() => tb.close());
    const [fa, ha] = socketPair();
    hosts.push(ha);
    const pa = LinuxTun.twin(drivers.tun, fa, poller);
    closers.push(() => pa.close());
    const [fb, hb] = socketPair();
    hosts.push(hb);
    const pb = LinuxTun.twin(drivers.tun, fb, poller);
    closers.push(() => pb.close());
    // Around them, what the agent's are wrapped in (a mesh member's split and relay mux).
    const twin = drivers.wrapped;
    const xa = twin ? await transportTwin(twin, ta) : ta;
    const xb = twin ? await transportTwin(twin, tb) : tb;
    const da = drivers.split ? drivers.split.twin(pa, { ipv4: "198.18.0.1" }) : pa;
    const db = drivers.split ? drivers.split.twin(pb, { ipv4: "198.18.0.2" }) : pb;
    const onError = () => {};
    // The devices wipe their private keys when closed: copies.
    const a = new Device({
      privateKey: keys.a.slice(),
      suite,
      transport: xa,
      packets: da,
      tickMs: 0,
      onError,
    });
    const b = new Device({
      privateKey: keys.b.slice(),
      suite,
      transport: xb,
      packets: db,
      tickMs: 0,
      onError,
    });
    // The devices close their drivers.
    closers.splice(1, closers.length - 1, () => a.close(), () => b.close());
    let handshakes = 0;
    a.onEvent((e) => {
      if (e.type === "handshake-complete") handshakes++;
    });
    a.setPeer({
      publicKey: keys.bPublic,
      endpoint: `127.0.0.1:${tb.port}`,
      allowedIps: ["198.18.0.2/32"],
    });
    b.setPeer({
      publicKey: keys.aPublic,
      endpoint: `127.0.0.1:${ta.port}`,
      allowedIps: ["198.18.0.1/32"],
    });
    a.start();
    b.start();
    // A ping's size (56 bytes of data), behind the virtio header when the TUN has offloads.
    const vnet = drivers.tun.offload !== 0 ? VNET_HDR_LEN : 0;
    const frame = new Uint8Array(vnet + 128);
    if (vnet > 0) encodeVnetHeader(frame, 0, 0, GSO_NONE, 0, 0, 0, 0);
    const data = new Uint8Array(56);
    const rx = new Uint8Array(vnet + drivers.tun.mtu);
    const solicitation = routerSolicitation(vnet);
    const reply = new Uint8Array(vnet + 128);
    if (vnet > 0) encodeVnetHeader(reply, 0, 0, GSO_NONE, 0, 0, 0, 0);
    // The hosts' ends in the poller too, so a round trip runs on its loop: b's host answers a
    // request as the kernel answers a ping; a's host hears the reply.
    let waiting: ((ok: boolean) => void) | null = null;
    let hostsPolled = false;
    const hostRx = new Uint8Array(vnet + drivers.tun.mtu);
    const hostB: PollHandler = {
      wantsWrite: false,
      onWritable() {},
      onReadable() {
        for (let i = 0; i < 64; i++) {
          const n = c.read(hb, hostRx, BigInt(hostRx.length));
          if (n <= 0) return false;
          // The request's seq (ICMP header at 20 + 6 of an IPv4 packet) comes back in the reply.
          const seq = (hostRx[vnet + 26] << 8) | hostRx[vnet + 27];
          const m = writeIcmpEcho(reply.subarray(vnet), B, A, false, 0x5746, seq, data);
          c.write(hb, reply, BigInt(vnet + m));
        }
        return true;
      },
    };
    const hostA: PollHandler = {
      wantsWrite: false,
      onWritable() {},
      onReadable() {
        let got = false;
        while (c.read(ha, hostRx, BigInt(hostRx.length)) > 0) got = true;
        if (got && waiting !== null) {
          const w = waiting;
          waiting = null;
          w(true);
        }
        return false;
      },
    };
    return {
      one(aToB, seq) {
        const [host, to, fromTun, fromUdp, toUdp] = aToB
          ? [ha, hb, pa, ta, tb]
          : [hb, ha, pb, tb, ta];
        const n = writeIcmpEcho(
          frame.subarray(vnet),
          aToB ? A : B,
          aToB ? B : A,
          aToB,
          0x5746,
          seq,
          data,
        );
        if (c.write(host, frame, BigInt(vnet + n)) !== vnet + n) return false;
        fromTun.onReadable();
        // The handshake takes a few trips the first time; after that one does.
        for (let i = 0; i < 8; i++) {
          toUdp.onReadable();
          fromUdp.onReadable();
          if (c.read(to, rx, BigInt(rx.length)) > 0) return true;
        }
        return false;
      },
      async polled(seq) {
        if (!hostsPolled) {
          hostsPolled = true;
          poller.add(ha, hostA);
          poller.add(hb, hostB);
        }
        const n = writeIcmpEcho(frame.subarray(vnet), A, B, true, 0x5746, seq, data);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const done = new Promise<boolean>((resolve) => {
          waiting = resolve;
          timer = setTimeout(() => {
            waiting = null;
            resolve(false);
          }, POLLED_TIMEOUT_MS);
        });
        if (c.write(ha, frame, BigInt(vnet + n)) !== vnet + n) {
          waiting = null;
          clearTimeout(timer);
          return false;
        }
        // The poller's loop sees the TUN twin readable and takes it from here.
        const ok = await done;
        clearTimeout(timer);
        return ok;
      },
      tick() {
        a.tick();
        b.tick();
      },
      chatter() {
        if (c.write(ha, solicitation, BigInt(solicitation.length)) > 0) pa.onReadable();
      },
      counts() {
        const peers = [...a.peers(), ...b.peers()];
        return {
          sealed: peers.reduce((n, p) => n + p.counters.txPackets, 0),
          opened: peers.reduce((n, p) => n + p.counters.rxPackets, 0),
          handshakes,
          chatter: a.stats.drops.multicast ?? 0,
        };
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** An IPv6 router solicitation to ff02::2 from ::, behind `vnet` bytes of zeroed virtio header. */
function routerSolicitation(vnet: number): Uint8Array {
  const p = new Uint8Array(vnet + 48);
  if (vnet > 0) encodeVnetHeader(p, 0, 0, GSO_NONE, 0, 0, 0, 0);
  const ip = p.subarray(vnet);
  ip[0] = 0x60;
  ip[5] = 8; // payload: the ICMPv6 message
  ip[6] = 58; // ICMPv6
  ip[7] = 255;
  ip[24] = 0xff;
  ip[25] = 0x02;
  ip[39] = 0x02;
  ip[40] = 133; // router solicitation (its checksum unchecked: the device drops it first)
  return p;
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
