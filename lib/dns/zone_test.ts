import assert from "node:assert/strict";
import { DnsZone, reverseName, type ZoneAnswer } from "./zone.ts";
import { DnsClass, DnsType, Rcode, type ResourceRecord } from "./wire.ts";
import { formatAddress } from "../net/ip.ts";
import type { HealthState } from "../health/state.ts";
import type { Member, MembershipView } from "../members/member.ts";
import { member } from "../../tests/fixtures/members.ts";

function fixture() {
  const members = [
    member("alpha", "10.200.0.1", {
      role: "leader",
      address6: "fd00::1",
      services: [{ name: "web", port: 80, protocol: "tcp", labels: { env: "prod", tier: "a" } }],
    }),
    member("beta", "10.200.3.7", {
      services: [
        { name: "web", port: 8080, protocol: "tcp", weight: 5, priority: 20 },
        { name: "dns", port: 53, protocol: "udp" },
      ],
    }),
    member("gamma", "10.200.3.8", { address6: "fd00::3:8" }),
  ];
  const health = new Map<string, HealthState>();
  const state = { view: { network: "10.200.0.0/16", version: 3, members } as MembershipView };
  const source = {
    view: () => state.view,
    healthOf: (m: Member) => health.get(m.name) ?? "up",
  };
  return { state, health, zone: new DnsZone(source, { ttl: 10 }), members };
}

function ask(zone: DnsZone, name: string, type: number, local?: string): ZoneAnswer {
  const a = zone.answer({ name, type, class: DnsClass.IN }, { localAddress: local });
  assert.notEqual(a, null, `${name} should be in the zone`);
  return a!;
}

function values(rrs: ResourceRecord[]): string[] {
  return rrs.map((r) => {
    const d = r.data;
    switch (d.kind) {
      case "address":
        return formatAddress(d.address);
      case "name":
        return d.name;
      case "srv":
        return `${d.priority} ${d.weight} ${d.port} ${d.target}`;
      case "txt":
        return d.texts.join(" ");
      case "soa":
        return `${d.mname} ${d.serial}`;
      default:
        return d.kind;
    }
  }).sort();
}

Deno.test("zone: host, node-x-y and leader names", () => {
  const { zone } = fixture();
  assert.deepEqual(values(ask(zone, "alpha.overlay.local", DnsType.A).answers), ["10.200.0.1"]);
  assert.deepEqual(values(ask(zone, "ALPHA.Overlay.Local.", DnsType.AAAA).answers), ["fd00::1"]);
  assert.deepEqual(values(ask(zone, "node-3-7.overlay.local", DnsType.A).answers), ["10.200.3.7"]);
  assert.deepEqual(values(ask(zone, "node-3-8.overlay.local", DnsType.AAAA).answers), [
    "fd00::3:8",
  ]);
  const leader = ask(zone, "leader.overlay.local", DnsType.A);
  assert.deepEqual(values(leader.answers), ["10.200.0.1"]);
  assert.equal(leader.authoritative, true);
  // Owner names keep the case the client used.
  assert.equal(ask(zone, "Beta.OVERLAY.local", DnsType.A).answers[0].name, "Beta.OVERLAY.local");
});

Deno.test("zone: NXDOMAIN vs NODATA, both with the SOA in authority", () => {
  const { zone } = fixture();
  const nx = ask(zone, "nobody.overlay.local", DnsType.A);
  assert.equal(nx.rcode, Rcode.NXDOMAIN);
  assert.equal(nx.answers.length, 0);
  assert.deepEqual(values(nx.authority), ["ns.overlay.local 3"]);
  assert.equal(nx.authority[0].name, "overlay.local");
  const nodata = ask(zone, "beta.overlay.local", DnsType.AAAA);
  assert.equal(nodata.rcode, Rcode.NOERROR);
  assert.equal(nodata.answers.length, 0);
  assert.equal(nodata.authority[0].type, DnsType.SOA);
  assert.equal(ask(zone, "x.beta.overlay.local", DnsType.A).rcode, Rcode.NXDOMAIN);
  // `_tcp` exists as the parent of `_web._tcp`: NODATA, not NXDOMAIN (RFC 8020).
  assert.equal(ask(zone, "_tcp.overlay.local", DnsType.A).rcode, Rcode.NOERROR);
  assert.equal(ask(zone, "_sctp.overlay.local", DnsType.A).rcode, Rcode.NXDOMAIN);
});

Deno.test("zone: SRV with target addresses in additional, TXT per instance, service A", () => {
  const { zone } = fixture();
  const srv = ask(zone, "_web._tcp.overlay.local", DnsType.SRV);
  assert.deepEqual(values(srv.answers), [
    "10 1 80 alpha.overlay.local",
    "20 5 8080 beta.overlay.local",
  ]);
  assert.deepEqual(values(srv.additional), ["10.200.0.1", "10.200.3.7", "fd00::1"]);
  assert.deepEqual(
    srv.additional.map((r) => r.name).sort(),
    ["alpha.overlay.local", "alpha.overlay.local", "beta.overlay.local"],
  );
  const txt = ask(zone, "_web._tcp.overlay.local", DnsType.TXT);
  // One per instance, labels or none: where it is, then its labels.
  assert.deepEqual(values(txt.answers), [
    "node=alpha port=80 env=prod tier=a",
    "node=beta port=8080",
  ]);
  assert.deepEqual(values(ask(zone, "_dns._udp.overlay.local", DnsType.TXT).answers), [
    "node=beta port=53",
  ]);
  assert.deepEqual(values(ask(zone, "web.overlay.local", DnsType.A).answers), [
    "10.200.0.1",
    "10.200.3.7",
  ]);
  assert.deepEqual(values(ask(zone, "_dns._udp.overlay.local", DnsType.SRV).answers), [
    "10 1 53 beta.overlay.local",
  ]);
  // The protocol is part of the name.
  assert.equal(ask(zone, "_dns._tcp.overlay.local", DnsType.SRV).rcode, Rcode.NXDOMAIN);
  // A service name with only an SRV answers NODATA for A.
  assert.equal(ask(zone, "_web._tcp.overlay.local", DnsType.A).answers.length, 0);
});

Deno.test("zone: down members leave service answers, and a service with none left is gone", () => {
  const { zone, health } = fixture();
  health.set("beta", "down");
  assert.deepEqual(values(ask(zone, "_web._tcp.overlay.local", DnsType.SRV).answers), [
    "10 1 80 alpha.overlay.local",
  ]);
  assert.deepEqual(values(ask(zone, "web.overlay.local", DnsType.A).answers), ["10.200.0.1"]);
  assert.equal(ask(zone, "_dns._udp.overlay.local", DnsType.SRV).rcode, Rcode.NXDOMAIN);
  assert.equal(ask(zone, "dns.overlay.local", DnsType.A).rcode, Rcode.NXDOMAIN);
  assert.equal(ask(zone, "_udp.overlay.local", DnsType.A).rcode, Rcode.NXDOMAIN);
  // Its host name still resolves: health is about services.
  assert.equal(ask(zone, "beta.overlay.local", DnsType.A).answers.length, 1);
  health.set("beta", "degraded");
  assert.equal(ask(zone, "dns.overlay.local", DnsType.A).answers.length, 1);
});

Deno.test("zone: a service whose health check fails on a node leaves that node's answers", () => {
  const { zone, state } = fixture();
  const members = state.view.members.map((m) =>
    m.name === "beta"
      ? { ...m, services: m.services.map((s) => s.name === "web" ? { ...s, healthy: false } : s) }
      : m
  );
  state.view = { ...state.view, version: 4, members };
  assert.deepEqual(values(ask(zone, "_web._tcp.overlay.local", DnsType.SRV).answers), [
    "10 1 80 alpha.overlay.local",
  ]);
  // Its other service, and its host name, still answer.
  assert.equal(ask(zone, "_dns._udp.overlay.local", DnsType.SRV).answers.length, 1);
  assert.equal(ask(zone, "beta.overlay.local", DnsType.A).answers.length, 1);
});

Deno.test("zone: apex SOA and NS, ns.<zone> is the local address", () => {
  const { zone } = fixture();
  const soa = ask(zone, "overlay.local", DnsType.SOA);
  assert.deepEqual(values(soa.answers), ["ns.overlay.local 3"]);
  const ns = ask(zone, "overlay.local", DnsType.NS, "10.200.0.1");
  assert.deepEqual(values(ns.answers), ["ns.overlay.local"]);
  assert.deepEqual(values(ns.additional), ["10.200.0.1"]);
  assert.deepEqual(values(ask(zone, "ns.overlay.local", DnsType.A, "127.0.0.1").answers), [
    "127.0.0.1",
  ]);
  assert.equal(ask(zone, "ns.overlay.local", DnsType.AAAA, "127.0.0.1").answers.length, 0);
  assert.equal(ask(zone, "overlay.local", DnsType.A).rcode, Rcode.NOERROR);
  const any = ask(zone, "overlay.local", DnsType.ANY, "127.0.0.1");
  assert.deepEqual(any.answers.map((r) => r.type).sort(), [DnsType.NS, DnsType.SOA]);
});

Deno.test("zone: PTR for IPv4 and IPv6 overlay addresses, reverse apex and empty parents", () => {
  const { zone } = fixture();
  const v4 = ask(zone, "7.3.200.10.in-addr.arpa", DnsType.PTR);
  assert.deepEqual(values(v4.answers), ["beta.overlay.local"]);
  const v6 = ask(zone, reverseName(Uint8Array.from([0xfd, ...Array(14).fill(0), 1])), DnsType.PTR);
  assert.deepEqual(values(v6.answers), ["alpha.overlay.local"]);
  assert.equal(ask(zone, "9.3.200.10.in-addr.arpa", DnsType.PTR).rcode, Rcode.NXDOMAIN);
  const parent = ask(zone, "3.200.10.in-addr.arpa", DnsType.PTR);
  assert.equal(parent.rcode, Rcode.NOERROR);
  assert.equal(parent.answers.length, 0);
  assert.equal(parent.authority[0].name, "200.10.in-addr.arpa");
  assert.equal(ask(zone, "9.200.10.in-addr.arpa", DnsType.PTR).rcode, Rcode.NXDOMAIN);
  assert.deepEqual(values(ask(zone, "200.10.in-addr.arpa", DnsType.SOA).answers), [
    "ns.overlay.local 3",
  ]);
  assert.equal(ask(zone, "x.7.3.200.10.in-addr.arpa", DnsType.PTR).rcode, Rcode.NXDOMAIN);
  // Outside the overlay network: not ours.
  assert.equal(zone.answer({ name: "1.0.0.127.in-addr.arpa", type: 12, class: 1 }), null);
  assert.equal(zone.answer({ name: "1.0.201.10.in-addr.arpa", type: 12, class: 1 }), null);
});

Deno.test("zone: a prefix off the octet boundary only claims addresses inside it", () => {
  const members = [member("a", "10.200.17.5")];
  const zone = new DnsZone({ view: () => ({ network: "10.200.16.0/20", version: 1, members }) });
  assert.deepEqual(values(ask(zone, "5.17.200.10.in-addr.arpa", DnsType.PTR).answers), [
    "a.overlay.local",
  ]);
  assert.equal(ask(zone, "6.17.200.10.in-addr.arpa", DnsType.PTR).rcode, Rcode.NXDOMAIN);
  assert.equal(zone.answer({ name: "5.1.200.10.in-addr.arpa", type: 12, class: 1 }), null);
});

Deno.test("zone: the view's IPv6 network bounds the ip6.arpa zone", () => {
  const members = [member("a", "10.200.0.5", { address6: "fd00:1:2::5" })];
  const view: MembershipView = {
    network: "10.200.0.0/16",
    network6: "fd00:1::/32",
    version: 1,
    members,
  };
  const zone = new DnsZone({ view: () => view });
  const name = reverseName(Uint8Array.from([0xfd, 0, 0, 1, 0, 2, ...Array(9).fill(0), 5]));
  assert.deepEqual(values(ask(zone, name, DnsType.PTR).answers), ["a.overlay.local"]);
  const apex = ask(zone, name.replace("5.", "6."), DnsType.PTR);
  assert.equal(apex.rcode, Rcode.NXDOMAIN);
  assert.equal(apex.authority[0].name, "1.0.0.0.0.0.d.f.ip6.arpa");
  // Outside the /32: not ours.
  const outside = reverseName(Uint8Array.from([0xfd, 0, 0, 2, ...Array(11).fill(0), 5]));
  assert.equal(zone.answer({ name: outside, type: DnsType.PTR, class: 1 }), null);
});

Deno.test("zone: names outside the zone, other classes, zone transfers", () => {
  const { zone } = fixture();
  assert.equal(zone.answer({ name: "example.com", type: 1, class: 1 }), null);
  assert.equal(zone.answer({ name: "xoverlay.local", type: 1, class: 1 }), null);
  assert.equal(zone.contains("a.overlay.local."), true);
  const ch = zone.answer({ name: "alpha.overlay.local", type: 1, class: DnsClass.CH });
  assert.equal(ch?.rcode, Rcode.REFUSED);
  assert.equal(ask(zone, "overlay.local", DnsType.AXFR).rcode, Rcode.REFUSED);
  const any = ask(zone, "alpha.overlay.local", DnsType.ANY);
  assert.deepEqual(values(any.answers), ["10.200.0.1", "fd00::1"]);
});

Deno.test("zone: membership changes show in the next answer; SOA serial follows version", () => {
  const { zone, state, members } = fixture();
  assert.equal(ask(zone, "delta.overlay.local", DnsType.A).rcode, Rcode.NXDOMAIN);
  state.view = {
    network: "10.200.0.0/16",
    version: 4,
    members: [...members.slice(1), member("delta", "10.200.9.9", { role: "leader" })],
  };
  assert.deepEqual(values(ask(zone, "delta.overlay.local", DnsType.A).answers), ["10.200.9.9"]);
  assert.deepEqual(values(ask(zone, "leader.overlay.local", DnsType.A).answers), ["10.200.9.9"]);
  assert.equal(ask(zone, "alpha.overlay.local", DnsType.A).rcode, Rcode.NXDOMAIN);
  assert.deepEqual(values(ask(zone, "overlay.local", DnsType.SOA).answers), [
    "ns.overlay.local 4",
  ]);
  assert.deepEqual(values(ask(zone, "9.9.200.10.in-addr.arpa", DnsType.PTR).answers), [
    "delta.overlay.local",
  ]);
});

Deno.test("zone: invalid member data is skipped, not served", () => {
  const members = [
    member("bad name", "10.200.0.5", { services: [{ name: "x y", port: 1, protocol: "tcp" }] }),
    member("ok", "not-an-ip", { services: [{ name: "svc", port: 70000, protocol: "tcp" }] }),
  ];
  const zone = new DnsZone({ view: () => ({ network: "10.200.0.0/16", version: 1, members }) });
  assert.equal(ask(zone, "node-0-5.overlay.local", DnsType.A).answers.length, 1);
  assert.equal(ask(zone, "ok.overlay.local", DnsType.A).answers.length, 0);
  assert.equal(ask(zone, "svc.overlay.local", DnsType.A).rcode, Rcode.NXDOMAIN);
  assert.equal(ask(zone, "5.0.200.10.in-addr.arpa", DnsType.PTR).rcode, Rcode.NXDOMAIN);
  assert.throws(() =>
    new DnsZone({ view: () => ({ network: "", version: 0, members }) }, {
      zone: "a..b",
    })
  );
  const custom = new DnsZone({ view: () => ({ network: "10.200.0.0/16", version: 1, members }) }, {
    zone: "Mesh.Example.",
  });
  assert.equal(custom.origin, "mesh.example");
  assert.equal(ask(custom, "node-0-5.mesh.example", DnsType.A).answers.length, 1);
});

Deno.test("zone: leader.<service> follows the source's service leader, with a short TTL", () => {
  const { state } = fixture();
  const members = state.view.members.map((m, i) => ({ ...m, publicKey: `key-${i}` }));
  state.view = { ...state.view, members };
  const leaders = new Map<string, Member>();
  const health = new Map<string, HealthState>();
  const zone = new DnsZone({
    view: () => state.view,
    healthOf: (m) => health.get(m.name) ?? "up",
    leaderOf: (s) => leaders.get(s) ?? null,
  }, { ttl: 10 });
  const none = ask(zone, "leader.web.overlay.local", DnsType.A);
  assert.equal(none.rcode, Rcode.NXDOMAIN, "no leader: no name");
  leaders.set("web", members[0]);
  const a = ask(zone, "leader.web.overlay.local", DnsType.A);
  assert.deepEqual(values(a.answers), ["10.200.0.1"]);
  assert.equal(a.answers[0].ttl, 1);
  assert.deepEqual(values(ask(zone, "Leader.WEB.overlay.local", DnsType.AAAA).answers), [
    "fd00::1",
  ]);
  // The failover: the next answer names the new leader; one without IPv6 is NODATA for AAAA.
  leaders.set("web", members[1]);
  assert.deepEqual(values(ask(zone, "leader.web.overlay.local", DnsType.A).answers), [
    "10.200.3.7",
  ]);
  const nodata = ask(zone, "leader.web.overlay.local", DnsType.AAAA);
  assert.equal(nodata.rcode, Rcode.NOERROR);
  assert.equal(nodata.answers.length, 0);
  // A leader no longer in the view is no answer; `leader.` alone is still the mesh leader.
  leaders.set("web", { ...members[1], publicKey: "gone" });
  assert.equal(ask(zone, "leader.web.overlay.local", DnsType.A).rcode, Rcode.NXDOMAIN);
  assert.deepEqual(values(ask(zone, "leader.overlay.local", DnsType.A).answers), ["10.200.0.1"]);
  // A service whose instances this node finds down, but with a leader, still exists (empty).
  leaders.set("dns", members[1]);
  health.set("beta", "down");
  const svc = ask(zone, "dns.overlay.local", DnsType.A);
  assert.equal(svc.rcode, Rcode.NOERROR);
  assert.equal(svc.answers.length, 0);
  assert.equal(ask(zone, "leader.a.b.overlay.local", DnsType.A).rcode, Rcode.NXDOMAIN);
});

Deno.test("zone: leader.<zone> lists every member with the leader role (several leaders)", () => {
  const { zone, state, members } = fixture();
  state.view = {
    network: "10.200.0.0/16",
    version: 5,
    members: [
      ...members,
      member("lead2", "10.200.0.9", { role: "leader" }),
      member("lead3", "10.200.0.10", { role: "leader" }),
    ],
  };
  assert.deepEqual(
    values(ask(zone, "leader.overlay.local", DnsType.A).answers).sort(),
    ["10.200.0.1", "10.200.0.10", "10.200.0.9"],
  );
});

Deno.test("zone: a querier the source scopes is answered only with the members it may see", () => {
  const { state } = fixture();
  // Keys of their own: the service leaders are found by key.
  const members = state.view.members.map((m) => ({ ...m, publicKey: m.name }));
  state.view = { ...state.view, members };
  const [alpha, beta, gamma] = members;
  // gamma (10.200.3.8) may see the leader and itself; any other querier sees every member.
  const source = {
    view: () => state.view,
    leaderOf: (s: string) => s === "dns" ? beta : s === "web" ? alpha : null,
    visibleTo: (querier: string) =>
      querier === "10.200.3.8" ? (m: Member) => m === alpha || m === gamma : null,
  };
  const zone = new DnsZone(source, { ttl: 10 });
  const from = (remote: string | undefined, name: string, type = DnsType.A) => {
    const a = zone.answer({ name, type, class: DnsClass.IN }, { remoteAddress: remote });
    assert.notEqual(a, null, `${name} should be in the zone`);
    return a!;
  };
  const hidden: [string, number][] = [
    ["beta.overlay.local", DnsType.A],
    ["node-3-7.overlay.local", DnsType.A],
    ["dns.overlay.local", DnsType.A],
    ["_dns._udp.overlay.local", DnsType.SRV],
    ["leader.dns.overlay.local", DnsType.A],
    [`${reverseName(Uint8Array.of(10, 200, 3, 7))}`, DnsType.PTR],
  ];
  for (const [name, type] of hidden) {
    assert.equal(from("10.200.3.8", name, type).rcode, Rcode.NXDOMAIN, `${name} from gamma`);
    // The host's own user (no source address, or one the source does not scope): every member.
    for (const remote of [undefined, "127.0.0.1"]) {
      const a = from(remote, name, type);
      assert.equal(a.rcode, Rcode.NOERROR, `${name} from ${remote}`);
      assert.ok(a.answers.length > 0, `${name} from ${remote}`);
    }
  }
  // What gamma may see answers as before: the leader's names, its own, the leader's instance.
  assert.deepEqual(values(from("10.200.3.8", "alpha.overlay.local").answers), ["10.200.0.1"]);
  assert.deepEqual(values(from("10.200.3.8", "leader.overlay.local").answers), ["10.200.0.1"]);
  assert.deepEqual(values(from("10.200.3.8", "gamma.overlay.local").answers), ["10.200.3.8"]);
  assert.deepEqual(values(from("10.200.3.8", "leader.web.overlay.local").answers), [
    "10.200.0.1",
  ]);
  assert.deepEqual(values(from("10.200.3.8", "web.overlay.local").answers), ["10.200.0.1"]);
  const srv = from("10.200.3.8", "_web._tcp.overlay.local", DnsType.SRV);
  assert.deepEqual(values(srv.answers), ["10 1 80 alpha.overlay.local"]);
  assert.deepEqual(values(srv.additional), ["10.200.0.1", "fd00::1"]);
  assert.deepEqual(values(from("127.0.0.1", "web.overlay.local").answers), [
    "10.200.0.1",
    "10.200.3.7",
  ]);
  // The reverse tree does not give hidden addresses away: 3.200.10 holds only members gamma may
  // see, and none of them for a querier that sees the leader alone.
  const only = new DnsZone({ ...source, visibleTo: () => (m: Member) => m === alpha }, {});
  const rev = (name: string) =>
    only.answer({ name, type: DnsType.PTR, class: DnsClass.IN }, { remoteAddress: "x" })!.rcode;
  assert.equal(rev("3.200.10.in-addr.arpa"), Rcode.NXDOMAIN);
  assert.equal(rev("0.200.10.in-addr.arpa"), Rcode.NOERROR);
  assert.equal(from("10.200.3.8", "3.200.10.in-addr.arpa", DnsType.PTR).rcode, Rcode.NOERROR);
});

Deno.test("zone: a member's host name never shadows a service, a node-x-y name or the zone's own", () => {
  const members = [
    member("web1", "10.200.0.1", {
      role: "leader",
      services: [{ name: "web", port: 80, protocol: "tcp" }],
    }),
    member("db1", "10.200.0.2", { services: [{ name: "db", port: 5432, protocol: "tcp" }] }),
    // Members naming themselves after a service, another member's node name and a free one.
    member("web", "10.200.6.6", { services: [{ name: "mail", port: 25, protocol: "tcp" }] }),
    member("node-0-2", "10.200.6.7"),
    member("node-9-9", "10.200.6.8"),
    member("ns", "10.200.6.9"),
  ];
  const health = new Map<string, HealthState>();
  const view = { network: "10.200.0.0/16", version: 1, members } as MembershipView;
  const zone = new DnsZone({ view: () => view, healthOf: (m) => health.get(m.name) ?? "up" });
  // The service and the node name answer, whatever order the records come in.
  assert.deepEqual(values(ask(zone, "web.overlay.local", DnsType.A).answers), ["10.200.0.1"]);
  assert.deepEqual(values(ask(zone, "node-0-2.overlay.local", DnsType.A).answers), ["10.200.0.2"]);
  view.members = [...members].reverse();
  assert.deepEqual(values(ask(zone, "web.overlay.local", DnsType.A).answers), ["10.200.0.1"]);
  assert.deepEqual(values(ask(zone, "node-0-2.overlay.local", DnsType.A).answers), ["10.200.0.2"]);
  // A node name no member holds yet, and the zone's own, are no host's either.
  assert.equal(ask(zone, "node-9-9.overlay.local", DnsType.A).rcode, Rcode.NXDOMAIN);
  assert.deepEqual(ask(zone, "ns.overlay.local", DnsType.A).answers, []);
  // The service down: its name still is no host's.
  health.set("web1", "down");
  assert.equal(ask(zone, "web.overlay.local", DnsType.A).rcode, Rcode.NXDOMAIN);
  // Those members are known by their node names: in PTR and as SRV targets.
  const ptr = (a: string) => values(ask(zone, `${reverseName(parse4(a))}.`, DnsType.PTR).answers);
  assert.deepEqual(ptr("10.200.6.6"), ["node-6-6.overlay.local"]);
  assert.deepEqual(ptr("10.200.6.7"), ["node-6-7.overlay.local"]);
  assert.deepEqual(ptr("10.200.6.9"), ["node-6-9.overlay.local"]);
  assert.deepEqual(values(ask(zone, "_mail._tcp.overlay.local", DnsType.SRV).answers), [
    "10 1 25 node-6-6.overlay.local",
  ]);
  assert.deepEqual(values(ask(zone, "node-6-6.overlay.local", DnsType.A).answers), ["10.200.6.6"]);
  // A name nothing else uses stays the member's.
  assert.deepEqual(values(ask(zone, "db1.overlay.local", DnsType.A).answers), ["10.200.0.2"]);
});

function parse4(text: string): Uint8Array {
  return Uint8Array.from(text.split(".").map(Number));
}
