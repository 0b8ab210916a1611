import assert from "node:assert/strict";
import {
  FLOW_FRAGMENT,
  FLOW_ICMP_ERROR,
  FLOW_MALFORMED,
  FLOW_OK,
  FlowInfo,
  ICMP_KIND_ECHO_REPLY,
  ICMP_KIND_ECHO_REQUEST,
  ICMP_KIND_ERROR,
  ICMP_KIND_OTHER,
  parseFlow,
  RULE_PROTO_ICMP,
  RULE_PROTO_OTHER,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
} from "./packet.ts";
import { PROTO_ICMPV6, PROTO_TCP, PROTO_UDP } from "../net/ip.ts";
import {
  ACK,
  FIN,
  fragmentV4,
  icmpError,
  ping,
  rawIp,
  RST,
  SYN,
  tcp,
  udp,
} from "../../tests/fixtures/policy_packets.ts";

function parse(pkt: Uint8Array): { r: number; f: FlowInfo; inner: FlowInfo } {
  const f = new FlowInfo();
  const inner = new FlowInfo();
  return { r: parseFlow(pkt, f, inner), f, inner };
}

const W = (x: number) => x | 0;

Deno.test("TCP flag constants match the wire bits", () => {
  assert.deepEqual([TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK], [FIN, SYN, RST, ACK]);
});

Deno.test("IPv4 TCP: addresses as words, ports, flags", () => {
  const { r, f } = parse(tcp("10.0.0.1", "192.168.1.2", 40000, 443, SYN | ACK));
  assert.equal(r, FLOW_OK);
  assert.equal(f.family, 4);
  assert.equal(f.proto, PROTO_TCP);
  assert.equal(f.ruleProto, PROTO_TCP);
  assert.equal(f.sport, 40000);
  assert.equal(f.dport, 443);
  assert.equal(f.tcpFlags, SYN | ACK);
  assert.equal(f.icmpKind, 0);
  assert.deepEqual(Array.from(f.addr), [0x0a000001, 0, 0, 0, W(0xc0a80102), 0, 0, 0]);
});

Deno.test("IPv6 UDP: all eight address words", () => {
  const { r, f } = parse(udp("fd00::1", "fd00:1:2:3:4:5:6:7", 53, 5353));
  assert.equal(r, FLOW_OK);
  assert.equal(f.family, 6);
  assert.equal(f.ruleProto, PROTO_UDP);
  assert.deepEqual([f.sport, f.dport, f.tcpFlags], [53, 5353, 0]);
  assert.deepEqual(Array.from(f.addr), [
    W(0xfd000000),
    0,
    0,
    1,
    W(0xfd000001),
    0x00020003,
    0x00040005,
    0x00060007,
  ]);
});

Deno.test("ICMP echo: the id is the source port of a request, the destination of a reply", () => {
  for (const [src, dst] of [["10.0.0.1", "10.0.0.2"], ["fd00::1", "fd00::2"]]) {
    const req = parse(ping(src, dst, 0x1234, true));
    assert.equal(req.r, FLOW_OK);
    assert.equal(req.f.ruleProto, RULE_PROTO_ICMP);
    assert.equal(req.f.icmpKind, ICMP_KIND_ECHO_REQUEST);
    assert.deepEqual([req.f.sport, req.f.dport], [0x1234, 0]);
    const rep = parse(ping(dst, src, 0x1234, false));
    assert.equal(rep.f.icmpKind, ICMP_KIND_ECHO_REPLY);
    assert.deepEqual([rep.f.sport, rep.f.dport], [0, 0x1234]);
  }
  // Router advertisement (v6 134) and timestamp (v4 13): other ICMP, no ids.
  const ra = rawIp("fd00::1", "fd00::2", PROTO_ICMPV6, 8);
  ra[40] = 134;
  ra[44] = 0x55;
  assert.equal(parse(ra).f.icmpKind, ICMP_KIND_OTHER);
  assert.equal(parse(ra).f.sport, 0);
  const ts = rawIp("10.0.0.1", "10.0.0.2", 1, 8);
  ts[20] = 13;
  assert.equal(parse(ts).f.icmpKind, ICMP_KIND_OTHER);
  // ICMPv6's number inside IPv4 is not ICMP.
  assert.equal(parse(rawIp("10.0.0.1", "10.0.0.2", PROTO_ICMPV6, 8)).f.ruleProto, RULE_PROTO_OTHER);
});

Deno.test("other protocols: OK with ruleProto OTHER and no ports", () => {
  const { r, f } = parse(rawIp("10.0.0.1", "10.0.0.2", 47, 4)); // GRE
  assert.equal(r, FLOW_OK);
  assert.equal(f.proto, 47);
  assert.equal(f.ruleProto, RULE_PROTO_OTHER);
  assert.deepEqual([f.sport, f.dport], [0, 0]);
});

Deno.test("the record is fully overwritten: nothing stale from the previous packet", () => {
  const f = new FlowInfo();
  const inner = new FlowInfo();
  parseFlow(tcp("fd00::1", "fd00::2", 1, 2, SYN), f, inner);
  assert.equal(parseFlow(udp("10.0.0.1", "10.0.0.2", 3, 4), f, inner), FLOW_OK);
  assert.deepEqual(Array.from(f.addr), [0x0a000001, 0, 0, 0, 0x0a000002, 0, 0, 0]);
  assert.equal(f.tcpFlags, 0);
  parseFlow(ping("10.0.0.1", "10.0.0.2", 9), f, inner);
  assert.equal(parseFlow(rawIp("10.0.0.1", "10.0.0.2", 50), f, inner), FLOW_OK);
  assert.deepEqual([f.icmpKind, f.sport], [0, 0]);
});

Deno.test("malformed: empty, bad version, short headers, lengths past the data", () => {
  assert.equal(parse(new Uint8Array()).r, FLOW_MALFORMED);
  const good = tcp("10.0.0.1", "10.0.0.2", 1, 2, SYN);
  const v5 = good.slice();
  v5[0] = 0x55;
  assert.equal(parse(v5).r, FLOW_MALFORMED);
  assert.equal(parse(good.subarray(0, 19)).r, FLOW_MALFORMED);
  const ihl = good.slice();
  ihl[0] = 0x44; // IHL 16 bytes
  assert.equal(parse(ihl).r, FLOW_MALFORMED);
  const total = good.slice();
  total[3] += 1; // total length one past the data
  assert.equal(parse(total).r, FLOW_MALFORMED);
  // A TCP header cut short, and a data offset under 20 or past the segment.
  assert.equal(parse(tcp("10.0.0.1", "10.0.0.2", 1, 2, SYN).subarray(0, 39)).r, FLOW_MALFORMED);
  const doff = good.slice();
  doff[32] = 4 << 4;
  assert.equal(parse(doff).r, FLOW_MALFORMED);
  doff[32] = 6 << 4;
  assert.equal(parse(doff).r, FLOW_MALFORMED);
  // UDP and ICMP need 8 bytes.
  assert.equal(parse(rawIp("10.0.0.1", "10.0.0.2", PROTO_UDP, 7)).r, FLOW_MALFORMED);
  assert.equal(parse(rawIp("fd00::1", "fd00::2", PROTO_ICMPV6, 7)).r, FLOW_MALFORMED);
  // IPv6: under 40 bytes, or a payload length past the data.
  const six = udp("fd00::1", "fd00::2", 1, 2);
  assert.equal(parse(six.subarray(0, 39)).r, FLOW_MALFORMED);
  assert.equal(parse(six.subarray(0, six.length - 1)).r, FLOW_MALFORMED);
  // Trailing bytes past the IP length are ignored (link padding).
  assert.equal(parse(Uint8Array.from([...good, 0, 0, 0])).r, FLOW_OK);
});

Deno.test("IPv4 fragments: later ones are FRAGMENT without ports; offset 8 into TCP is malformed", () => {
  const seg = tcp("10.0.0.1", "10.0.0.2", 1000, 80, SYN, 40);
  const first = parse(fragmentV4(seg, 0, true));
  assert.equal(first.r, FLOW_OK);
  assert.equal(first.f.dport, 80);
  const later = parse(fragmentV4(seg, 3, false));
  assert.equal(later.r, FLOW_FRAGMENT);
  assert.equal(later.f.ruleProto, PROTO_TCP);
  assert.deepEqual([later.f.sport, later.f.dport, later.f.tcpFlags], [0, 0, 0]);
  assert.equal(later.f.addr[4], 0x0a000002);
  assert.equal(parse(fragmentV4(seg, 1, true)).r, FLOW_MALFORMED);
  // Offset 1 is fine for UDP; a later ICMP fragment is OTHER.
  const d = parse(fragmentV4(udp("10.0.0.1", "10.0.0.2", 1, 2), 1, false));
  assert.equal(d.r, FLOW_FRAGMENT);
  assert.equal(d.f.ruleProto, PROTO_UDP);
  const p = parse(fragmentV4(ping("10.0.0.1", "10.0.0.2", 5), 2, false));
  assert.equal(p.r, FLOW_FRAGMENT);
  assert.equal(p.f.ruleProto, RULE_PROTO_OTHER);
});

/** `inner` (a whole IPv6 packet) with extension headers `exts` ([type, bytes]) inserted. */
function withExtensions(pkt: Uint8Array, exts: [number, number[]][]): Uint8Array {
  const body: number[] = [];
  let next = pkt[6];
  for (let i = exts.length - 1; i >= 0; i--) {
    const [type, bytes] = exts[i];
    body.unshift(next, ...bytes.slice(1));
    next = type;
  }
  const out = new Uint8Array(pkt.length + body.length);
  out.set(pkt.subarray(0, 40));
  out.set(body, 40);
  out.set(pkt.subarray(40), 40 + body.length);
  out[6] = next;
  const plen = out.length - 40;
  out[4] = plen >> 8;
  out[5] = plen & 0xff;
  return out;
}

const HBH: [number, number[]] = [0, [0, 0, 1, 4, 0, 0, 0, 0]]; // 8 bytes, PadN
const DST16: [number, number[]] = [60, [0, 1, 1, 12, ...new Array(12).fill(0)]]; // 16 bytes
const AH: [number, number[]] = [51, [0, 1, ...new Array(10).fill(0)]]; // (1 + 2) * 4 = 12 bytes
const frag = (offset8: number, more: boolean): [number, number[]] => [44, [
  0,
  0,
  (offset8 << 3) >> 8,
  ((offset8 << 3) & 0xff) | (more ? 1 : 0),
  0,
  0,
  0,
  1,
]];

Deno.test("IPv6 extension headers: walked to the transport header", () => {
  const seg = tcp("fd00::1", "fd00::2", 2222, 22, SYN);
  const r = parse(withExtensions(seg, [HBH, DST16, AH]));
  assert.equal(r.r, FLOW_OK);
  assert.equal(r.f.proto, PROTO_TCP);
  assert.deepEqual([r.f.sport, r.f.dport, r.f.tcpFlags], [2222, 22, SYN]);
  // A first fragment is read through; a later one is FRAGMENT; offset 8 into TCP is malformed.
  const first = parse(withExtensions(seg, [frag(0, true)]));
  assert.equal(first.r, FLOW_OK);
  assert.equal(first.f.dport, 22);
  const u = udp("fd00::1", "fd00::2", 1, 2);
  const later = parse(withExtensions(u, [frag(5, false)]));
  assert.equal(later.r, FLOW_FRAGMENT);
  assert.equal(later.f.proto, PROTO_UDP);
  assert.equal(later.f.sport, 0);
  assert.equal(parse(withExtensions(seg, [frag(1, true)])).r, FLOW_MALFORMED);
});

Deno.test("IPv6 extension headers: misplaced, too many, or past the payload are malformed", () => {
  const u = udp("fd00::1", "fd00::2", 1, 2);
  // Hop-by-hop only first.
  assert.equal(parse(withExtensions(u, [DST16, HBH])).r, FLOW_MALFORMED);
  // Eight are walked; a ninth is too many.
  const eight = Array.from({ length: 8 }, () => DST16);
  assert.equal(parse(withExtensions(u, eight)).r, FLOW_OK);
  assert.equal(parse(withExtensions(u, [...eight, DST16])).r, FLOW_MALFORMED);
  // A header whose length runs past the payload.
  const long = withExtensions(u, [DST16]);
  long[41] = 200;
  assert.equal(parse(long).r, FLOW_MALFORMED);
  // A header that does not fit at all.
  const cut = rawIp("fd00::1", "fd00::2", 60, 4);
  assert.equal(parse(cut).r, FLOW_MALFORMED);
});

Deno.test("ICMP errors: the quoted flow goes to inner when we could have sent it", () => {
  // We (10.0.0.1) sent UDP to 10.0.0.9; a router 192.0.2.1 says it is too big.
  const sent = udp("10.0.0.1", "10.0.0.9", 5000, 53);
  const err = parse(icmpError("192.0.2.1", "10.0.0.1", sent));
  assert.equal(err.r, FLOW_ICMP_ERROR);
  assert.equal(err.f.icmpKind, ICMP_KIND_ERROR);
  assert.equal(err.f.ruleProto, RULE_PROTO_ICMP);
  assert.equal(err.inner.family, 4);
  assert.equal(err.inner.ruleProto, PROTO_UDP);
  assert.deepEqual([err.inner.sport, err.inner.dport], [5000, 53]);
  assert.deepEqual(Array.from(err.inner.addr), [0x0a000001, 0, 0, 0, 0x0a000009, 0, 0, 0]);
  // A quoted TCP header of only 8 bytes still gives the ports (no flags are read).
  const seg = tcp("fd00::1", "fd00::9", 4000, 443, SYN);
  const six = parse(icmpError("fd00::ff", "fd00::1", seg));
  assert.equal(six.r, FLOW_ICMP_ERROR);
  assert.deepEqual([six.inner.family, six.inner.sport, six.inner.dport], [6, 4000, 443]);
  assert.equal(six.inner.tcpFlags, 0);
  // A quoted echo request: its id as the inner source port.
  const echo = parse(icmpError("192.0.2.1", "10.0.0.1", ping("10.0.0.1", "10.0.0.9", 77)));
  assert.equal(echo.r, FLOW_ICMP_ERROR);
  assert.equal(echo.inner.sport, 77);
});

Deno.test("ICMP errors that quote nothing usable are plain ICMP (FLOW_OK)", () => {
  // The quoted packet's source is not the error's destination: not ours.
  const other = udp("10.0.0.5", "10.0.0.9", 1, 2);
  assert.equal(parse(icmpError("192.0.2.1", "10.0.0.1", other)).r, FLOW_OK);
  // A quoted later fragment, an unknown protocol, an ICMP error quoting an error, too short.
  const sent = udp("10.0.0.1", "10.0.0.9", 1, 2);
  assert.equal(parse(icmpError("192.0.2.1", "10.0.0.1", fragmentV4(sent, 2, false))).r, FLOW_OK);
  assert.equal(
    parse(icmpError("192.0.2.1", "10.0.0.1", rawIp("10.0.0.1", "10.0.0.9", 47))).r,
    FLOW_OK,
  );
  const nested = icmpError("10.0.0.9", "10.0.0.1", udp("10.0.0.1", "10.0.0.9", 1, 2));
  assert.equal(parse(icmpError("192.0.2.1", "10.0.0.1", nested)).r, FLOW_OK);
  assert.equal(parse(icmpError("192.0.2.1", "10.0.0.1", sent.subarray(0, 20))).r, FLOW_OK);
  // IPv6 error quoting an IPv4 packet.
  assert.equal(parse(icmpError("fd00::ff", "fd00::1", sent)).r, FLOW_OK);
});

Deno.test("FlowInfo.copyFrom copies every field, addresses by value", () => {
  const a = parse(tcp("fd00::1", "fd00::2", 7, 8, FIN | ACK)).f;
  const b = new FlowInfo();
  b.copyFrom(a);
  assert.deepEqual(b, a);
  assert.notEqual(b.addr, a.addr);
  a.addr[0] = 0;
  assert.equal(b.addr[0], W(0xfd000000));
});
