import assert from "node:assert/strict";
import { Cidr } from "../net/cidr.ts";
import { parseAddress, parseAddressV4Uint32 } from "../net/ip.ts";
import { buildUdpPacket } from "../net/udp.ts";
import { AllowedIps } from "./allowed_ips.ts";

function v4(table: AllowedIps<string>, text: string): string | undefined {
  return table.lookupV4(parseAddressV4Uint32(text)!);
}

function v6(table: AllowedIps<string>, text: string): string | undefined {
  return table.lookupV6(parseAddress(text)!, 0);
}

Deno.test("allowed ips: longest prefix wins across overlapping prefixes", () => {
  const t = new AllowedIps<string>();
  t.insert("10.0.0.0/8", "a");
  t.insert("10.1.0.0/16", "b");
  t.insert("10.1.2.0/24", "c");
  t.insert("10.1.2.3/32", "d");
  t.insert("10.1.3.0/25", "e");
  assert.equal(v4(t, "10.9.9.9"), "a");
  assert.equal(v4(t, "10.1.9.9"), "b");
  assert.equal(v4(t, "10.1.2.4"), "c");
  assert.equal(v4(t, "10.1.2.3"), "d");
  assert.equal(v4(t, "10.1.3.127"), "e");
  assert.equal(v4(t, "10.1.3.128"), "b");
  assert.equal(v4(t, "11.0.0.0"), undefined);
  assert.equal(v4(t, "9.255.255.255"), undefined);
  // Insertion order does not matter.
  const r = new AllowedIps<string>();
  for (
    const [c, v] of [["10.1.3.0/25", "e"], ["10.1.2.3/32", "d"], ["10.0.0.0/8", "a"], [
      "10.1.2.0/24",
      "c",
    ], ["10.1.0.0/16", "b"]]
  ) {
    r.insert(c, v);
  }
  for (
    const a of [
      "10.9.9.9",
      "10.1.9.9",
      "10.1.2.4",
      "10.1.2.3",
      "10.1.3.127",
      "10.1.3.128",
      "11.0.0.0",
    ]
  ) {
    assert.equal(v4(r, a), v4(t, a), a);
  }
  assert.equal(t.size, 5);
});

Deno.test("allowed ips: /0, /32 and /128", () => {
  const t = new AllowedIps<string>();
  t.insert("0.0.0.0/0", "default4");
  t.insert("::/0", "default6");
  t.insert("192.0.2.1/32", "host4");
  t.insert("fd00::1/128", "host6");
  assert.equal(v4(t, "192.0.2.1"), "host4");
  assert.equal(v4(t, "192.0.2.0"), "default4");
  assert.equal(v4(t, "255.255.255.255"), "default4");
  assert.equal(v4(t, "0.0.0.0"), "default4");
  assert.equal(v6(t, "fd00::1"), "host6");
  assert.equal(v6(t, "fd00::"), "default6");
  assert.equal(v6(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "default6");
  t.insert("255.255.255.255/32", "top");
  t.insert("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "top6");
  assert.equal(v4(t, "255.255.255.255"), "top");
  assert.equal(v4(t, "255.255.255.254"), "default4");
  assert.equal(v6(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "top6");
  assert.equal(v6(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), "default6");
  // The families are separate: ::/0 does not cover IPv4, nor v4-mapped addresses IPv4 prefixes.
  t.remove("0.0.0.0/0");
  assert.equal(v4(t, "8.8.8.8"), undefined);
  assert.equal(v6(t, "::ffff:8.8.8.8"), "default6");
});

Deno.test("allowed ips: inserting a prefix for another value moves it", () => {
  const t = new AllowedIps<string>();
  t.insert("10.0.0.0/24", "peer1");
  t.insert("10.0.1.0/24", "peer1");
  t.insert("10.0.0.0/24", "peer2");
  assert.equal(v4(t, "10.0.0.5"), "peer2");
  assert.equal(v4(t, "10.0.1.5"), "peer1");
  assert.deepEqual(t.entries("peer1").map(String), ["10.0.1.0/24"]);
  assert.deepEqual(t.entries("peer2").map(String), ["10.0.0.0/24"]);
  assert.equal(t.size, 2);
  // Host bits are ignored: this is the same prefix.
  t.insert("10.0.0.77/24", "peer1");
  assert.equal(v4(t, "10.0.0.5"), "peer1");
  assert.equal(t.entries("peer2").length, 0);
  t.insert("10.0.0.0/24", "peer1");
  assert.equal(t.size, 2, "re-inserting the same value changes nothing");
});

Deno.test("allowed ips: remove and removeByValue", () => {
  const t = new AllowedIps<string>();
  t.insert("10.0.0.0/8", "a");
  t.insert("10.1.0.0/16", "b");
  t.insert("10.1.2.0/24", "a");
  t.insert("fd00::/8", "a");
  t.insert("fd00:1::/32", "b");
  assert.equal(t.remove("10.1.0.0/16"), true);
  assert.equal(t.remove("10.1.0.0/16"), false);
  assert.equal(t.remove("10.2.0.0/16"), false, "never inserted");
  assert.equal(t.remove("10.0.0.0/9"), false, "a prefix of an existing one");
  assert.equal(v4(t, "10.1.9.9"), "a", "falls back to the /8");
  assert.equal(v4(t, "10.1.2.9"), "a");
  assert.deepEqual(t.entries("a").map(String), ["10.0.0.0/8", "10.1.2.0/24", "fd00::/8"]);
  assert.equal(t.removeByValue("a"), 3);
  assert.equal(v4(t, "10.1.2.9"), undefined);
  assert.equal(v6(t, "fd00:1::1"), "b");
  assert.equal(v6(t, "fd00:2::1"), undefined);
  assert.equal(t.removeByValue("a"), 0);
  assert.equal(t.size, 1);
  assert.deepEqual(t.all().map(([c, v]) => `${c}=${v}`), ["fd00:1::/32=b"]);
  t.clear();
  assert.equal(t.size, 0);
  assert.equal(v6(t, "fd00:1::1"), undefined);
});

Deno.test("allowed ips: lookups by packet source and destination", () => {
  const t = new AllowedIps<string>();
  t.insert("192.0.2.0/24", "src-peer");
  t.insert("198.51.100.0/24", "dst-peer");
  t.insert("fd00:a::/32", "src6");
  t.insert("fd00:b::/32", "dst6");
  const p4 = buildUdpPacket(
    parseAddress("192.0.2.9")!,
    parseAddress("198.51.100.9")!,
    1,
    2,
    new Uint8Array(4),
  );
  const p6 = buildUdpPacket(
    parseAddress("fd00:a::9")!,
    parseAddress("fd00:b::9")!,
    1,
    2,
    new Uint8Array(4),
  );
  assert.equal(t.lookupDst(p4), "dst-peer");
  assert.equal(t.lookupDst(p6), "dst6");
  assert.equal(t.lookup(p4, 16, 4), "dst-peer");
  assert.equal(t.lookup(p6, 8, 6), "src6");
  assert.equal(t.lookupDst(new Uint8Array(0)), undefined);
  assert.equal(t.lookupDst(new Uint8Array([0x45, 0, 0])), undefined, "too short");
  assert.equal(t.lookupDst(new Uint8Array(60).fill(0x70)), undefined, "bad version");
  assert.equal(t.lookup(p6, p6.length - 8, 6), undefined, "address past the end");
});

Deno.test("allowed ips: get finds exact prefixes only", () => {
  const t = new AllowedIps<number>();
  t.insert(Cidr.parse("10.0.0.0/8"), 1);
  t.insert("10.1.0.0/16", 2);
  assert.equal(t.get("10.0.0.0/8"), 1);
  assert.equal(t.get("10.1.0.0/16"), 2);
  assert.equal(t.get("10.0.0.0/9"), undefined);
  assert.equal(t.get("10.1.0.0/24"), undefined);
});

/** A tiny deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("allowed ips: 1,000 random prefixes agree with brute force", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const rand = rng(seed);
    const byte = () => Math.floor(rand() * 256);
    // Few distinct leading bytes so prefixes nest and share branch points.
    const bases4 = Array.from({ length: 6 }, () => [10, byte(), byte(), byte()]);
    const bases6 = Array.from(
      { length: 6 },
      () => [0xfd, 0, byte(), byte(), ...Array.from({ length: 12 }, byte)],
    );
    const randomAddress = (family: 4 | 6): Uint8Array => {
      const base = family === 4 ? bases4 : bases6;
      const a = Uint8Array.from(base[Math.floor(rand() * base.length)]);
      // Flip a few random bits, mostly late ones, so addresses sit near (and inside) prefixes.
      const flips = Math.floor(rand() * 3);
      for (let f = 0; f < flips; f++) {
        const bit = Math.floor(Math.sqrt(rand()) * a.length * 8);
        a[bit >> 3] ^= 0x80 >> (bit & 7);
      }
      if (rand() < 0.1) crypto.getRandomValues(a);
      return a;
    };
    const table = new AllowedIps<number>();
    const reference = new Map<string, [Cidr, number]>();
    for (let i = 0; i < 1000; i++) {
      const family = rand() < 0.5 ? 4 : 6;
      const max = family === 4 ? 32 : 128;
      const bits = rand() < 0.05 ? (rand() < 0.5 ? 0 : max) : Math.floor(rand() * (max + 1));
      const c = new Cidr(randomAddress(family), bits);
      const value = Math.floor(rand() * 40);
      table.insert(c, value);
      reference.set(c.toString(), [c, value]);
    }
    // Remove a fifth, by prefix and by value.
    const keys = [...reference.keys()];
    for (const k of keys) {
      if (rand() < 0.15) {
        assert.equal(table.remove(reference.get(k)![0]), true, k);
        reference.delete(k);
      }
    }
    for (const victim of [3, 17]) {
      const expect = [...reference.values()].filter(([, v]) => v === victim).length;
      assert.equal(table.removeByValue(victim), expect);
      for (const [k, [, v]] of reference) if (v === victim) reference.delete(k);
    }
    assert.equal(table.size, reference.size);

    const brute = (a: Uint8Array): number | undefined => {
      let best: [Cidr, number] | undefined;
      for (const entry of reference.values()) {
        if (entry[0].family === (a.length === 4 ? 4 : 6) && entry[0].contains(a)) {
          if (best === undefined || entry[0].bits > best[0].bits) best = entry;
        }
      }
      return best?.[1];
    };
    let hits = 0;
    for (let i = 0; i < 4000; i++) {
      const family = rand() < 0.5 ? 4 : 6;
      const a = randomAddress(family);
      const want = brute(a);
      const got = table.lookup(a, 0, family);
      assert.equal(got, want, `seed ${seed}: ${new Cidr(a, family === 4 ? 32 : 128)}`);
      if (want !== undefined) hits++;
    }
    assert.ok(hits > 1000, `the test exercises matches (${hits})`);
    // Every prefix is listed under its value.
    for (let value = 0; value < 40; value++) {
      const want = [...reference.values()].filter(([, v]) => v === value).map(([c]) => c.toString())
        .sort();
      assert.deepEqual(table.entries(value).map(String).sort(), want, `value ${value}`);
    }
    // Removing everything empties the tries.
    for (const [c] of reference.values()) assert.equal(table.remove(c), true);
    assert.equal(table.size, 0);
    assert.equal(table.all().length, 0);
    assert.equal(table.lookup(randomAddress(4), 0, 4), undefined);
  }
});

Deno.test("allowed ips: texts are the entries' canonical text, in their order", () => {
  const table = new AllowedIps<string>();
  table.insert(Cidr.parse("10.1.2.3/32"), "one");
  table.insert(Cidr.parse("0.0.0.0/0"), "zero");
  table.insert(Cidr.parse("192.0.2.77/24"), "net");
  table.insert(Cidr.parse("fd00::1/128"), "six");
  table.insert(Cidr.parse("10.9.0.0/16"), "both");
  table.insert(Cidr.parse("fd00:9::/64"), "both");
  table.insert(Cidr.parse("10.8.0.0/16"), "both");
  for (const v of ["one", "zero", "net", "six", "both", "none"]) {
    assert.deepEqual(table.texts(v), table.entries(v).map((c) => c.toString()), v);
  }
  assert.deepEqual(table.texts("one"), ["10.1.2.3/32"]);
  assert.deepEqual(table.texts("net"), ["192.0.2.0/24"]);
  assert.deepEqual(table.texts("zero"), ["0.0.0.0/0"]);
  assert.deepEqual(table.texts("both"), ["10.8.0.0/16", "10.9.0.0/16", "fd00:9::/64"]);
  assert.deepEqual(table.texts("none"), []);
});
