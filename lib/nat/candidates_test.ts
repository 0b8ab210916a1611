/**
 * Own endpoint candidates from fake interface lists: what is left out, the order and bound, and
 * when a refresh reports a change.
 */
import assert from "node:assert/strict";
import { Candidates, type InterfaceAddress, MAX_CANDIDATES, MAX_OBSERVERS } from "./candidates.ts";

const v4 = (name: string, address: string): InterfaceAddress => ({ name, family: "IPv4", address });
const v6 = (name: string, address: string): InterfaceAddress => ({ name, family: "IPv6", address });

const HOST: InterfaceAddress[] = [
  v4("lo", "127.0.0.1"),
  v6("lo", "::1"),
  v4("eth0", "192.168.1.20"),
  v6("eth0", "fe80::1c2:3ff:fe04:506"),
  v6("eth0", "2001:DB8:0:1::20"),
  v4("eth1", "169.254.10.1"),
  v4("weft0", "10.200.0.5"),
  v6("weft0", "fd77::5"),
  v4("docker0", "172.17.0.1"),
  v4("wlan0", "10.1.2.3"),
];

function make(
  ifaces: InterfaceAddress[] = HOST,
  extra: Partial<ConstructorParameters<typeof Candidates>[0]> = {},
) {
  let current = ifaces;
  const c = new Candidates({
    listenPort: 51820,
    overlay: ["10.200.0.5/16", "fd77::5/64"],
    interfaces: () => current,
    ...extra,
  });
  return { c, set: (l: InterfaceAddress[]) => (current = l) };
}

Deno.test("candidates: LAN addresses without loopback, link-local, overlay or bridges", () => {
  const { c } = make();
  assert.deepEqual(c.list, ["192.168.1.20:51820", "10.1.2.3:51820", "[2001:db8:0:1::20]:51820"]);
  assert.ok(c.entries.every((e) => e.kind === "lan"));
});

Deno.test("candidates: overlay given as a plain address leaves out only that address", () => {
  const { c } = make([v4("weft0", "10.200.0.5"), v4("eth0", "10.200.0.9")], {
    overlay: ["10.200.0.5"],
  });
  assert.deepEqual(c.list, ["10.200.0.9:51820"]);
  assert.throws(() => make([], { overlay: ["10.0.0.0/99"] }));
});

Deno.test("candidates: order is lan, advertised, observed; repeats only once", () => {
  const { c } = make([v4("eth0", "192.168.1.20")], {
    advertise: ["Node.Example.com:51820", "[2001:db8::7]:4000", "192.168.1.20:51820"],
  });
  assert.equal(c.observe("leader", "203.0.113.5", 61000), true);
  assert.equal(c.observe("peerB", "192.168.1.20", 51820), true); // no NAT between us: the LAN one
  assert.equal(c.refresh(), true);
  assert.deepEqual(c.entries, [
    { kind: "lan", endpoint: "192.168.1.20:51820" },
    { kind: "advertised", endpoint: "node.example.com:51820" },
    { kind: "advertised", endpoint: "[2001:db8::7]:4000" },
    { kind: "observed", endpoint: "203.0.113.5:61000" },
  ]);
  assert.throws(() => make([], { advertise: ["no-port"] }), /port/);
  assert.throws(() => make([], { advertise: ["2001:db8::1:80"] }), /brackets/);
});

Deno.test("candidates: refresh says when interfaces come and go", () => {
  const { c, set } = make([v4("eth0", "192.168.1.20")]);
  assert.equal(c.refresh(), false);
  set([v4("eth0", "192.168.1.20"), v4("wlan0", "10.1.2.3")]);
  assert.equal(c.refresh(), true);
  assert.deepEqual(c.list, ["192.168.1.20:51820", "10.1.2.3:51820"]);
  assert.equal(c.refresh(), false);
  set([v4("wlan0", "10.1.2.3")]);
  assert.equal(c.refresh(), true);
  assert.deepEqual(c.list, ["10.1.2.3:51820"]);
  c.setListenPort(4242);
  assert.equal(c.refresh(), true);
  assert.deepEqual(c.list, ["10.1.2.3:4242"]);
});

Deno.test("candidates: an observed mapping that changes is a change; the same again is not", () => {
  const { c } = make([]);
  assert.equal(c.observe("leader", "198.51.100.1", 1000), true);
  assert.equal(c.refresh(), true);
  assert.equal(c.observe("leader", "198.51.100.1", 1000), false);
  assert.equal(c.refresh(), false);
  assert.equal(c.observe("leader", "198.51.100.1", 1001), true); // the NAT remapped us
  assert.equal(c.refresh(), true);
  assert.deepEqual(c.list, ["198.51.100.1:1001"]);
  c.unobserve("leader");
  assert.equal(c.refresh(), true);
  assert.deepEqual(c.list, []);
  // Junk and our own overlay addresses are not taken.
  assert.equal(c.observe("x", "not an address", 1), false);
  assert.equal(c.observe("x", "198.51.100.1", 0), false);
  assert.equal(c.observe("x", "10.200.7.7", 5), false);
});

Deno.test("candidates: the address most sources agree on comes first", () => {
  const { c } = make([]);
  c.observe("peerA", "198.51.100.1", 2000); // a symmetric NAT: each peer sees another port
  c.observe("leader", "198.51.100.1", 1000);
  c.observe("peerB", "198.51.100.1", 1000);
  c.observe("peerC", "2001:db8::9", 1000);
  c.refresh();
  assert.deepEqual(c.list, [
    "198.51.100.1:1000",
    "198.51.100.1:2000",
    "[2001:db8::9]:1000",
  ]);
});

Deno.test("candidates: at most 16, and many interfaces cannot crowd out the others", () => {
  const many = Array.from({ length: 40 }, (_, i) => v4(`eth${i}`, `192.168.${i}.1`));
  const { c } = make(many, { advertise: ["a.example:1", "b.example:1"] });
  for (let i = 0; i < 10; i++) c.observe(`peer${i}`, `198.51.100.${i + 1}`, 7000);
  c.refresh();
  assert.equal(c.list.length, MAX_CANDIDATES);
  assert.equal(new Set(c.list).size, MAX_CANDIDATES);
  const count = (k: string) => c.entries.filter((e) => e.kind === k).length;
  assert.equal(count("advertised"), 2);
  assert.equal(count("observed"), 4);
  assert.equal(count("lan"), 10);
  // The kinds stay in order.
  const order = c.entries.map((e) => e.kind);
  assert.deepEqual(order, [...order].sort((a, b) => rank(a) - rank(b)));
  // Alone, the LAN addresses may take every place.
  assert.equal(make(many).c.list.length, MAX_CANDIDATES);
});

function rank(kind: string): number {
  return ["lan", "advertised", "observed"].indexOf(kind);
}

Deno.test("candidates: observers are bounded", () => {
  const { c } = make([]);
  for (let i = 0; i < MAX_OBSERVERS + 10; i++) c.observe(`p${i}`, "198.51.100.1", 1000 + i);
  c.refresh();
  // The first reporters were dropped: their ports are gone.
  assert.ok(!c.list.includes("198.51.100.1:1000"));
  assert.ok(c.list.length <= MAX_CANDIDATES);
});

Deno.test("candidates: a failing interface listing keeps the last LAN addresses", () => {
  let fail = false;
  const c = new Candidates({
    listenPort: 1,
    interfaces: () => {
      if (fail) throw new Error("no permission");
      return [v4("eth0", "192.168.1.2")];
    },
  });
  fail = true;
  assert.equal(c.refresh(), false);
  assert.deepEqual(c.list, ["192.168.1.2:1"]);
  assert.equal(c.interfaceErrors, 1);
  assert.throws(() => new Candidates({ listenPort: 0, interfaces: () => [] }), /listen port/);
});

Deno.test("candidates: a skip function replaces the default one", () => {
  const { c } = make([v4("docker0", "172.17.0.1"), v4("eth0", "192.168.1.2")], {
    skipInterface: (n) => n === "eth0",
  });
  assert.deepEqual(c.list, ["172.17.0.1:51820"]);
});

Deno.test("candidates: the real interface list works", () => {
  const c = new Candidates({ listenPort: 51820 });
  assert.ok(c.list.length <= MAX_CANDIDATES);
  assert.ok(c.list.every((e) => !e.startsWith("127.") && !e.startsWith("[::1]")));
});
