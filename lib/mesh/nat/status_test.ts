import assert from "node:assert/strict";
import { DEFAULT_PATH_TIMING, PathTable } from "../../nat/paths.ts";
import { PathCounters, pathMetrics, peerPathStatus } from "./status.ts";

Deno.test("nat_status: an unknown peer has no path", () => {
  const none = { path: "none", candidates: [], pathChangedAt: null };
  assert.deepEqual(peerPathStatus(undefined, null, 0), none);
  const table = new PathTable(DEFAULT_PATH_TIMING);
  table.peer("k").setCandidates([{ endpoint: "192.0.2.1:51820", kind: "advertised" }], 0);
  assert.deepEqual(peerPathStatus(table.get("k"), undefined, 0), none);
});

Deno.test("nat_status: a peer's candidates and last change", () => {
  const table = new PathTable(DEFAULT_PATH_TIMING);
  table.peer("k").setCandidates([{ endpoint: "192.0.2.1:51820", kind: "advertised" }], 0);
  const s = peerPathStatus(table.get("k"), 0, 0);
  assert.equal(s.path, "none");
  assert.equal(s.pathChangedAt, new Date(0).toISOString());
  assert.deepEqual(s.candidates, [{
    endpoint: "192.0.2.1:51820",
    kind: "advertised",
    confirmed: false,
    rttMs: null,
    chosen: false,
  }]);
});

Deno.test("nat_status: metrics count changes, drops and states; announce drops while on", () => {
  const table = new PathTable(DEFAULT_PATH_TIMING);
  table.peer("a");
  const counters = new PathCounters();
  counters.changes.add("lan", 2);
  counters.drops.add("callme-malformed");
  const m = pathMetrics(table, counters, { auth: 3 }, null);
  assert.deepEqual(m.changes, {
    punched: 0,
    lan: 2,
    rtt: 0,
    failed: 0,
    roamed: 0,
    relay: 0,
    tcp: 0,
    direct: 0,
  });
  assert.equal(m.drops.auth, 3);
  assert.equal(m.drops["callme-malformed"], 1);
  assert.equal(m.drops["stale-pong"], 0);
  assert.deepEqual(m.states, { direct: 0, none: 1 });
  assert.equal("announceDrops" in m, false);
  const on = pathMetrics(table, counters, {}, { "not-member": 4 });
  assert.deepEqual(on.announceDrops, { "not-member": 4 });
});
