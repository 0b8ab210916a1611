/**
 * CPU time per datagram of the leader's control sends, against the data path on the same device
 * and sessions: what a member is told (a view part, a push) leaves the leader through its control
 * stack (drivers/userspace.ts: an IP/UDP packet built around the encoded bytes), the device's
 * plaintext path (route, filter, seal) and the UDP send queue (sendmmsg); a packet of the same
 * size read from the TUN (drivers/testing/offload_packets.ts) takes the device's path alone.
 *
 * One leader device and `members` member devices over loopback UDP (drivers/linux/udp.ts),
 * sessions made first, driven synchronously (no poller). Each round sends, through the leader's
 * control channel, one datagram to every member (`push`: the shape of a change told to all) and
 * a window of datagrams to one member (`window`: the shape of a view's parts), then the same
 * datagrams as TUN reads (`data`); the members then read what came (not measured). CPU time is
 * the process's user + system time (`process.cpuUsage`) around the leader's sends only, so a
 * busy machine's waiting does not count; each figure is the median over `runs` children, and
 * `ratio` (control / data in the same child) is the steady figure on a busy machine.
 *
 *   deno run -A scripts/bench/control_send.ts [--members 64] [--rounds 400] [--runs 3] [--json]
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { Device } from "../../lib/device/device.ts";
import { selectSuite } from "../../lib/crypto/select.ts";
import type { BackendName } from "../../lib/crypto/types.ts";
import { encodeKey, generatePrivateKey, publicKeyOf } from "../../lib/crypto/keys.ts";
import { LinuxUdpTransport } from "../../drivers/linux/udp.ts";
import type { Poller } from "../../drivers/linux/poller.ts";
import { OffloadPackets } from "../../drivers/testing/offload_packets.ts";
import { SplitDevice } from "../../drivers/split.ts";
import { CONTROL_PORT } from "../../lib/members/ports.ts";
import { writeUdpPacket } from "../../lib/net/udp.ts";
import { parseAddress } from "../../lib/net/ip.ts";

/** One child's figures, µs of CPU per datagram. */
export interface ControlSendResult {
  aead: string;
  members: number;
  datagrams: number;
  /** Control sends: a datagram to each member. */
  pushUs: number;
  /** Control sends: a window of parts to one member. */
  windowUs: number;
  /** The same packets as TUN reads (the device's data path): a datagram to each member. */
  dataPushUs: number;
  /** The same packets as TUN reads: the window's. */
  dataWindowUs: number;
  /** Datagrams the members' control stacks received, of those sent. */
  received: number;
  sent: number;
}

/** A view part's size: a packed part (lib/mesh/sync/packed.ts) of 1,200 bytes and its header. */
const PART = 1228;
/** A push's size: a delta of a few records. */
const PUSH = 420;
/** Parts in a window (the protocol's SNAPSHOT_WINDOW). */
const WINDOW = 128;

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

const address = (i: number) => `10.77.${(i + 2) >> 8}.${(i + 2) & 255}`;

async function child(members: number, rounds: number): Promise<ControlSendResult> {
  const suite = selectSuite(Deno.env.get("WEFT_BENCH_CRYPTO") as BackendName | undefined);
  const opts = { port: 0, hostname: "127.0.0.1", poller: idlePoller, onError: console.error };
  const lt = await LinuxUdpTransport.open(opts);
  const lk = generatePrivateKey();
  const tun = new OffloadPackets(1420, true);
  const split = new SplitDevice(tun, { ipv4: "10.77.0.1" }, CONTROL_PORT);
  const leader = new Device({ privateKey: lk, suite, transport: lt, packets: split, tickMs: 0 });
  const ms: { t: LinuxUdpTransport; d: Device; split: SplitDevice; got: number }[] = [];
  for (let i = 0; i < members; i++) {
    const t = await LinuxUdpTransport.open(opts);
    const k = generatePrivateKey();
    const s = new SplitDevice(new OffloadPackets(1420, true), { ipv4: address(i) }, CONTROL_PORT);
    const d = new Device({ privateKey: k, suite, transport: t, packets: s, tickMs: 0 });
    const m = { t, d, split: s, got: 0 };
    s.control.listen(CONTROL_PORT, () => m.got++);
    d.setPeer({
      publicKey: encodeKey(publicKeyOf(lk)),
      endpoint: `127.0.0.1:${lt.port}`,
      allowedIps: ["10.77.0.1/32"],
    });
    leader.setPeer({
      publicKey: encodeKey(publicKeyOf(k)),
      endpoint: `127.0.0.1:${t.port}`,
      allowedIps: [`${address(i)}/32`],
    });
    d.start();
    ms.push(m);
  }
  leader.start();
  const stack = split.control;
  const push = new Uint8Array(PUSH).fill(7);
  const part = new Uint8Array(PART).fill(9);
  const readAll = () => {
    for (let k = 0; k < 4; k++) {
      for (const m of ms) m.t.onReadable();
      lt.onReadable();
    }
  };
  // Sessions: a datagram to each member stages it and starts a handshake.
  for (let i = 0; i < members; i++) stack.send({ address: address(i), port: CONTROL_PORT }, push);
  await Promise.resolve();
  for (let k = 0; k < 8; k++) readAll();
  const missing = ms.filter((m) => m.got === 0).length;
  if (missing > 0) throw new Error(`${missing} of ${members} members have no session`);
  // The same packets as the host would hand the TUN, for the data path.
  const src = parseAddress("10.77.0.1")!;
  const plain = (size: number, i: number) => {
    const dst = parseAddress(address(i))!;
    const buf = new Uint8Array(size);
    const len = writeUdpPacket(buf, src, dst, 40000, 40001, new Uint8Array(size - 28));
    return buf.subarray(0, len);
  };
  const pushPlain = ms.map((_, i) => plain(PUSH, i));
  const partPlain = ms.map((_, i) => plain(PART, i));
  let pushUs = 0, windowUs = 0, dataPushUs = 0, dataWindowUs = 0, pushN = 0, windowN = 0;
  let sent = 0, received = 0;
  for (let r = 0; r < rounds; r++) {
    const measure = r >= Math.ceil(rounds / 8);
    const to = r % members;
    // One datagram to every member.
    let c0 = cpuMicros();
    for (let i = 0; i < members; i++) {
      stack.send({ address: address(i), port: CONTROL_PORT }, push);
    }
    await Promise.resolve();
    let c1 = cpuMicros();
    if (measure) {
      pushUs += c1 - c0;
      pushN += members;
      sent += members;
    }
    readAll();
    // A window of parts to one member.
    c0 = cpuMicros();
    for (let i = 0; i < WINDOW; i++) stack.send({ address: address(to), port: CONTROL_PORT }, part);
    await Promise.resolve();
    c1 = cpuMicros();
    if (measure) {
      windowUs += c1 - c0;
      windowN += WINDOW;
      sent += WINDOW;
    }
    readAll();
    // The same datagrams from the TUN.
    c0 = cpuMicros();
    for (let i = 0; i < members; i++) tun.readPlain(pushPlain[i]);
    tun.endReads();
    c1 = cpuMicros();
    readAll();
    const c2 = cpuMicros();
    for (let i = 0; i < WINDOW; i++) tun.readPlain(partPlain[to]);
    tun.endReads();
    const c3 = cpuMicros();
    if (measure) {
      dataPushUs += c1 - c0;
      dataWindowUs += c3 - c2;
    }
    readAll();
    if (r + 1 === Math.ceil(rounds / 8)) received = -ms.reduce((n, m) => n + m.got, 0);
  }
  received += ms.reduce((n, m) => n + m.got, 0);
  const res: ControlSendResult = {
    aead: leader.aeadName,
    members,
    datagrams: pushN + windowN,
    pushUs: pushUs / pushN,
    windowUs: windowUs / windowN,
    dataPushUs: dataPushUs / pushN,
    dataWindowUs: dataWindowUs / windowN,
    received,
    sent,
  };
  await leader.close();
  for (const m of ms) await m.d.close();
  return res;
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** Runs `runs` children; medians of µs per datagram and of the control / data ratios. */
export async function runControlSendBench(
  members = 64,
  rounds = 400,
  runs = 3,
): Promise<Record<string, number | string> | null> {
  if (Deno.build.os !== "linux") return null;
  const got: ControlSendResult[] = [];
  for (let i = 0; i < runs; i++) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL(import.meta.url).pathname,
        "--child",
        `--members=${members}`,
        `--rounds=${rounds}`,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error("control send bench child failed");
    got.push(JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!));
  }
  return {
    aead: got[0].aead,
    members,
    "push µs/dgram": r3(median(got.map((g) => g.pushUs))),
    "window µs/dgram": r3(median(got.map((g) => g.windowUs))),
    "data push µs/pkt": r3(median(got.map((g) => g.dataPushUs))),
    "data window µs/pkt": r3(median(got.map((g) => g.dataWindowUs))),
    "push/data": r3(median(got.map((g) => g.pushUs / g.dataPushUs))),
    "window/data": r3(median(got.map((g) => g.windowUs / g.dataWindowUs))),
    "received/sent": r3(median(got.map((g) => g.received / g.sent))),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      child: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      members: { type: "string", default: "64" },
      rounds: { type: "string", default: "400" },
      runs: { type: "string", default: "3" },
    },
  });
  const members = Number(values.members);
  const rounds = Number(values.rounds);
  if (values.child) console.log(JSON.stringify(await child(members, rounds)));
  else {
    const res = await runControlSendBench(members, rounds, Number(values.runs));
    if (res === null) console.log("skipped: Linux only");
    else if (values.json) console.log(JSON.stringify(res));
    else console.table(res);
  }
}
