/**
 * Crafted packets and a small mesh for the policy tests: TCP with flags, UDP, ICMP echo and
 * errors, fragments, over IPv4 and IPv6.
 * @module
 */

import type { Member, MembershipView } from "../../lib/members/member.ts";
import { parseAddress, PROTO_TCP } from "../../lib/net/ip.ts";
import { writeIpHeader } from "../../lib/net/packet.ts";
import { buildUdpPacket } from "../../lib/net/udp.ts";
import { buildIcmpEcho } from "../../lib/net/icmp.ts";

/** TCP flag bits. */
export const FIN = 0x01;
/** SYN. */
export const SYN = 0x02;
/** RST. */
export const RST = 0x04;
/** PSH. */
export const PSH = 0x08;
/** ACK. */
export const ACK = 0x10;

function addr(text: string): Uint8Array {
  const a = parseAddress(text);
  if (!a) throw new Error(`bad address ${text}`);
  return a;
}

/** An IPv4 or IPv6 TCP segment with `flags` and `payload` bytes of data. */
export function tcp(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  flags: number,
  payload = 0,
): Uint8Array {
  const s = addr(src);
  const d = addr(dst);
  const hl = s.length === 4 ? 20 : 40;
  const out = new Uint8Array(hl + 20 + payload);
  writeIpHeader(out, s, d, PROTO_TCP, 20 + payload);
  const o = hl;
  out[o] = sport >> 8;
  out[o + 1] = sport & 0xff;
  out[o + 2] = dport >> 8;
  out[o + 3] = dport & 0xff;
  out[o + 12] = 5 << 4;
  out[o + 13] = flags;
  out[o + 14] = 0xff;
  out[o + 15] = 0xff;
  return out;
}

/** An IPv4 or IPv6 UDP datagram. */
export function udp(src: string, dst: string, sport: number, dport: number): Uint8Array {
  return buildUdpPacket(addr(src), addr(dst), sport, dport, new TextEncoder().encode("weft"));
}

/** An ICMP(v6) echo request or reply. */
export function ping(src: string, dst: string, id: number, request = true, seq = 1): Uint8Array {
  return buildIcmpEcho(addr(src), addr(dst), request, id, seq, new Uint8Array(8));
}

/**
 * An ICMP(v6) error from `src` to `dst` quoting `quoted` (the start of a packet `dst` sent):
 * IPv4 type 3 code 4 (fragmentation needed), IPv6 type 2 (packet too big).
 */
export function icmpError(src: string, dst: string, quoted: Uint8Array): Uint8Array {
  const s = addr(src);
  const d = addr(dst);
  const v4 = s.length === 4;
  const q = quoted.subarray(0, Math.min(quoted.length, v4 ? 28 : 48));
  const hl = v4 ? 20 : 40;
  const out = new Uint8Array(hl + 8 + q.length);
  writeIpHeader(out, s, d, v4 ? 1 : 58, 8 + q.length);
  out[hl] = v4 ? 3 : 2;
  out[hl + 1] = v4 ? 4 : 0;
  out[hl + 6] = 0x05;
  out[hl + 7] = 0x00;
  out.set(q, hl + 8);
  return out;
}

/** A copy of an IPv4 packet marked as a fragment at `offset8` (8-byte units), MF set or not. */
export function fragmentV4(pkt: Uint8Array, offset8: number, more: boolean): Uint8Array {
  const out = pkt.slice();
  const v = (more ? 0x2000 : 0) | offset8;
  out[6] = v >> 8;
  out[7] = v & 0xff;
  return out;
}

/** A packet of any protocol number with `n` bytes of payload. */
export function rawIp(src: string, dst: string, proto: number, n = 8): Uint8Array {
  const s = addr(src);
  const d = addr(dst);
  const hl = s.length === 4 ? 20 : 40;
  const out = new Uint8Array(hl + n);
  writeIpHeader(out, s, d, proto, n);
  return out;
}

/** A member with sensible defaults. */
export function member(
  name: string,
  address: string,
  labels: Record<string, string>,
  address6?: string,
): Member {
  const m: Member = {
    name,
    publicKey: btoa(name.padEnd(32, "x").slice(0, 32)),
    address,
    endpoints: [],
    labels,
    role: "node",
    services: [],
    joinedAt: 0,
  };
  if (address6) m.address6 = address6;
  return m;
}

/** The three-node mesh of the issue: web, app and db, with IPv4 and IPv6 overlay addresses. */
export function threeNodes(version = 1): MembershipView {
  return {
    network: "10.77.0.0/24",
    version,
    members: [
      member("web", "10.77.0.1", { role: "web", env: "prod" }, "fd77::1"),
      member("app", "10.77.0.2", { role: "app", env: "prod" }, "fd77::2"),
      member("db", "10.77.0.3", { role: "db", env: "prod" }, "fd77::3"),
    ],
  };
}

/** The issue's policy: web->app tcp/8090-8100, app->db tcp/5432, nothing else to db; pings. */
export const ISSUE_POLICY = `
# The three-node example of issue 7.
policies:
  - name: web-to-app
    action: allow
    priority: 100
    from: { labels: { role: web } }
    to: { labels: { role: app } }
    proto: tcp
    ports: ["8090-8100"]
  - name: app-to-db
    action: allow
    priority: 100
    from: "role=app"
    to: "role=db"
    proto: tcp
    ports: [5432]
  - name: deny-db
    action: deny
    priority: 200
    from: "*"
    to: { labels: { role: db } }
  - name: ping-app
    action: allow
    priority: 300
    from: "*"
    to: "role=app"
    proto: icmp
`;
