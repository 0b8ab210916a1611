import assert from "node:assert/strict";
import { overlappingRoute, parseProcIpv6Route, parseProcRoute } from "./local_routes.ts";

// What the kernel prints (x86: each IPv4 word in little-endian byte order).
const ROUTE = [
  "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
  "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0",
  "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0",
  "wg1\t00005B0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0",
  "lo\t0100000A\t00000000\t0205\t0\t0\t0\tFFFFFFFF\t0\t0\t0",
  "",
].join("\n");

const IPV6_ROUTE = [
  "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 " +
  "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0",
  "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 " +
  "00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0",
  "00000000000000000000000000000000 00 00000000000000000000000000000000 00 " +
  "fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0",
  "00000000000000000000000000000001 80 00000000000000000000000000000000 00 " +
  "00000000000000000000000000000000 00000000 00000004 00000000 80200001       lo",
  "fd000000000000000000000000000002 80 00000000000000000000000000000000 00 " +
  "00000000000000000000000000000000 00000000 00000003 00000000 80200001     eth0",
  "ff000000000000000000000000000000 08 00000000000000000000000000000000 00 " +
  "00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0",
  "20010db8000100000000000000000000 30 00000000000000000000000000000000 00 " +
  "00000000000000000000000000000000 00000400 00000001 00000000 00000001     wg1",
  "",
].join("\n");

Deno.test("routes: /proc/net/route gives prefixes and devices, default routes left out", () => {
  assert.deepEqual(parseProcRoute(ROUTE), [
    { prefix: "192.0.2.0/24", dev: "eth0" },
    { prefix: "10.91.0.0/16", dev: "wg1" },
    { prefix: "10.0.0.1/32", dev: "lo" },
  ]);
  assert.deepEqual(parseProcRoute(""), []);
  assert.deepEqual(parseProcRoute("header\ngarbage line\n"), []);
});

Deno.test("routes: /proc/net/ipv6_route without defaults, multicast and local addresses", () => {
  assert.deepEqual(parseProcIpv6Route(IPV6_ROUTE), [
    { prefix: "fd00::/64", dev: "eth0" },
    { prefix: "fe80::/64", dev: "eth0" },
    { prefix: "2001:db8:1::/48", dev: "wg1" },
  ]);
});

Deno.test({
  name: "routes: an overlap is found without any `ip` command; an unreadable table is an error",
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const files = { ipv4: `${dir}/route`, ipv6: `${dir}/ipv6_route` };
      await Deno.writeTextFile(files.ipv4, ROUTE);
      await Deno.writeTextFile(files.ipv6, IPV6_ROUTE);
      assert.equal(
        await overlappingRoute("10.91.4.0/24", undefined, files),
        "10.91.0.0/16 (dev wg1)",
      );
      // The agent's own interface does not count (a restarted agent finds its old routes).
      assert.equal(await overlappingRoute("10.91.4.0/24", "wg1", files), null);
      assert.equal(await overlappingRoute("10.200.0.0/16", undefined, files), null);
      assert.equal(
        await overlappingRoute("2001:db8:1:5::/64", undefined, files),
        "2001:db8:1::/48 (dev wg1)",
      );
      assert.equal(await overlappingRoute("fd77::/64", undefined, files), null);
      const missing = { ipv4: `${dir}/nope`, ipv6: `${dir}/nope6` };
      await assert.rejects(
        overlappingRoute("10.200.0.0/16", undefined, missing),
        /cannot check the network against this machine's routes: reading .*nope failed/,
      );
      await assert.rejects(overlappingRoute("fd77::/64", undefined, missing), /nope6/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "routes: this machine's table is readable and each of its routes is found",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    for (const r of parseProcRoute(await Deno.readTextFile("/proc/net/route"))) {
      if (/^127\./.test(r.prefix)) continue;
      assert.ok(await overlappingRoute(r.prefix), `${r.prefix} overlaps itself`);
    }
  },
});
