import assert from "node:assert/strict";
import { newDeviceStats, newTransportStats } from "./stats.ts";

Deno.test("newTransportStats: every counter zero, a fresh object each call", () => {
  const s = newTransportStats();
  assert.deepEqual(s, {
    datagramsIn: 0,
    bytesIn: 0,
    datagramsOut: 0,
    bytesOut: 0,
    sendErrors: 0,
    sendDrops: 0,
    recvErrors: 0,
    endpointsEvicted: 0,
  });
  s.bytesIn = 5;
  assert.equal(newTransportStats().bytesIn, 0);
});

Deno.test("newDeviceStats: every counter zero, a fresh object each call", () => {
  const s = newDeviceStats();
  assert.deepEqual(s, {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    readErrors: 0,
    writeErrors: 0,
  });
  s.writeErrors++;
  assert.equal(newDeviceStats().writeErrors, 0);
});
