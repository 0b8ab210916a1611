import assert from "node:assert/strict";
import { generateKeyPair } from "../../crypto/keys.ts";
import {
  DEFAULT_LEASE_TIMING,
  isLeaseMessageType,
  type LeaseRow,
  leaseTiming,
  MAX_TABLE_ROWS,
  parseLeaseMessage,
  tableParts,
} from "./protocol.ts";

const key = generateKeyPair().publicKey;

Deno.test("lease protocol: well-formed messages parse into fresh objects without extra fields", () => {
  assert.deepEqual(parseLeaseMessage({ t: "lease-ask", s: "auth", n: 3, x: 1 }), {
    t: "lease-ask",
    s: "auth",
    n: 3,
  });
  assert.deepEqual(parseLeaseMessage({ t: "lease-ask", s: "auth", n: 3, tk: 9 }), {
    t: "lease-ask",
    s: "auth",
    n: 3,
    tk: 9,
  });
  assert.deepEqual(parseLeaseMessage({ t: "lease-release", s: "db", tk: 1 }), {
    t: "lease-release",
    s: "db",
    tk: 1,
  });
  assert.deepEqual(parseLeaseMessage({ t: "lease", s: "db", h: key, tk: 2, ttl: 6000, n: 4 }), {
    t: "lease",
    s: "db",
    h: key,
    tk: 2,
    ttl: 6000,
    n: 4,
  });
  assert.deepEqual(parseLeaseMessage({ t: "lease", s: "db", h: null, tk: 2, ttl: 0 }), {
    t: "lease",
    s: "db",
    h: null,
    tk: 2,
    ttl: 0,
  });
  assert.deepEqual(parseLeaseMessage({ t: "leases", l: [["db", key, 2, 10]] }), {
    t: "leases",
    l: [["db", key, 2, 10]],
  });
});

Deno.test("lease protocol: malformed messages are refused", () => {
  const bad: unknown[] = [
    null,
    [],
    "lease",
    { t: "lease-ask", s: "Auth", n: 1 },
    { t: "lease-ask", s: "a.b", n: 1 },
    { t: "lease-ask", s: "auth", n: -1 },
    { t: "lease-ask", s: "auth", n: 1.5 },
    { t: "lease-ask", s: "auth", n: 1, tk: 0 },
    { t: "lease-release", s: "auth" },
    { t: "lease", s: "db", h: "not-a-key", tk: 1, ttl: 1 },
    { t: "lease", s: "db", h: key, tk: 1, ttl: 3_600_001 },
    { t: "lease", s: "db", h: key, tk: 1, ttl: 1, n: "1" },
    { t: "leases", l: [["db", key, 0, 1]] },
    { t: "leases", l: [["db", key, 1]] },
    { t: "leases", l: "x" },
    { t: "leases", l: Array.from({ length: MAX_TABLE_ROWS + 1 }, () => ["db", key, 1, 1]) },
    { t: "lease-other", s: "db" },
  ];
  for (const b of bad) assert.equal(parseLeaseMessage(b), null, JSON.stringify(b));
  assert.ok(isLeaseMessageType("leases"));
  assert.ok(!isLeaseMessageType("hello"));
});

Deno.test("lease protocol: table parts stay under a datagram and keep every row", () => {
  assert.deepEqual(tableParts([]), []);
  const rows: LeaseRow[] = Array.from(
    { length: 300 },
    (_, i) => [`service-${i}`, key, i + 1, 5000] as LeaseRow,
  );
  const parts = tableParts(rows);
  assert.ok(parts.length > 1);
  for (const p of parts) {
    assert.ok(JSON.stringify(p).length < 1300, String(JSON.stringify(p).length));
    assert.deepEqual(parseLeaseMessage(JSON.parse(JSON.stringify(p))), p);
  }
  assert.deepEqual(parts.flatMap((p) => p.l), rows);
});

Deno.test("lease protocol: timing defaults and refusals", () => {
  assert.deepEqual(leaseTiming(), DEFAULT_LEASE_TIMING);
  assert.equal(leaseTiming({ ttlMs: 1000, renewMs: 300 }).ttlMs, 1000);
  assert.throws(() => leaseTiming({ renewMs: 6000 }), /renewMs/);
  assert.throws(() => leaseTiming({ ttlMs: 10 }), /ttlMs/);
  assert.throws(() => leaseTiming({ maxDrift: 0.6 }), /maxDrift/);
  assert.throws(() => leaseTiming({ marginMs: 6000 }), /marginMs/);
});
