import assert from "node:assert/strict";
import { DEFAULT_RELAY_RATE, TokenBucket } from "./bucket.ts";

Deno.test("relay bucket: a burst of packets, then the steady packet rate", () => {
  const b = new TokenBucket({ bytesPerSecond: 1e9, packetsPerSecond: 1000, burstMs: 100 }, 0);
  let n = 0;
  while (b.take(100, 0)) n++;
  assert.equal(n, 100, "100 ms of 1,000/s");
  let passed = 0;
  for (let t = 1; t <= 1000; t++) if (b.take(100, t)) passed++;
  assert.equal(passed, 1000, "one a millisecond for a second");
});

Deno.test("relay bucket: bytes limit large packets where packets would not", () => {
  const b = new TokenBucket({ bytesPerSecond: 100_000, packetsPerSecond: 1e6, burstMs: 100 }, 0);
  let n = 0;
  while (b.take(1000, 0)) n++;
  assert.equal(n, 10, "10,000 bytes of burst");
  assert.ok(!b.take(1000, 5), "5 ms bring back only 500 bytes");
  assert.ok(b.take(1000, 10));
});

Deno.test("relay bucket: a refused packet spends nothing; the clock going back adds nothing", () => {
  const b = new TokenBucket({ bytesPerSecond: 1000, packetsPerSecond: 10, burstMs: 1000 }, 0);
  assert.ok(b.take(600, 0));
  assert.ok(!b.take(600, 0), "400 bytes left");
  assert.ok(b.take(400, 0), "the refusal above did not spend them");
  assert.ok(!b.take(1, -5000));
});

Deno.test("relay bucket: the largest packet always fits the burst, however low the rate", () => {
  const b = new TokenBucket({ bytesPerSecond: 1000, packetsPerSecond: 1, burstMs: 10 }, 0, 1468);
  assert.ok(b.take(1468, 0));
  assert.ok(!b.take(1468, 0));
});

Deno.test("relay bucket: defaults are 10,000 Mbit/s and 1,250,000 packets/s; bad rates are refused", () => {
  assert.equal(DEFAULT_RELAY_RATE.bytesPerSecond, 1_250_000_000);
  assert.equal(DEFAULT_RELAY_RATE.packetsPerSecond, 1_250_000);
  for (const bad of [0, -1, NaN, Infinity]) {
    assert.throws(
      () => new TokenBucket({ ...DEFAULT_RELAY_RATE, bytesPerSecond: bad }, 0),
      RangeError,
    );
    assert.throws(
      () => new TokenBucket({ ...DEFAULT_RELAY_RATE, packetsPerSecond: bad }, 0),
      RangeError,
    );
    assert.throws(() => new TokenBucket({ ...DEFAULT_RELAY_RATE, burstMs: bad }, 0), RangeError);
  }
});

Deno.test("relay bucket: allows spends nothing; take spends what allows saw", () => {
  const b = new TokenBucket({ bytesPerSecond: 1000, packetsPerSecond: 10, burstMs: 1000 }, 0);
  for (let i = 0; i < 5; i++) assert.ok(b.allows(1000, 0));
  assert.ok(b.take(1000, 0));
  assert.ok(!b.allows(1, 0), "the burst is spent");
  assert.ok(b.allows(500, 500), "half a second brings back 500 bytes");
});
