import assert from "node:assert/strict";
import {
  agentGrowth,
  churnTimes,
  growthPct,
  lastReport,
  type MemorySample,
  parseIperf,
  parsePingSummary,
  parseProbe,
  parseSoakArgs,
  sampleLine,
  sampleSeconds,
  sampleTimes,
  snapshotIndexes,
  SOAK_POLICIES,
  thirds,
  withinTargets,
} from "./soak_stats.ts";
import { parsePolicy } from "../../lib/policy/parse.ts";

const MiB = 1024 * 1024;

function sample(t: number, rssMiB: number, heapMiB: number, fds: number | null = 40): MemorySample {
  return { t, rss: rssMiB * MiB, heapUsed: heapMiB * MiB, heapTotal: 0, external: 0, fds };
}

Deno.test("soak args: defaults, flags, and the errors a user gets", () => {
  const d = parseSoakArgs([]);
  assert.deepEqual(d, {
    minutes: 60,
    rate: "300M",
    relayRate: "50M",
    udpRate: "20M",
    sampleSeconds: 60,
    json: false,
    snapshots: null,
  });
  assert.equal(parseSoakArgs(["--snapshots", "/tmp/x"]).snapshots, "/tmp/x");
  const o = parseSoakArgs(["--minutes", "2", "--rate", "1G", "--json", "--sample", "5"], 3);
  assert.equal(o.minutes, 2);
  assert.equal(o.rate, "1G");
  assert.equal(o.sampleSeconds, 5);
  assert.ok(o.json);
  assert.equal(parseSoakArgs([], 3).minutes, 3);
  assert.throws(() => parseSoakArgs(["--minutes", "0"]), /positive/);
  assert.throws(() => parseSoakArgs(["--minutes"]), /needs a value/);
  assert.throws(() => parseSoakArgs(["--rate", "fast"]), /iperf3 rate/);
  assert.throws(() => parseSoakArgs(["--seconds", "3"]), /unknown flag --seconds/);
});

Deno.test("soak schedule: a sample a minute, at least 10 a run; churn each minute", () => {
  assert.equal(sampleSeconds(60), 60);
  assert.equal(sampleSeconds(2), 12);
  assert.equal(sampleSeconds(0.5), 5);
  assert.deepEqual(sampleTimes(120, 12), [0, 12, 24, 36, 48, 60, 72, 84, 96, 108, 120]);
  assert.equal(sampleTimes(3600, 60).length, 61);
  assert.deepEqual(sampleTimes(100, 30), [0, 30, 60, 100]);
  assert.deepEqual(churnTimes(120), [60]);
  assert.deepEqual(churnTimes(180), [60, 120]);
  assert.deepEqual(churnTimes(30), []);
  assert.deepEqual(snapshotIndexes(11), [3, 10]);
  assert.deepEqual(snapshotIndexes(2), [1]);
});

Deno.test("thirds split in order, the first the shortest", () => {
  assert.deepEqual(thirds([1, 2, 3]), [[1], [2], [3]]);
  assert.deepEqual(thirds([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), [
    [1, 2, 3],
    [4, 5, 6, 7],
    [8, 9, 10, 11],
  ]);
  assert.deepEqual(thirds([]), [[], [], []]);
});

Deno.test("growth: between the medians of the middle and last thirds", () => {
  assert.equal(growthPct(100, 105), 5);
  assert.ok(Number.isNaN(growthPct(0, 5)));
  // A warm-up climb in the first third does not count; one outlier per third does not move it.
  const rss = [50, 80, 99, 100, 100, 130, 100, 104, 104, 104, 60];
  const s = rss.map((r, i) => sample(i * 60, r, r / 10, i === 10 ? 42 : 40));
  // Full GCs at the middle third's first sample (3) and the last (10): the live heap.
  s[3].afterGc = { rss: 90 * MiB, heapUsed: 20 * MiB, external: 0 };
  s[10].afterGc = { rss: 58 * MiB, heapUsed: 20.5 * MiB, external: 0 };
  const g = agentGrowth("da", s);
  assert.equal(g.samples, 11);
  assert.equal(g.rssMidMiB, 100);
  assert.equal(g.rssLastMiB, 104);
  assert.equal(g.rssGrowthPct, 4);
  assert.equal(g.rssMaxMiB, 130);
  assert.equal(g.heapGrowthPct, 4);
  assert.deepEqual([g.liveMidMiB, g.liveLastMiB, g.liveGrowthPct], [20, 20.5, 2.5]);
  assert.deepEqual([g.fdsFirst, g.fdsLast, g.fdsMax], [40, 42, 42]);
  assert.equal(withinTargets(g), false); // fds grew
  assert.equal(withinTargets({ ...g, fdsLast: 40 }), true);
  assert.equal(withinTargets({ ...g, fdsLast: 40, liveGrowthPct: 5.1 }), false);
  assert.equal(withinTargets({ ...g, fdsLast: 40, rssGrowthPct: 5.1 }), false);
  // The heap used as it runs is a saw between V8's collections: not a target.
  assert.equal(withinTargets({ ...g, fdsLast: 40, heapGrowthPct: 9 }), true);
  const few = agentGrowth("lead", [sample(0, 10, 1), sample(60, 11, 1)]);
  assert.ok(Number.isNaN(few.rssGrowthPct));
  assert.ok(Number.isNaN(few.liveGrowthPct));
  assert.equal(withinTargets(few), false);
});

Deno.test("probe lines: parsed, or null when the probe failed", () => {
  const line = JSON.stringify({ rss: 3 * MiB, heapTotal: 2, heapUsed: MiB, external: 7, fds: 31 });
  assert.deepEqual(parseProbe(`Debugger listening...\n${line}\n`, 12), {
    t: 12,
    rss: 3 * MiB,
    heapUsed: MiB,
    heapTotal: 2,
    external: 7,
    fds: 31,
  });
  assert.equal(parseProbe(JSON.stringify({ rss: 1, heapUsed: 1, fds: null }), 0)?.fds, null);
  assert.equal(parseProbe("no inspector", 0), null);
  assert.equal(parseProbe("{cut", 0), null);
  assert.equal(
    sampleLine("lead", { ...sample(125, 80, 12.25, 37), heapTotal: 16 * MiB, external: 2 * MiB }),
    "  2:05 lead  rss   80.0 MiB  heap   12.3 MiB of   16.0 MiB  external    2.0 MiB  fds 37",
  );
  const gc = { rss: 70 * MiB, heapUsed: 10 * MiB, external: 2 * MiB };
  assert.ok(
    sampleLine("lead", { ...sample(125, 80, 12.25, 37), afterGc: gc })
      .endsWith("fds 37  after a full GC: rss   70.0 MiB  heap   10.0 MiB"),
  );
});

Deno.test("ping and iperf3 summaries", () => {
  const ping = `--- 198.18.32.3 ping statistics ---
600 packets transmitted, 597 received, 0.5% packet loss, time 119803ms
rtt min/avg/max/mdev = 0.211/0.602/8.104/0.512 ms`;
  assert.deepEqual(parsePingSummary(ping), { sent: 600, received: 597, lostPct: 0.5 });
  assert.deepEqual(
    parsePingSummary("10 packets transmitted, 0 received, +10 errors, 100% packet loss"),
    { sent: 10, received: 0, lostPct: 100 },
  );
  assert.equal(parsePingSummary(""), null);
  const tcp = JSON.stringify({
    end: { sum_sent: { retransmits: 12 }, sum_received: { bits_per_second: 299_870_000 } },
  });
  assert.deepEqual(parseIperf(tcp), { mbps: 299.9, retransmits: 12, lostPct: null, error: null });
  const udp = JSON.stringify({
    end: { sum_received: { bits_per_second: 19_990_000, lost_percent: 0.0123 } },
  });
  assert.deepEqual(parseIperf(udp), { mbps: 20, retransmits: null, lostPct: 0.01, error: null });
  assert.equal(
    parseIperf(JSON.stringify({ error: "unable to connect" }))?.error,
    "unable to connect",
  );
  assert.equal(parseIperf("iperf3: error"), null);
});

Deno.test("a driver's last report of a kind", () => {
  const out = [
    '{"kind":"calls","ok":1}',
    "Debugger session started.",
    '{"kind":"policy","applied":3}',
    '{"kind":"calls","ok":2}',
    '{"kind":"calls","o',
  ].join("\n");
  assert.deepEqual(lastReport(out, "calls"), { kind: "calls", ok: 2 });
  assert.deepEqual(lastReport(out, "policy"), { kind: "policy", applied: 3 });
  assert.equal(lastReport(out, "dns"), null);
});

Deno.test("the two policies parse and differ, and each allows tcp, udp and icmp", () => {
  const [a, b] = SOAK_POLICIES.map((t) => parsePolicy(t));
  assert.notDeepEqual(a, b);
  assert.equal(a.policies.length, 1);
  assert.deepEqual(b.policies.map((p) => p.name), ["soak-tcp", "soak-udp", "soak-icmp"]);
  for (const d of [a, b]) assert.ok(d.policies.every((p) => p.action === "allow"));
});
