import assert from "node:assert/strict";
import type { MembershipView } from "../members/member.ts";
import { member } from "../../tests/fixtures/members.ts";
import { canonicalAddress, dnsScope, LocalAddresses, type ScopeJudge, type Sees } from "./scope.ts";
import { DnsZone } from "./zone.ts";
import { DnsClass, DnsType, Rcode } from "./wire.ts";

const lead = member("lead", "10.9.0.1", { publicKey: "L", role: "leader" });
const web = member("web", "10.9.0.2", { publicKey: "W", address6: "fd09::2" });
const db = member("db", "10.9.0.3", { publicKey: "D" });
const ops = member("ops", "10.9.0.4", { publicKey: "O" });
// A subnet router carrying a site's /24 and, inside it, a /25 another router carries.
const site = member("site", "10.9.0.5", { publicKey: "S", routes: ["198.51.100.0/24"] });
const half = member("half", "10.9.0.6", { publicKey: "H", routes: ["198.51.100.128/25"] });
const relay = member("relay", "10.9.0.7", { publicKey: "R", relay: true });
const view: MembershipView = {
  network: "10.9.0.0/24",
  network6: "fd09::/64",
  version: 1,
  members: [lead, web, db, ops, site, half, relay],
};
// web and db see each other; site sees ops; everyone sees the leader and the relay.
const pairs = new Set(["W>D", "D>W", "S>O", "O>S"]);
const leaderJudge = (a: string, b: string) =>
  a === b || pairs.has(`${a}>${b}`) || b === "L" || b === "R";

function scope(self: string, judge: ScopeJudge, local: string[] = []) {
  return dnsScope({
    view: () => view,
    self,
    local: (a) => new LocalAddresses(local, () => []).has(a),
    judge: () => judge,
  });
}

const names = (see: Sees) =>
  see === null ? "all" : view.members.filter(see).map((m) => m.name).join(",");

Deno.test("dns scope, leader: a member asking gets the members it may see", () => {
  const v = scope("L", leaderJudge);
  assert.equal(names(v("10.9.0.2")), "lead,web,db,relay");
  assert.equal(names(v("10.9.0.4")), "lead,ops,site,relay");
  // Its IPv6 overlay address, or IPv4 as an IPv4-mapped IPv6 source, is the same member.
  assert.equal(names(v("fd09:0::2")), "lead,web,db,relay");
  assert.equal(names(v("::ffff:10.9.0.3")), "lead,web,db,relay");
});

Deno.test("dns scope, leader: a source behind a subnet router is that router", () => {
  const v = scope("L", leaderJudge);
  assert.equal(names(v("198.51.100.10")), "lead,ops,site,relay");
  // The router from its LAN address, too.
  assert.equal(names(v("198.51.100.1")), "lead,ops,site,relay");
  // The longest carried prefix decides.
  assert.equal(names(v("198.51.100.200")), "lead,half,relay");
});

Deno.test("dns scope: this host keeps the whole view; any other source gets what every scope holds", () => {
  const v = scope("L", leaderJudge, ["192.0.2.1"]);
  assert.equal(v("127.0.0.1"), null);
  assert.equal(v("::1"), null);
  assert.equal(v("::ffff:127.0.0.1"), null);
  assert.equal(v("192.0.2.1"), null, "this host's own address");
  assert.equal(v("10.9.0.1"), null, "this node's overlay address");
  assert.equal(names(v("10.9.0.77")), "lead,relay");
  assert.equal(names(v("fd09::77")), "lead,relay");
  assert.equal(names(v("203.0.113.9")), "lead,relay", "not unscoped: a source nobody vouches for");
  assert.equal(names(v("not an address")), "lead,relay");
});

Deno.test("dns scope: without a policy every query gets every member", () => {
  assert.equal(scope("L", "all")("10.9.0.4"), null);
  assert.equal(scope("W", "all")("10.9.0.4"), null);
});

Deno.test("dns scope, member: another member gets the leaders, the relays, this node and itself", () => {
  // web sees db, but cannot tell whom ops may see: ops learns nothing of db through web.
  const v = scope("W", "unknown");
  assert.equal(names(v("10.9.0.4")), "lead,web,ops,relay");
  assert.equal(names(v("10.9.0.3")), "lead,web,db,relay");
  assert.equal(names(v("198.51.100.10")), "lead,web,site,relay", "a routed source: its router");
  assert.equal(names(v("10.9.0.77")), "lead,web,relay");
  assert.equal(v("127.0.0.1"), null);
  assert.equal(v("10.9.0.2"), null, "its own overlay address: this host");
  // Hosts behind this node's own route are this node.
  assert.equal(scope("S", "unknown")("198.51.100.10"), null);
});

Deno.test("dns scope through the zone: a member's DNS names no third member to another (A and PTR)", () => {
  const zone = new DnsZone({ view: () => view, visibleTo: scope("W", "unknown") });
  const ask = (name: string, type: number, from: string) =>
    zone.answer({ name, type, class: DnsClass.IN }, { remoteAddress: from })!;
  assert.equal(ask("db.overlay.local", DnsType.A, "10.9.0.4").rcode, Rcode.NXDOMAIN);
  assert.equal(ask("node-0-3.overlay.local", DnsType.A, "10.9.0.4").rcode, Rcode.NXDOMAIN);
  assert.equal(ask("3.0.9.10.in-addr.arpa", DnsType.PTR, "10.9.0.4").rcode, Rcode.NXDOMAIN);
  assert.equal(ask("web.overlay.local", DnsType.A, "10.9.0.4").rcode, Rcode.NOERROR);
  // db itself, and web's own user, get db.
  assert.equal(ask("db.overlay.local", DnsType.A, "10.9.0.3").answers.length, 1);
  assert.equal(ask("db.overlay.local", DnsType.A, "127.0.0.1").answers.length, 1);
});

Deno.test("LocalAddresses: loopback, given and interface addresses; read again at most once a second", () => {
  let now = 0;
  let reads = 0;
  let list = ["192.0.2.7"];
  const local = new LocalAddresses(["10.9.0.2"], () => {
    reads++;
    return list;
  }, () => now);
  assert.equal(local.has("127.0.0.9"), true);
  assert.equal(local.has("10.9.0.2"), true);
  assert.equal(local.has("::ffff:192.0.2.7"), true);
  assert.equal(local.has(null), false);
  assert.equal(local.has("bogus"), false);
  const before = reads;
  for (let i = 0; i < 100; i++) assert.equal(local.has(`203.0.113.${i}`), false);
  assert.equal(reads, before, "a flood of other sources reads nothing more within the second");
  list = ["192.0.2.7", "203.0.113.5"];
  now = 1000;
  assert.equal(local.has("203.0.113.5"), true, "an address added later counts after a second");
});

Deno.test("canonicalAddress: one text per address", () => {
  assert.equal(canonicalAddress("::ffff:10.0.0.1"), "10.0.0.1");
  assert.equal(canonicalAddress("fd09:0::2/64"), "fd09::2");
  assert.equal(canonicalAddress("x"), null);
});
