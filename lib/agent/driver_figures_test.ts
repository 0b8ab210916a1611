import assert from "node:assert/strict";
import { offloadsOf, tcpSide, tunMetricsOf, udpSide } from "./driver_figures.ts";
import type { TunDriverStats, UdpDriverStats } from "../io/driver.ts";
import { newDeviceStats, newTcpStats, newTransportStats } from "../../drivers/shared/stats.ts";

const deno: UdpDriverStats = { kind: "udp", counters: newTransportStats(), offloads: null };
const linux: UdpDriverStats = {
  kind: "udp",
  counters: newTransportStats(),
  offloads: { gso: true, gro: false },
};
const tcp = { kind: "tcp" as const, counters: newTcpStats() };

Deno.test("udpSide/tcpSide: a transport's own report, or a dual transport's side", () => {
  assert.equal(udpSide(deno), deno);
  assert.equal(tcpSide(deno), null);
  assert.equal(udpSide(tcp), null);
  assert.equal(tcpSide(tcp), tcp);
  const dual = { kind: "udp+tcp" as const, udp: linux, tcp };
  assert.equal(udpSide(dual), linux);
  assert.equal(tcpSide(dual), tcp);
  assert.equal(udpSide({ kind: "udp+tcp", udp: null, tcp: null }), null);
  assert.equal(udpSide(undefined), null);
});

Deno.test("offloadsOf: only where the TUN or the UDP socket can have offloads", () => {
  assert.equal(offloadsOf(deno, null), undefined);
  assert.equal(offloadsOf(null, null), undefined);
  assert.deepEqual(offloadsOf(linux, null), { tun: [], udpGso: true, udpGro: false });
  const tun: TunDriverStats = {
    kind: "tun",
    counters: newDeviceStats(),
    offloads: ["csum", "tso4"],
    offload: null,
  };
  assert.deepEqual(offloadsOf(deno, tun), { tun: ["csum", "tso4"], udpGso: false, udpGro: false });
});

Deno.test("tunMetricsOf: the TUN's counters, with the offload paths' when on", () => {
  assert.deepEqual(tunMetricsOf(null), {});
  const counters = { ...newDeviceStats(), packetsIn: 3 };
  assert.deepEqual(tunMetricsOf({ kind: "tun", counters, offloads: [], offload: null }), {
    tun: counters,
  });
  const offload = {
    gsoReads: 1,
    segments: 2,
    checksumsCompleted: 0,
    readDrops: 0,
    coalescedWrites: 0,
    coalescedPackets: 0,
  };
  assert.deepEqual(tunMetricsOf({ kind: "tun", counters, offloads: ["csum"], offload }), {
    tun: { ...counters, offload },
  });
});
