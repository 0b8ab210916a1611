import assert from "node:assert/strict";
import { tcpSettings } from "./tcp_options.ts";
import { TCP_MAX_FRAME } from "./tcp_stream.ts";

Deno.test("tcp options: the defaults", () => {
  const s = tcpSettings({ port: 0 });
  assert.deepEqual(
    [s.maxFrame, s.maxConnections, s.maxPendingPerAddress, s.idleTimeout, s.silentTimeout],
    [TCP_MAX_FRAME, 1024, 32, 180_000, 10_000],
  );
  assert.deepEqual(
    [s.dialTimeout, s.redialDelay, s.maxDialQueue, s.maxQueued, s.maxTotalQueued, s.sweepInterval],
    [5_000, 1_000, 64, 4 * 1024 * 1024, 32 * 1024 * 1024, 5_000],
  );
  assert.equal(s.now, Date.now);
  assert.equal(s.onDial, undefined);
});

Deno.test("tcp options: bad values are refused, naming the option", () => {
  const bad: [Record<string, number>, RegExp][] = [
    [{ maxFrame: 0 }, /maxFrame must be a positive integer/],
    [{ maxFrame: TCP_MAX_FRAME + 1 }, /maxFrame is at most 65535/],
    [{ maxConnections: 1.5 }, /maxConnections must be a positive integer/],
    [{ idleTimeoutMs: -1 }, /idleTimeoutMs/],
    [{ redialDelayMs: -1 }, /redialDelayMs must be 0 or more/],
    [{ redialDelayMs: NaN }, /redialDelayMs must be 0 or more/],
    [{ maxQueuedBytes: 1000 }, /maxQueuedBytes must hold at least one frame/],
    [{ sweepIntervalMs: -5 }, /sweepIntervalMs must be 0 or more/],
  ];
  for (const [opts, msg] of bad) assert.throws(() => tcpSettings({ port: 0, ...opts }), msg);
  // Zero is a value, not a missing one, where the option allows it.
  const s = tcpSettings({ port: 0, redialDelayMs: 0, sweepIntervalMs: 0, maxFrame: 100 });
  assert.deepEqual([s.redialDelay, s.sweepInterval, s.maxFrame], [0, 0, 100]);
  // A small frame cap lets a small queue cap hold one frame.
  assert.equal(tcpSettings({ port: 0, maxFrame: 100, maxQueuedBytes: 200 }).maxQueued, 200);
});
