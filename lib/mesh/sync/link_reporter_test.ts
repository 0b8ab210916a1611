import assert from "node:assert/strict";
import { linkPath, LinkReporter, type LinkSample, reportGapMs } from "./link_reporter.ts";
import type { WireLink } from "./links.ts";

const KEY = "A".repeat(43) + "=";

Deno.test("link reporter: throughput from the byte counters between two reports", () => {
  let now = 0;
  const sample: LinkSample = {
    publicKey: KEY,
    health: "up",
    rttMs: 2.34567,
    path: "direct",
    rxBytes: 1000,
    txBytes: 500,
  };
  const r = new LinkReporter({ samples: () => [sample], deliver: () => {}, now: () => now });
  // The first sight of a peer has no window yet.
  assert.deepEqual(r.links(), [{ k: KEY, s: "up", r: 2.346, p: "direct", i: 0, o: 0 }]);
  now = 2000;
  sample.rxBytes += 4000;
  sample.txBytes += 1000;
  assert.deepEqual(r.links()[0], { k: KEY, s: "up", r: 2.346, p: "direct", i: 2000, o: 500 });
  // Counters that went back (a new peer entry) give 0, not a negative rate.
  now = 3000;
  sample.rxBytes = 0;
  assert.equal(r.links()[0].i, 0);
});

Deno.test("link reporter: the path a report names", () => {
  assert.equal(linkPath({ path: "direct", transport: "udp" }), "direct");
  assert.equal(linkPath({ path: "direct", transport: "tcp" }), "tcp");
  assert.equal(linkPath({ path: "relay", transport: "tcp" }), "relay");
  assert.equal(linkPath({ path: "none" }), "none");
  assert.equal(linkPath({ path: "idle", transport: "tcp" }), "");
  assert.equal(linkPath({}), "");
});

Deno.test("link reporter: one report at start, then soon after a change, at most once a gap", async () => {
  const sent: { n: number; links: WireLink[]; at: number }[] = [];
  let change = () => {};
  const r = new LinkReporter({
    samples: () => [],
    deliver: (n, links) => sent.push({ n, links, at: performance.now() }),
    onChange: (fn) => {
      change = fn;
      return () => change = () => {};
    },
  }, { intervalMs: 60_000, minGapMs: 150 });
  r.start();
  assert.equal(sent.length, 1);
  // A burst of changes makes one report, no sooner than the gap after the last.
  for (let i = 0; i < 10; i++) change();
  while (sent.length < 2) await new Promise((res) => setTimeout(res, 20));
  assert.ok(sent[1].at - sent[0].at >= 140, `${sent[1].at - sent[0].at} ms apart`);
  await new Promise((res) => setTimeout(res, 300));
  assert.deepEqual(sent.map((s) => s.n), [1, 2]);
  r.close();
  change();
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(sent.length, 2, "nothing after close");
});

Deno.test("link reporter: a large report holds the next back, to the links a second", () => {
  // A member's few links keep the timing's gaps; a leader's 10,000, 10 s at 1,000 a second.
  assert.equal(reportGapMs(1000, 20), 1000);
  assert.equal(reportGapMs(1000, 1000), 1000);
  assert.equal(reportGapMs(1000, 10_000), 10_000);
  assert.equal(reportGapMs(5000, 10_000, 500), 20_000);
});

Deno.test("link reporter: changes all the time take no more links a second than the rate", async () => {
  const links = Array.from({ length: 300 }, (_, i) => ({
    publicKey: `k${i}`,
    health: "up" as LinkSample["health"],
    rttMs: 1,
    rxBytes: 0,
    txBytes: 0,
  }));
  let sampled = 0;
  const sent: number[] = [];
  let change = () => {};
  const r = new LinkReporter({
    samples: () => {
      sampled += links.length;
      return links;
    },
    deliver: () => sent.push(performance.now()),
    onChange: (fn) => {
      change = fn;
      return () => change = () => {};
    },
  }, { intervalMs: 20, minGapMs: 10, linksPerSecond: 1000 });
  r.start();
  // Health changing every few ms (a leader's members joining): the reports of 300 links come
  // 300 ms apart, not every 10 ms gap or 20 ms interval.
  while (sent.length < 3) {
    change();
    await new Promise((res) => setTimeout(res, 5));
  }
  r.close();
  assert.equal(sampled, 3 * links.length);
  const took = sent[2] - sent[0];
  assert.ok(took >= 2 * 300 - 10, `3 reports of 300 links in ${took} ms`);
});
