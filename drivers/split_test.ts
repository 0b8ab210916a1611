import assert from "node:assert/strict";
import { SplitDevice } from "./split.ts";
import { newDeviceStats } from "./shared/stats.ts";
import { ControlTraffic } from "../lib/net/control_traffic.ts";
import type { PacketDevice, PacketSink } from "../lib/io/driver.ts";
import { buildUdpPacket } from "../lib/net/udp.ts";
import { parseAddress, PROTO_TCP } from "../lib/net/ip.ts";
import { writeIpHeader } from "../lib/net/packet.ts";
import { buildIcmpEcho, newIcmpInfo, parseIcmpPacket } from "../lib/net/icmp.ts";

const PORT = 51999;

function udp(src: string, dst: string, sport: number, dport: number, text = "x"): Uint8Array {
  return buildUdpPacket(
    parseAddress(src)!,
    parseAddress(dst)!,
    sport,
    dport,
    new TextEncoder().encode(text),
  );
}

function tcp(src: string, dst: string, sport: number, dport: number): Uint8Array {
  const s = parseAddress(src)!;
  const hl = s.length === 4 ? 20 : 40;
  const out = new Uint8Array(hl + 20);
  writeIpHeader(out, s, parseAddress(dst)!, PROTO_TCP, 20);
  out[hl] = sport >> 8;
  out[hl + 1] = sport & 0xff;
  out[hl + 2] = dport >> 8;
  out[hl + 3] = dport & 0xff;
  out[hl + 12] = 5 << 4;
  return out;
}

class Inner implements PacketDevice {
  readonly name = "tun7";
  readonly mtu = 1380;
  written: Uint8Array[] = [];
  sink: PacketSink | null = null;
  closed = 0;
  start(sink: PacketSink): void {
    this.sink = sink;
  }
  write(data: Uint8Array): void {
    this.written.push(data.slice());
  }
  close(): Promise<void> {
    this.closed++;
    return Promise.resolve();
  }
}

Deno.test("SplitDevice: the inner device's name and MTU; the control stack has the same MTU", () => {
  const inner = new Inner();
  const d = new SplitDevice(inner, { ipv4: "10.0.0.1" }, PORT);
  assert.equal(d.name, "tun7");
  assert.equal(d.mtu, 1380);
  assert.equal(d.inner, inner);
  assert.equal(d.control.mtu, 1380);
});

Deno.test("SplitDevice.write: UDP to our address on the control port goes to the stack", () => {
  const inner = new Inner();
  const d = new SplitDevice(inner, { ipv4: "10.0.0.1", ipv6: "fd00::1" }, PORT);
  const got: string[] = [];
  d.control.listen(PORT, (data, from) => {
    got.push(`${new TextDecoder().decode(data)} from ${from.address}:${from.port}`);
  });
  d.write(udp("10.0.0.2", "10.0.0.1", 4000, PORT, "v4"));
  d.write(udp("fd00::2", "fd00::1", 4001, PORT, "v6"));
  assert.deepEqual(got, ["v4 from 10.0.0.2:4000", "v6 from fd00::2:4001"]);
  assert.equal(inner.written.length, 0);
  // Everything else goes to the inner device: another port, another address (a routed
  // destination), TCP on the control port, a control *source* port, non-IP bytes.
  const others = [
    udp("10.0.0.2", "10.0.0.1", 4000, PORT + 1),
    udp("10.0.0.2", "10.0.0.9", 4000, PORT),
    udp("fd00::2", "fd00::9", 4000, PORT),
    tcp("10.0.0.2", "10.0.0.1", 4000, PORT),
    tcp("fd00::2", "fd00::1", 4000, PORT),
    udp("10.0.0.2", "10.0.0.1", PORT, 4000),
    Uint8Array.of(0x10, 0, 0),
  ];
  for (const p of others) d.write(p);
  assert.deepEqual(inner.written, others);
  assert.equal(got.length, 2);
});

Deno.test("SplitDevice.write: three ports are set aside; the others still go inside", () => {
  const inner = new Inner();
  const d = new SplitDevice(inner, { ipv4: "10.0.0.1" }, [PORT, PORT + 2, PORT + 3]);
  const got: number[] = [];
  for (const p of [PORT, PORT + 2, PORT + 3]) d.control.listen(p, () => got.push(p));
  d.write(udp("10.0.0.2", "10.0.0.1", 4000, PORT));
  d.write(udp("10.0.0.2", "10.0.0.1", 4000, PORT + 2));
  d.write(udp("10.0.0.2", "10.0.0.1", 4000, PORT + 3));
  const other = udp("10.0.0.2", "10.0.0.1", 4000, PORT + 1);
  d.write(other);
  assert.deepEqual(got, [PORT, PORT + 2, PORT + 3]);
  assert.deepEqual(inner.written, [other]);
  assert.throws(() => new SplitDevice(new Inner(), { ipv4: "10.0.0.1" }, []), RangeError);
  assert.throws(
    () => new SplitDevice(new Inner(), { ipv4: "10.0.0.1" }, [1, 2, 3, 4]),
    RangeError,
  );
});

Deno.test("SplitDevice.flush: ends the inner device's batch, when it has one", () => {
  let flushes = 0;
  const inner = Object.assign(new Inner(), { flush: () => void flushes++ });
  const d = new SplitDevice(inner, { ipv4: "10.0.0.1" }, PORT);
  d.write(udp("10.0.0.2", "10.0.0.1", 4000, PORT + 1));
  d.flush();
  assert.equal(flushes, 1);
  assert.equal(inner.written.length, 1);
  // An inner device without flush: nothing to do.
  new SplitDevice(new Inner(), { ipv4: "10.0.0.1" }, PORT).flush();
});

Deno.test("SplitDevice.write: without an address of a family, its control packets go inside", () => {
  const inner = new Inner();
  const d = new SplitDevice(inner, { ipv4: "10.0.0.1" }, PORT);
  const p = udp("fd00::2", "fd00::1", 4000, PORT);
  d.write(p);
  assert.deepEqual(inner.written, [p]);
  const inner6 = new Inner();
  const d6 = new SplitDevice(inner6, { ipv6: "fd00::1" }, PORT);
  const q = udp("10.0.0.2", "10.0.0.1", 4000, PORT);
  d6.write(q);
  assert.deepEqual(inner6.written, [q]);
});

Deno.test("SplitDevice.start: both sides send into the one sink; close closes both", async () => {
  const inner = new Inner();
  const d = new SplitDevice(inner, { ipv4: "10.0.0.1" }, PORT);
  const packets: Uint8Array[] = [];
  let got!: () => void;
  const arrived = new Promise<void>((r) => (got = r));
  const sink: PacketSink = {
    packet: (p) => {
      packets.push(p.slice());
      got();
    },
    flush: () => {},
  };
  d.start(sink);
  assert.equal(inner.sink, sink);
  const sock = d.control.listen(PORT, () => {});
  sock.send({ address: "10.0.0.2", port: 7000 }, new TextEncoder().encode("sync"));
  await arrived;
  assert.equal(packets.length, 1);
  assert.equal(
    new ControlTraffic({ ipv4: "10.0.0.1" }, PORT).fromSelf(packets[0], packets[0].length),
    true,
  );
  assert.deepEqual(Array.from(packets[0].subarray(16, 20)), [10, 0, 0, 2]);
  await d.close();
  assert.equal(inner.closed, 1);
  assert.throws(() => d.control.listen(0, () => {}), /after close/);
});

Deno.test("SplitDevice.close: settles even when the inner device fails to close", async () => {
  const inner = new Inner();
  inner.close = () => {
    inner.closed++;
    return Promise.reject(new Error("inner failed"));
  };
  const d = new SplitDevice(inner, { ipv4: "10.0.0.1" }, PORT);
  await d.close(); // settles, does not reject
  assert.equal(inner.closed, 1);
});

Deno.test("SplitDevice.reserve: the inner device's slots; control packets built there go to the stack", () => {
  const slot = new Uint8Array(1500);
  const committed: number[] = [];
  const inner = Object.assign(new Inner(), {
    reserve: (max: number) => (max <= slot.length ? slot : null),
    commit: (length: number) => void committed.push(length),
  });
  const d = new SplitDevice(inner, { ipv4: "10.0.0.1" }, PORT);
  const got: string[] = [];
  d.control.listen(PORT, (data) => void got.push(new TextDecoder().decode(data)));
  // Ordinary traffic: committed to the inner device.
  const data = udp("10.0.0.2", "10.0.0.1", 4000, PORT + 1, "data");
  assert.equal(d.reserve(1420), slot);
  slot.set(data);
  d.commit(data.length);
  assert.deepEqual(committed, [data.length]);
  // Control traffic: to the stack (the slot's padding beyond the length is not part of it).
  const ctl = udp("10.0.0.2", "10.0.0.1", 4000, PORT, "sync");
  d.reserve(1420);
  slot.fill(0xee).set(ctl);
  d.commit(ctl.length);
  assert.deepEqual(got, ["sync"]);
  assert.deepEqual(committed, [data.length]);
  // Nothing lent: null; a commit without a reservation (or after a write or flush) throws.
  assert.equal(d.reserve(1501), null);
  assert.throws(() => d.commit(10), /without a reserved slot/);
  d.reserve(100);
  d.write(data);
  assert.throws(() => d.commit(10), /without a reserved slot/);
  d.reserve(100);
  d.flush();
  assert.throws(() => d.commit(10), /without a reserved slot/);
  // An inner device that lends nothing: reserve says null, and the device writes.
  assert.equal(new SplitDevice(new Inner(), { ipv4: "10.0.0.1" }, PORT).reserve(100), null);
});

Deno.test("SplitDevice.driverStats: the inner device's report, null when it keeps none", async () => {
  const report = { kind: "tun" as const, counters: newDeviceStats(), offloads: [], offload: null };
  const plain: PacketDevice = {
    name: "plain",
    mtu: 1420,
    start: () => {},
    write: () => {},
    close: () => Promise.resolve(),
  };
  const reporting: PacketDevice = { ...plain, driverStats: () => report };
  const a = new SplitDevice(plain, { ipv4: "10.0.0.1" }, PORT);
  const b = new SplitDevice(reporting, { ipv4: "10.0.0.1" }, PORT);
  try {
    assert.equal(a.driverStats(), null);
    assert.equal(b.driverStats(), report);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("SplitDevice: the replies to the control stack's own pings go to it, only while pending; the TUN gets the rest", async () => {
  const inner = new Inner();
  const d = new SplitDevice(inner, { ipv4: "10.0.0.1" }, PORT);
  const out: Uint8Array[] = [];
  let got!: () => void;
  let arrived = new Promise<void>((r) => (got = r));
  d.start({ packet: (p) => (out.push(p.slice()), got()), flush: () => {} });
  const icmp = newIcmpInfo();
  // The reply the peer's kernel sends to an echo request the stack sent.
  const replyTo = (req: Uint8Array, id?: number) => {
    const e = parseIcmpPacket(req, undefined, icmp)!;
    const data = req.subarray(e.dataOffset, e.dataOffset + e.dataLength);
    return buildIcmpEcho(
      req.subarray(16, 20),
      req.subarray(12, 16),
      false,
      id ?? e.id,
      e.seq,
      data,
    );
  };
  const rtt = d.control.ping("10.0.0.2", { timeoutMs: 60_000 });
  await arrived;
  assert.equal(d.control.pingsPending, 1);
  const request = out[0];
  const stray = replyTo(request, (parseIcmpPacket(request)!.id + 1) & 0xffff);
  d.write(stray); // another program's echo id: the kernel's
  assert.equal(inner.written.length, 1);
  d.write(replyTo(request));
  assert.equal(typeof await rtt, "number");
  assert.equal(inner.written.length, 1, "the reply did not reach the TUN");
  assert.equal(d.control.pingsPending, 0);
  // Answered already: nothing pending, so a repeat of it is the kernel's.
  d.write(replyTo(request));
  assert.equal(inner.written.length, 2);

  // The same through a slot the TUN lends (reserve/commit).
  arrived = new Promise<void>((r) => (got = r));
  const slot = new Uint8Array(1500);
  const committed: number[] = [];
  Object.assign(inner, {
    reserve: () => slot,
    commit: (length: number) => void committed.push(length),
  });
  const second = d.control.ping("10.0.0.2", { timeoutMs: 60_000 });
  await arrived;
  const reply = replyTo(out[1]);
  d.reserve(1500)!.set(reply);
  d.commit(reply.length);
  assert.equal(typeof await second, "number");
  assert.deepEqual(committed, []);
  await d.close();
});
