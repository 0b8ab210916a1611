/** Throughput from byte counters: deltas over time, bursts ignored, departed peers forgotten. */
import assert from "node:assert/strict";
import { Rates } from "./rates.ts";

Deno.test("dashboard rates: from the counters of two documents far enough apart", () => {
  const r = new Rates();
  r.update([{ publicKey: "a", rxBytes: 1000, txBytes: 500 }], 10_000);
  assert.equal(r.get("a"), undefined, "one document gives no rate");
  // Under half a second later: a burst of change events; the figure is kept, not recomputed.
  r.update([{ publicKey: "a", rxBytes: 9000, txBytes: 500 }], 10_400);
  assert.equal(r.get("a"), undefined);
  r.update([{ publicKey: "a", rxBytes: 3000, txBytes: 1500 }], 12_000);
  assert.deepEqual(r.get("a"), { rx: 1000, tx: 500 });
  // A counter that went back (the peer was re-added) reads as zero, not negative.
  r.update([{ publicKey: "a", rxBytes: 0, txBytes: 2500 }], 13_000);
  assert.deepEqual(r.get("a"), { rx: 0, tx: 1000 });
  // A peer no longer listed is forgotten, and starts again when it comes back.
  r.update([{ publicKey: "b", rxBytes: 0, txBytes: 0 }], 14_000);
  assert.equal(r.get("a"), undefined);
  r.update([{ publicKey: "a", rxBytes: 5000, txBytes: 5000 }], 15_000);
  assert.equal(r.get("a"), undefined);
});
