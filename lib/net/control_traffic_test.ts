import assert from "node:assert/strict";
import { ControlTraffic } from "./control_traffic.ts";
import { buildUdpPacket } from "./udp.ts";
import { parseAddress, PROTO_TCP } from "./ip.ts";
import { writeIpHeader } from "./packet.ts";

const PORT = 51999;

function udp(src: string, dst: string, sport: number, dport: number): Uint8Array {
  return buildUdpPacket(parseAddress(src)!, parseAddress(dst)!, sport, dport, Uint8Array.of(1));
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

const own = new ControlTraffic({ ipv4: "10.0.0.1", ipv6: "fd00::1" }, PORT);
const to = (p: Uint8Array) => own.toSelf(p, p.length);
const from = (p: Uint8Array) => own.fromSelf(p, p.length);

Deno.test("ControlTraffic: UDP to the node's address and port, IPv4 and IPv6", () => {
  assert.equal(to(udp("10.0.0.2", "10.0.0.1", 1000, PORT)), true);
  assert.equal(to(udp("fd00::2", "fd00::1", 1000, PORT)), true);
  // The port as the source is not enough, nor another address, nor another port.
  assert.equal(to(udp("10.0.0.2", "10.0.0.1", PORT, 1000)), false);
  assert.equal(to(udp("fd00::2", "fd00::1", PORT, 1000)), false);
  assert.equal(to(udp("10.0.0.2", "10.0.0.3", 1000, PORT)), false);
  assert.equal(to(udp("fd00::2", "fd00::3", 1000, PORT)), false);
  assert.equal(to(udp("10.0.0.2", "10.0.0.1", 1000, PORT + 1)), false);
  assert.equal(to(tcp("10.0.0.2", "10.0.0.1", 1000, PORT)), false);
  assert.equal(to(tcp("fd00::2", "fd00::1", 1000, PORT)), false);
});

Deno.test("ControlTraffic: UDP from the node's address and port, IPv4 and IPv6", () => {
  assert.equal(from(udp("10.0.0.1", "10.0.0.2", PORT, 1000)), true);
  assert.equal(from(udp("fd00::1", "fd00::2", PORT, 1000)), true);
  assert.equal(from(udp("10.0.0.1", "10.0.0.2", 1000, PORT)), false);
  assert.equal(from(udp("10.0.0.3", "10.0.0.2", PORT, 1000)), false);
  assert.equal(from(udp("fd00::3", "fd00::2", PORT, 1000)), false);
  assert.equal(from(tcp("10.0.0.1", "10.0.0.2", PORT, 1000)), false);
});

Deno.test("ControlTraffic: short packets, options, a family without an address, two ports", () => {
  assert.equal(to(udp("10.0.0.2", "10.0.0.1", 1, PORT).subarray(0, 27)), false);
  assert.equal(to(udp("fd00::2", "fd00::1", 1, PORT).subarray(0, 47)), false);
  assert.equal(to(Uint8Array.of(0x00, 1, 2)), false);
  assert.equal(own.toSelf(new Uint8Array(0), 0), false);
  // The length given counts, not the buffer's: a slot holding a shorter packet.
  const p = udp("10.0.0.2", "10.0.0.1", 1, PORT);
  assert.equal(own.toSelf(p, 27), false);
  // An IPv4 header with options: the ports are found after it.
  const opts = new Uint8Array(24 + 8);
  opts[0] = 0x46;
  opts[9] = 17;
  opts.set([10, 0, 0, 1], 16);
  opts[24 + 2] = PORT >> 8;
  opts[24 + 3] = PORT & 0xff;
  assert.equal(to(opts), true);
  const v4only = new ControlTraffic({ ipv4: "10.0.0.1" }, [PORT, PORT + 5]);
  assert.equal(v4only.toSelf(udp("fd00::2", "fd00::1", 1, PORT), 49), false);
  const second = udp("10.0.0.2", "10.0.0.1", 1, PORT + 5);
  assert.equal(v4only.toSelf(second, second.length), true);
  const three = new ControlTraffic({ ipv4: "10.0.0.1" }, [PORT, PORT + 5, PORT + 7]);
  const third = udp("10.0.0.2", "10.0.0.1", 1, PORT + 7);
  assert.equal(three.toSelf(third, third.length), true);
  assert.equal(three.toSelf(second, second.length), true);
  assert.throws(() => new ControlTraffic({}, []), RangeError);
  assert.throws(() => new ControlTraffic({}, [1, 2, 3, 4]), RangeError);
  assert.throws(() => new ControlTraffic({ ipv4: "fd00::1" }, PORT), RangeError);
});
