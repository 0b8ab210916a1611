import assert from "node:assert/strict";
import { PeerFeatures } from "./peer_features.ts";

Deno.test("peer features: one hello per peer, answered or timed out to 0, and remembered", async () => {
  const asked: [string, number][] = [];
  let t = 0;
  const f = new PeerFeatures({ ask: (a, id) => asked.push([a, id]), answerMs: 20, now: () => t });
  const a1 = f.flags("10.0.0.1");
  const a2 = f.flags("10.0.0.1");
  assert.equal(asked.length, 1);
  f.heard("10.0.0.1", 1);
  assert.deepEqual([await a1, await a2], [1, 1]);
  assert.equal(await f.flags("10.0.0.1"), 1);
  assert.equal(asked.length, 1);
  assert.equal(await f.flags("10.0.0.2"), 0);
  assert.equal(f.unanswered, 1);
  t += 300_000;
  assert.equal(f.known("10.0.0.1"), undefined);
  f.clear();
});
