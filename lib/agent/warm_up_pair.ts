/**
 * The warm-up's throwaway pair of devices (lib/agent/warm_up.ts): twins of the agent's drivers, of
 * the same classes and in the same wrappers, and the host's side of each TUN twin (a Unix socket
 * pair's other end) that writes the pings and reads what the device writes.
 * @module
 */

import type { PacketDevice, Transport } from "../io/driver.ts";
import type { CryptoSuite } from "../crypto/types.ts";
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
import type { Poller, PollHandler } from "../../drivers/linux/poller.ts";
import { libc } from "../../drivers/linux/libc.ts";
import { encodeVnetHeader, GSO_NONE, VNET_HDR_LEN } from "../../drivers/linux/vnet.ts";
import { AGENT_SEND_BATCH } from "./underlay.ts";

/** A round trip through the poller not back within this long (ms) is lost. */
const POLLED_TIMEOUT_MS = 1000;

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
export interface Pair {
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
export interface Keys {
  a: Uint8Array;
  b: Uint8Array;
  aPublic: string;
  bPublic: string;
}

export function makeKeys(): Keys {
  const a = generatePrivateKey();
  const b = generatePrivateKey();
  return { a, b, aPublic: encodeKey(publicKeyOf(a)), bPublic: encodeKey(publicKeyOf(b)) };
}

export async function openPair(
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
