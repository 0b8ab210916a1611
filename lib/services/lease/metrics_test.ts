import assert from "node:assert/strict";
import { leaseMetrics } from "./metrics.ts";
import type { LeaseStats } from "./runtime.ts";

const client = { asks: 9, releases: 1, lapsed: 2, tableFull: 3 };

Deno.test("lease metrics: every service known with its leader or none; the client's counters", () => {
  const heard = { inView: 4, outOfView: 1 };
  const m = leaseMetrics({ client, leaderChanges: { echo: 2 }, holdersHeard: heard }, [
    "db",
    "echo",
  ], [
    {
      name: "echo",
      member: "n1",
      publicKey: "k1",
      address: "10.0.0.1",
      token: 4,
      expiresAt: 0,
    },
    { name: "jobs", member: "n2", publicKey: "k2", address: "10.0.0.2", token: 1, expiresAt: 0 },
  ]);
  assert.deepEqual(m.leaders, [
    { service: "db", node: null },
    { service: "echo", node: "n1" },
    { service: "jobs", node: "n2" },
  ]);
  assert.deepEqual(m.changes, { echo: 2 });
  assert.deepEqual(m.heard, heard);
  assert.deepEqual(m.client, { asks: 9, releases: 1, lapsed: 2, rowsDropped: 3 });
  assert.equal(m.arbiter, undefined);
});

Deno.test("lease metrics: the arbiter's ends by reason and refusals in kebab-case", () => {
  const stats: LeaseStats = {
    client,
    leaderChanges: {},
    holdersHeard: { inView: 0, outOfView: 0 },
    arbiter: {
      granted: 5,
      renewed: 50,
      released: 1,
      expired: 2,
      refused: {
        notMember: 1,
        notOffered: 2,
        unhealthy: 3,
        tooManyServices: 4,
        tooManyCandidates: 5,
        rateLimited: 6,
        askRate: 9,
      },
      staleReleases: 7,
      persistFailed: 8,
      storeFailed: 4,
    },
  };
  assert.deepEqual(leaseMetrics(stats, [], []).arbiter, {
    granted: 5,
    renewed: 50,
    ended: { released: 1, expired: 2 },
    refused: {
      "not-member": 1,
      "not-offered": 2,
      unhealthy: 3,
      "too-many-services": 4,
      "too-many-candidates": 5,
      "rate-limited": 6,
      "ask-rate": 9,
    },
    staleReleases: 7,
    persistFailed: 8,
    storeFailed: 4,
  });
});
