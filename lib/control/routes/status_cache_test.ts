import assert from "node:assert/strict";
import {
  LARGE_STATUS_PEERS,
  LARGE_STATUS_REUSE_MAX_MS,
  LARGE_STATUS_REUSE_MS,
  LARGE_STATUS_STALE_MS,
  largeStatusReuseMs,
  largeStatusStaleMs,
  StatusCache,
  type StatusCacheSource,
} from "./status_cache.ts";

/** An agent whose status has `size()` peers and names each build; `slices` counts sliced ones. */
function agent(size: () => number, sliced = false) {
  const counts = { builds: 0, slices: 0, fail: false };
  const doc = () => {
    if (counts.fail) throw new Error("the agent is going");
    return {
      node: { name: `build${++counts.builds}` },
      peers: Array.from({ length: size() }, (_, i) => ({ publicKey: `k${i}` })),
    };
  };
  const source = {
    status: doc,
    ...(sliced
      ? {
        statusInSlices: async (pause: () => Promise<void>) => {
          await pause();
          counts.slices++;
          return doc();
        },
      }
      : {}),
  } as unknown as StatusCacheSource;
  return { source, counts };
}

/** Turns of the event loop until `cond` holds (the rebuild's slices are turns, not time). */
async function turnsUntil(cond: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 0));
  }
  throw new Error(`never: ${what}`);
}

const nameOf = (b: { doc: { node: unknown } }) => (b.doc.node as { name: string }).name;

Deno.test("StatusCache: a small document is built for every request and not kept", async () => {
  const { source, counts } = agent(() => 2);
  const cache = new StatusCache(source, undefined, () => 0);
  const a = await cache.current();
  const b = await cache.current();
  assert.equal(nameOf(a), "build1");
  assert.equal(nameOf(b), "build2");
  assert.equal(cache.isKept(b), false);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(cache.body(b))).peers, b.doc.peers);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(cache.peers(a))), a.doc.peers);
  assert.equal(counts.builds, 2);
});

Deno.test("StatusCache: a large document is kept, rebuilt in later turns past the reuse time, waited for past the stale time", async () => {
  let now = 0;
  const { source, counts } = agent(() => LARGE_STATUS_PEERS + 1, true);
  const mesh = { members: [] } as never;
  const cache = new StatusCache(source, () => mesh, () => now);
  const first = await cache.current();
  assert.ok(cache.isKept(first));
  assert.equal(await cache.current(), first);
  // One text for /status and /peers: the peers' part is a view of the body's bytes.
  const body = cache.body(first);
  const peers = cache.peers(first);
  assert.equal(peers.buffer, body.buffer);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(body)).mesh, mesh);
  await turnsUntil(() => Promise.resolve(first.gzip !== null), "the kept document's gzip");
  // Past the reuse time: served as it is, the next built with the sliced build in later turns.
  now = LARGE_STATUS_REUSE_MS;
  assert.equal(await cache.current(), first);
  await turnsUntil(async () => nameOf(await cache.current()) === "build2", "the rebuild");
  assert.equal(counts.slices, 1);
  const second = await cache.current();
  assert.ok(cache.isKept(second) && second.gzip !== null && second.body !== null);
  assert.equal(second.at, LARGE_STATUS_REUSE_MS);
  // Past the stale time with no rebuild under way: built while the request waits.
  now = LARGE_STATUS_REUSE_MS + LARGE_STATUS_STALE_MS;
  assert.equal(nameOf(await cache.current()), "build3");
  // Past the stale time while a rebuild is under way: that one, once done, not one more.
  now += LARGE_STATUS_REUSE_MS;
  assert.equal(nameOf(await cache.current()), "build3");
  now += LARGE_STATUS_STALE_MS;
  assert.equal(nameOf(await cache.current()), "build4");
  assert.equal(counts.builds, 4);
  assert.equal(counts.slices, 2);
});

Deno.test("StatusCache: a rebuild that fails drops the kept document; one that comes out small too", async () => {
  let now = 0;
  let size = LARGE_STATUS_PEERS + 1;
  const { source, counts } = agent(() => size);
  const cache = new StatusCache(source, undefined, () => now);
  const first = await cache.current();
  now = LARGE_STATUS_REUSE_MS;
  counts.fail = true;
  assert.equal(await cache.current(), first);
  await turnsUntil(() => Promise.resolve(!cache.isKept(first)), "the failed rebuild");
  counts.fail = false;
  const second = await cache.current();
  assert.equal(nameOf(second), "build2");
  assert.ok(cache.isKept(second));
  size = 2;
  now += LARGE_STATUS_REUSE_MS;
  assert.equal(await cache.current(), second);
  await turnsUntil(() => Promise.resolve(!cache.isKept(second)), "the small rebuild");
  const third = await cache.current();
  assert.equal(third.doc.peers.length, 2);
  assert.equal(cache.isKept(third), false);
});

Deno.test("StatusCache: a larger document is served again for longer, up to 5 s at 10,000 peers", async () => {
  assert.equal(largeStatusReuseMs(LARGE_STATUS_PEERS + 1), LARGE_STATUS_REUSE_MS);
  assert.equal(largeStatusReuseMs(4000), 2000);
  assert.equal(largeStatusReuseMs(10_000), LARGE_STATUS_REUSE_MAX_MS);
  assert.equal(largeStatusReuseMs(50_000), LARGE_STATUS_REUSE_MAX_MS);
  assert.equal(largeStatusStaleMs(10_000), 3 * LARGE_STATUS_REUSE_MAX_MS);
  let now = 0;
  const { source, counts } = agent(() => 10_000, true);
  const cache = new StatusCache(source, undefined, () => now);
  const first = await cache.current();
  // Past a second (and past the 3 s a small large document is served at most), still served as
  // it is, nothing built.
  now = LARGE_STATUS_STALE_MS + 1;
  assert.equal(await cache.current(), first);
  now = LARGE_STATUS_REUSE_MAX_MS - 1;
  assert.equal(await cache.current(), first);
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
  assert.equal(counts.builds, 1);
  assert.equal(counts.slices, 0);
  // Past its reuse time: the next is built in slices while this one is served.
  now = LARGE_STATUS_REUSE_MAX_MS;
  assert.equal(await cache.current(), first);
  await turnsUntil(() => Promise.resolve(cache.kept() !== first), "the rebuild");
  assert.equal(counts.slices, 1);
});
