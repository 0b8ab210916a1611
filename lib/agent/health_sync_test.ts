import assert from "node:assert/strict";
import { HealthSync } from "./health_sync.ts";

/** A device's peers, a watch list and a tracker, faked; the sync over them. */
function fake(scope: "all" | "watched") {
  const peers = new Map<string, number>();
  const watched = scope === "watched" ? new Set<string>() : null;
  const tracked = new Map<string, number>();
  const calls = { track: 0, reprobe: 0, untrack: 0 };
  const make = (): HealthSync =>
    new HealthSync({
      handshakeOf: (k) => peers.get(k),
      peerKeys: () => peers.keys(),
      watched,
      tracked: { has: (k) => tracked.has(k), keys: () => [...tracked.keys()] },
      track: (k, hs) => {
        calls.track++;
        tracked.set(k, hs);
        sync.touched(k); // as the tracker tells of a key it takes up
      },
      reprobe: () => void calls.reprobe++,
      untrack: (k) => {
        calls.untrack++;
        tracked.delete(k);
        sync.touched(k); // as the tracker tells of a key it drops
      },
    });
  const sync = make();
  return { peers, watched, tracked, calls, sync, make };
}

/** What a sync over every peer would track now. */
function rebuilt(f: ReturnType<typeof fake>): string[] {
  return [...f.peers.keys()].filter((k) => f.watched === null || f.watched.has(k)).sort();
}

for (const scope of ["all", "watched"] as const) {
  Deno.test(`health sync (${scope}): after peers and watches come and go, the tracked keys are those of a sync over every peer`, () => {
    const f = fake(scope);
    let seed = 7;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    f.sync.sync(); // the first: every peer (none)
    for (let round = 0; round < 200; round++) {
      for (let op = 0; op < 5; op++) {
        const k = `k${rand(40)}`;
        switch (rand(6)) {
          case 0:
          case 1:
            f.peers.set(k, round); // a peer set
            f.sync.touched(k);
            break;
          case 2:
            f.peers.delete(k); // removed
            f.sync.touched(k);
            break;
          case 3:
            if (f.watched) f.watched.has(k) ? f.watched.delete(k) : f.watched.add(k);
            f.sync.touched(k);
            break;
          case 4:
            // A sample of a key not followed (a probe's late answer): the tracker takes it up.
            if (!f.tracked.has(k)) {
              f.tracked.set(k, 0);
              f.sync.touched(k);
            }
            break;
          case 5:
            // The tracker drops a key (an embedder's removePeer): it tells of it.
            if (f.tracked.delete(k)) f.sync.touched(k);
        }
      }
      f.sync.sync();
      assert.deepEqual([...f.tracked.keys()].sort(), rebuilt(f), `round ${round}`);
    }
    assert.ok(f.calls.track > 20 && f.calls.untrack > 20, JSON.stringify(f.calls));
    // A sync over every peer now changes nothing.
    const before = { ...f.calls };
    f.sync.everyPeer();
    f.sync.sync();
    assert.equal(f.calls.track, before.track);
    assert.equal(f.calls.untrack, before.untrack);
  });
}

Deno.test("health sync: a sync looks at the keys touched since the last one, not at every peer", () => {
  const f = fake("all");
  for (let i = 0; i < 1000; i++) f.peers.set(`k${i}`, 0);
  f.sync.sync();
  assert.equal(f.tracked.size, 1000);
  // The tracker tells of each key the sync took up (onAdded): not looked at again.
  assert.equal(f.sync.pending, 0, "the keys this sync tracked are not touched again");
  const reprobes = f.calls.reprobe;
  assert.equal(reprobes, 0);
  f.sync.sync();
  assert.equal(f.calls.reprobe, reprobes, "nothing touched: nothing looked at");
  f.peers.set("k5", 9);
  f.sync.touched("k5");
  f.peers.delete("k6");
  f.sync.touched("k6");
  f.sync.sync();
  assert.equal(f.calls.reprobe, reprobes + 1, "k5's address may have moved");
  assert.equal(f.tracked.has("k6"), false);
  assert.equal(f.sync.pending, 0, "the key this sync untracked is not touched again");
  // The prober starts: every peer is looked at once.
  f.sync.everyPeer();
  f.sync.sync();
  assert.equal(f.calls.reprobe, reprobes + 1 + 999);
});
