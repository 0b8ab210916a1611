import assert from "node:assert/strict";
import { Conntrack, DEFAULT_TIMEOUTS } from "./conntrack.ts";
import { FLOW_OK, FlowInfo, parseFlow } from "./packet.ts";
import { ACK, FIN, ping, RST, SYN, tcp, udp } from "../../tests/fixtures/policy_packets.ts";

function flowOf(pkt: Uint8Array): FlowInfo {
  const f = new FlowInfo();
  assert.equal(parseFlow(pkt, f, new FlowInfo()), FLOW_OK);
  return f;
}

/** Sets the table's clock and returns it, so a call reads `at(ct, t).lookup(f)`. */
function at(ct: Conntrack, t: number): Conntrack {
  ct.setTime(t);
  return ct;
}

const A = "10.77.0.1";
const B = "10.77.0.2";

Deno.test("policy conntrack: a flow and its reply find the same entry", () => {
  const ct = new Conntrack();
  const out = flowOf(tcp(A, B, 40000, 443, SYN));
  const e = at(ct, 0).insert(out, 0, 1);
  assert.equal(at(ct, 1).lookup(out), e);
  assert.equal(ct.lastReply, false);
  assert.equal(at(ct, 1).lookup(flowOf(tcp(B, A, 443, 40000, SYN | ACK))), e);
  assert.equal(ct.lastReply, true);
  // Different ports, protocol or addresses are different flows.
  assert.equal(at(ct, 1).lookup(flowOf(tcp(A, B, 40001, 443, SYN))), -1);
  assert.equal(at(ct, 1).lookup(flowOf(tcp(B, A, 40000, 443, SYN))), -1);
  assert.equal(at(ct, 1).lookup(flowOf(udp(A, B, 40000, 443))), -1);
  assert.equal(at(ct, 1).lookup(flowOf(tcp("fd77::1", "fd77::2", 40000, 443, SYN))), -1);
  // ICMP echo: the reply is matched by id; a request the other way is not a reply.
  const echo = at(ct, 0).insert(flowOf(ping(A, B, 77, true)), 0, 1);
  assert.equal(at(ct, 1).lookup(flowOf(ping(B, A, 77, false))), echo);
  assert.equal(ct.lastReply, true);
  assert.equal(at(ct, 1).lookup(flowOf(ping(B, A, 77, true))), -1);
  assert.equal(at(ct, 1).lookup(flowOf(ping(B, A, 78, false))), -1);
  assert.equal(ct.size, 2);
});

Deno.test("policy conntrack: UDP expires after 60 s unreplied, 180 s once replied", () => {
  const ct = new Conntrack();
  const f = flowOf(udp(A, B, 5000, 53));
  const r = flowOf(udp(B, A, 53, 5000));
  let e = at(ct, 0).insert(f, 0, 1);
  assert.equal(at(ct, 59_999).lookup(f), e);
  assert.equal(at(ct, 60_000).lookup(f), -1);
  assert.equal(ct.stats().expired, 1);
  assert.equal(ct.size, 0);
  e = at(ct, 100_000).insert(f, 0, 1);
  at(ct, 110_000).update(e, r, true);
  assert.equal(ct.expiresAt(e), 110_000 + DEFAULT_TIMEOUTS.udpReplied);
  assert.equal(at(ct, 289_999).lookup(f), e);
  assert.equal(at(ct, 290_000).lookup(f), -1);
});

Deno.test("policy conntrack: TCP timeouts follow SYN, reply, FIN and RST", () => {
  const ct = new Conntrack();
  const syn = flowOf(tcp(A, B, 40000, 22, SYN));
  const synAck = flowOf(tcp(B, A, 22, 40000, SYN | ACK));
  const ack = flowOf(tcp(A, B, 40000, 22, ACK));
  const finOut = flowOf(tcp(A, B, 40000, 22, FIN | ACK));
  const finIn = flowOf(tcp(B, A, 22, 40000, FIN | ACK));
  const e = at(ct, 0).insert(syn, 0, 1);
  assert.equal(ct.expiresAt(e), 60_000, "SYN sent");
  at(ct, 1_000).update(e, synAck, true);
  assert.equal(ct.expiresAt(e), 1_000 + 2 * 3600_000, "established");
  at(ct, 2_000).update(e, ack, false);
  assert.equal(ct.isReplied(e), true);
  assert.equal(at(ct, 2_000 + 2 * 3600_000 - 1).lookup(ack), e, "idle 2 h minus 1 ms: kept");
  at(ct, 3_000).update(e, finOut, false);
  assert.equal(ct.expiresAt(e), 3_000 + 120_000, "half-closed");
  assert.equal(ct.isClosed(e), false);
  at(ct, 4_000).update(e, finIn, true);
  assert.equal(ct.expiresAt(e), 4_000 + 30_000, "closing");
  assert.equal(ct.isClosed(e), true);
  assert.equal(at(ct, 34_000).lookup(ack), -1);

  const e2 = at(ct, 50_000).insert(syn, 0, 1);
  at(ct, 50_500).update(e2, flowOf(tcp(B, A, 22, 40000, RST)), true);
  assert.equal(ct.expiresAt(e2), 60_500, "reset");
  assert.equal(ct.isClosed(e2), true);
  assert.equal(at(ct, 60_499).lookup(syn), e2);
  assert.equal(at(ct, 60_500).lookup(syn), -1);
});

Deno.test("policy conntrack: ICMP echo lives 30 s; timeouts are configurable", () => {
  const ct = new Conntrack({ timeouts: { icmp: 5_000, udpUnreplied: 1_000 } });
  const p = flowOf(ping(A, B, 9));
  const e = at(ct, 0).insert(p, 0, 1);
  assert.equal(ct.expiresAt(e), 5_000);
  const u = at(ct, 0).insert(flowOf(udp(A, B, 1, 2)), 0, 1);
  assert.equal(ct.expiresAt(u), 1_000);
  assert.equal(new Conntrack().timeouts.icmp, 30_000);
});

Deno.test("policy conntrack: the bound evicts expired entries first, then the least recently seen", () => {
  const ct = new Conntrack({ maxEntries: 4, maxPerPeer: 4 });
  const flows = [1, 2, 3, 4, 5, 6].map((p) => flowOf(tcp(A, B, 40000 + p, 80, SYN)));
  // Entry 0 is UDP-short: it expires at 60 s while the TCP ones (replied) live for hours.
  const short = flowOf(udp(A, B, 1, 53));
  at(ct, 0).insert(short, 0, 1);
  for (let i = 0; i < 3; i++) {
    const e = at(ct, 0).insert(flows[i], 0, 1);
    at(ct, 0).update(e, flowOf(tcp(B, A, 80, 40001 + i, SYN | ACK)), true);
  }
  assert.equal(ct.size, 4);
  // At 61 s the UDP entry has expired: inserting frees it, no eviction.
  at(ct, 61_000).insert(flows[3], 0, 1);
  assert.deepEqual(ct.stats(), { entries: 4, max: 4, inserts: 5, evictions: 0, expired: 1 });
  assert.equal(at(ct, 61_000).lookup(short), -1);
  // Touch flows[0] so flows[1] is now the least recently seen.
  const e0 = at(ct, 62_000).lookup(flows[0]);
  at(ct, 62_000).update(e0, flows[0], false);
  at(ct, 63_000).insert(flows[4], 0, 1);
  assert.equal(ct.stats().evictions, 1);
  assert.equal(at(ct, 63_000).lookup(flows[1]), -1, "least recently seen was evicted");
  assert.ok(at(ct, 63_000).lookup(flows[0]) >= 0);
  assert.ok(at(ct, 63_000).lookup(flows[2]) >= 0);
  assert.ok(at(ct, 63_000).lookup(flows[3]) >= 0);
  assert.ok(at(ct, 63_000).lookup(flows[4]) >= 0);
  assert.equal(ct.size, 4);
});

Deno.test("policy conntrack: many flows, removals and sweeps keep the table consistent", () => {
  const ct = new Conntrack({ maxEntries: 65_536 });
  const flows: FlowInfo[] = [];
  for (let i = 0; i < 20_000; i++) {
    const v6 = i % 3 === 0;
    const src = v6 ? `fd77::${(i % 200) + 1}` : `10.77.${i % 250}.${(i >> 8) % 250 + 1}`;
    const dst = v6 ? "fd77::ffff" : "10.78.0.1";
    const pkt = i % 2 === 0
      ? udp(src, dst, 1024 + (i % 60000), 53)
      : tcp(src, dst, 1024 + i % 60000, 443, SYN);
    flows.push(flowOf(pkt));
  }
  const ids = flows.map((f, i) =>
    at(ct, 0).lookup(f) >= 0 ? -1 : at(ct, i % 2 ? 0 : 1).insert(f, 0, 1)
  );
  const live = ids.filter((e) => e >= 0).length;
  assert.equal(ct.size, live);
  flows.forEach((f, i) => {
    if (ids[i] >= 0) assert.equal(at(ct, 10).lookup(f), ids[i]);
  });
  // Remove every third, then check the rest are still found and the removed are not.
  ids.forEach((e, i) => {
    if (e >= 0 && i % 3 === 0) ct.remove(e);
  });
  flows.forEach((f, i) => {
    if (ids[i] < 0) return;
    assert.equal(at(ct, 10).lookup(f) >= 0, i % 3 !== 0, `flow ${i}`);
  });
  // Both are unreplied (60 s); TCP went in at t=0 and UDP at t=1 ms, so only TCP has expired.
  const before = ct.size;
  const tcpLeft = ids.filter((e, i) => e >= 0 && i % 3 !== 0 && i % 2 === 1).length;
  assert.equal(at(ct, 60_000.5).sweep(), tcpLeft);
  assert.equal(ct.size, before - tcpLeft);
  flows.forEach((f, i) => {
    if (ids[i] >= 0 && i % 3 !== 0) assert.equal(at(ct, 60_000.5).lookup(f) >= 0, i % 2 === 0);
  });
  ct.clear();
  assert.equal(ct.size, 0);
  assert.equal(at(ct, 0).lookup(flows[1]), -1);
  // After clear the whole pool is usable again.
  for (let i = 0; i < 1000; i++) at(ct, 0).insert(flows[i], 0, 1);
  assert.equal(ct.size, 1000);
});

Deno.test("policy conntrack: rejects a silly bound", () => {
  assert.throws(() => new Conntrack({ maxEntries: 0 }), RangeError);
  assert.throws(() => new Conntrack({ maxEntries: 1.5 }), RangeError);
});

Deno.test("policy conntrack: one peer's flood never evicts another peer's established flow", () => {
  const ct = new Conntrack({ maxEntries: 1024 });
  const C = "10.77.0.3";
  // B's established flow, seen long ago (the least recent entry of the table).
  const mine = flowOf(tcp(B, A, 50000, 22, SYN));
  const e = at(ct, 0).insert(mine, 1, 1);
  at(ct, 0).update(e, flowOf(tcp(A, B, 22, 50000, SYN | ACK)), true);
  // C is allowed any flow and opens 70,000 of them (inbound: C is the far end).
  for (let i = 0; i < 70_000; i++) {
    at(ct, 1 + i).insert(flowOf(udp(C, A, 1024 + (i % 60000), 9 + Math.floor(i / 60000))), 1, 1);
  }
  assert.ok(at(ct, 70_001).lookup(mine) >= 0, "B's flow is still tracked");
  assert.ok(ct.size <= 1024);
  assert.ok(ct.stats().evictions > 0);
  // C holds at most its quota; the rest of the table is left to the others.
  assert.equal(ct.maxPerPeer, 512);
  assert.ok(ct.size <= 512 + 1, String(ct.size));
});

Deno.test("policy conntrack: a full table evicts from the peer holding most", () => {
  const ct = new Conntrack({ maxEntries: 8, maxPerPeer: 8 });
  const C = "10.77.0.3";
  // B: 2 flows, oldest; C: 6 flows.
  const b = [1, 2].map((p) => flowOf(tcp(B, A, 50000 + p, 22, SYN)));
  for (const f of b) at(ct, 0).insert(f, 1, 1);
  for (let i = 0; i < 6; i++) at(ct, 1).insert(flowOf(tcp(C, A, 40000 + i, 80, SYN)), 1, 1);
  assert.equal(ct.size, 8);
  // The table is full: room is made among C's flows, though B's are older.
  at(ct, 2).insert(flowOf(tcp(C, A, 41000, 80, SYN)), 1, 1);
  for (const f of b) assert.ok(at(ct, 2).lookup(f) >= 0);
  assert.equal(ct.stats().evictions, 1);
});
