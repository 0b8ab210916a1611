import assert from "node:assert/strict";
import {
  defaultBurst,
  describeQos,
  formatBurst,
  formatRate,
  parseBurst,
  parseRate,
  QUEUE_MS,
  RateBuckets,
  TAKE_DROP,
  TAKE_PASS,
  TAKE_WAIT,
} from "./qos.ts";

Deno.test("qos: rates in bit, kbit, mbit, gbit (1000-based), integers or decimals", () => {
  assert.equal(parseRate("20mbit"), 20_000_000);
  assert.equal(parseRate("20Mbit"), 20_000_000);
  assert.equal(parseRate(" 1.5 gbit "), 1_500_000_000);
  assert.equal(parseRate("64kbit"), 64_000);
  assert.equal(parseRate("12345bit"), 12_345);
  assert.equal(parseRate("0.5mbit"), 500_000);
  assert.equal(parseRate("1kbit"), 1_000);
  assert.equal(parseRate("100gbit"), 100_000_000_000);
});

Deno.test("qos: bad rates say why", () => {
  const bad = (v: unknown, re: RegExp) => assert.throws(() => parseRate(v), re);
  bad(20, /give a unit.*20mbit/);
  bad("20", /a number and a unit, bit, kbit, mbit or gbit/);
  bad("20mbps", /a number and a unit/);
  bad("20 MB", /a number and a unit/);
  bad("fast", /a number and a unit/);
  bad("-1mbit", /a number and a unit/);
  bad("1e3mbit", /a number and a unit/);
  bad(true, /a number and a unit/);
  bad("999bit", /1kbit-100gbit/);
  bad("0mbit", /1kbit-100gbit/);
  bad("101gbit", /1kbit-100gbit/);
});

Deno.test("qos: bursts in bytes, b, kb, mb (1024-based)", () => {
  assert.equal(parseBurst(65536), 65536);
  assert.equal(parseBurst("64kb"), 65536);
  assert.equal(parseBurst("64KB"), 65536);
  assert.equal(parseBurst("1.5kb"), 1536);
  assert.equal(parseBurst("2mb"), 2 * 1024 * 1024);
  assert.equal(parseBurst("3000b"), 3000);
  assert.equal(parseBurst("3000"), 3000);
  assert.equal(parseBurst("1500b"), 1500);
  assert.equal(parseBurst("64mb"), 64 * 1024 * 1024);
  const bad = (v: unknown, re: RegExp) => assert.throws(() => parseBurst(v), re);
  bad("64kbit", /b, kb or mb \(1024-based/);
  bad("lots", /b, kb or mb/);
  bad(null, /b, kb or mb/);
  bad(1499, /1500b-64mb/);
  bad("1kb", /1500b-64mb/);
  bad("65mb", /1500b-64mb/);
});

Deno.test("qos: rates and bursts print in the largest exact unit and read back", () => {
  assert.equal(formatRate(20_000_000), "20mbit");
  assert.equal(formatRate(1_500_000), "1500kbit");
  assert.equal(formatRate(2_000_000_000), "2gbit");
  assert.equal(formatRate(12_345), "12345bit");
  assert.equal(formatBurst(65536), "64kb");
  assert.equal(formatBurst(2 * 1024 * 1024), "2mb");
  assert.equal(formatBurst(250_000), "250000b");
  for (const r of [1_000, 12_345, 1_500_000, 20_000_000, 100_000_000_000]) {
    assert.equal(parseRate(formatRate(r)), r);
  }
  for (const b of [1500, 1536, 65536, 250_000, 64 * 1024 * 1024]) {
    assert.equal(parseBurst(formatBurst(b)), b);
  }
});

Deno.test("qos: the default burst is 100 ms of the rate, at least 3000 bytes", () => {
  assert.equal(defaultBurst(20_000_000), 250_000);
  assert.equal(defaultBurst(1_000_000_000), 12_500_000);
  assert.equal(defaultBurst(64_000), 3000);
  assert.equal(describeQos({ rate: 20_000_000 }), "rate 20mbit burst 250000b (default)");
  assert.equal(
    describeQos({ rate: 20_000_000, burst: 65536, class: "bulk" }),
    "rate 20mbit burst 64kb class bulk",
  );
  assert.equal(describeQos({ class: "interactive" }), "class interactive");
});

Deno.test("qos: a bucket passes its burst, then waits within its queue, then drops; refills", () => {
  // Rule 0: 8 Mbit/s (1000 bytes per ms), burst 3000 bytes; rule 1 has no rate.
  const b = new RateBuckets([8_000_000, 0], [3000, 0]);
  assert.equal(b.rate[0], 1000);
  assert.equal(b.queue[0], 8_000_000 / 8 * QUEUE_MS / 1000);
  assert.equal(b.rate[1], 0);
  const now = new Float64Array([1000]);
  // The bucket starts full.
  assert.equal(b.take(0, 1500, now, false), TAKE_PASS);
  assert.equal(b.take(0, 1500, now, false), TAKE_PASS);
  // Empty: without room to wait, dropped.
  assert.equal(b.take(0, 1500, now, false), TAKE_DROP);
  // With room, it takes the tokens on credit and leaves when they have come in.
  assert.equal(b.take(0, 1500, now, true), TAKE_WAIT);
  assert.equal(b.due[0], 1001.5);
  assert.equal(b.take(0, 500, now, true), TAKE_WAIT);
  assert.equal(b.due[0], 1002);
  // 2 ms later the credit is paid back: the bucket is at zero, so the next packet waits again.
  now[0] = 1002;
  assert.equal(b.take(0, 1500, now, true), TAKE_WAIT);
  assert.equal(b.due[0], 1003.5);
  // After a pause the bucket is full again (its depth, no more), then the queue is bounded:
  // credit past QUEUE_MS of the rate is refused.
  now[0] = 1010;
  assert.equal(b.take(0, 3000, now, true), TAKE_PASS);
  let waited = 0;
  while (b.take(0, 1000, now, true) === TAKE_WAIT) waited++;
  assert.equal(waited, QUEUE_MS, "100 ms of the rate: 100,000 bytes");
  assert.equal(b.due[0], 1010 + QUEUE_MS);
  assert.deepEqual(b.counts(0), {
    passedBytes: 6000,
    passedPackets: 3,
    delayedBytes: 3500 + waited * 1000,
    delayedPackets: 3 + waited,
    droppedBytes: 2500,
    droppedPackets: 2,
  });
  // A long pause refills it to its depth, no more.
  now[0] = 1_000_000;
  assert.equal(b.take(0, 3000, now, false), TAKE_PASS);
  assert.equal(b.take(0, 1, now, false), TAKE_DROP);
  // A clock that goes back refills nothing.
  now[0] = 10;
  assert.equal(b.take(0, 1, now, false), TAKE_DROP);
});

Deno.test("qos: a reload carries a bucket's tokens, at most the new depth", () => {
  const old = new RateBuckets([8_000_000], [10_000]);
  const now = new Float64Array([5]);
  old.take(0, 9000, now, false);
  const next = new RateBuckets([8_000_000, 8_000_000], [3000, 3000]);
  next.carry(0, old, 0);
  assert.equal(next.tokens[0], 1000);
  assert.equal(next.last[0], 5);
  const deep = new RateBuckets([8_000_000], [500]);
  deep.carry(0, old, 0);
  assert.equal(deep.tokens[0], 500);
  const none = new RateBuckets([0], [0]);
  none.carry(0, old, 0);
  assert.equal(none.tokens[0], 0);
});
