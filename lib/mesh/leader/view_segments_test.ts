import assert from "node:assert/strict";
import { digestText, type Manifest, PieceChecker } from "../sync/manifest.ts";
import { packBody, unpackSegments } from "../sync/packed.ts";
import { PIECES_KEPT_MS, SEGMENT_RECORDS, ViewSegments } from "./view_segments.ts";
import { fleetMember } from "../sync/testing/members.ts";

const head = (version: number) => ({ version, network: "10.6.0.0/16" });
const digests = (m: Manifest) => m.entries.map((e) => digestText(e.digest));
const shared = (a: string[], b: string[]) => b.filter((d) => new Set(a).has(d)).length;
const hex = (c: Uint8Array) => c.join(",");

Deno.test("a join, a change or a removal changes one segment's pieces; the one-stream snapshot loses every chunk after a change", () => {
  const ms = Array.from({ length: 1000 }, (_, i) => fleetMember(i));
  const segs = new ViewSegments(ms, 1);
  const v1 = digests(segs.manifest(head(1), null).manifest);
  const stream1 = packBody({ members: ms, remove: [] }).map(hex);
  // A join.
  const joined = fleetMember(1000);
  segs.set(joined, 2);
  const v2 = digests(segs.manifest(head(2), null).manifest);
  assert.ok(v2.length - shared(v1, v2) <= 2, `${v2.length - shared(v1, v2)} pieces new`);
  // A record in the middle changes (its endpoint moved).
  const moved = { ...ms[500], observed: "203.0.113.9:1" };
  segs.set(moved, 3);
  const v3 = digests(segs.manifest(head(3), null).manifest);
  const stream3 = packBody({
    members: [...ms.slice(0, 500), moved, ...ms.slice(501), joined],
    remove: [],
  }).map(hex);
  assert.ok(v3.length - shared(v2, v3) <= 2, `${v3.length - shared(v2, v3)} pieces new`);
  // A removal.
  segs.remove(ms[10].publicKey, 4);
  const v4 = digests(segs.manifest(head(4), null).manifest);
  assert.ok(v4.length - shared(v3, v4) <= 2, `${v4.length - shared(v3, v4)} pieces new`);
  const streamShared = shared(stream1, stream3);
  console.log(
    `a record changed in the middle: segments keep ${shared(v2, v3)} of ${v3.length} pieces; ` +
      `the one stream (and a join) ${streamShared} of ${stream3.length} chunks`,
  );
  assert.ok(streamShared / stream3.length < shared(v2, v3) / v3.length);
});

Deno.test("a manifest's pieces, checked and inflated, are the view's records", () => {
  const ms = Array.from({ length: 300 }, (_, i) => fleetMember(i));
  const segs = new ViewSegments(ms, 1);
  for (let i = 0; i < 40; i++) segs.set(fleetMember(300 + i), 2 + i);
  segs.remove(ms[3].publicKey, 50);
  segs.remove(ms[299].publicKey, 51);
  const changed = { ...ms[100], endpoints: ["192.0.2.1:51820"] };
  segs.set(changed, 52);
  const { manifest, fromLeader } = segs.manifest(head(52), null);
  assert.equal(fromLeader.length, manifest.entries.length);
  const c = new PieceChecker(manifest);
  for (const p of fromLeader.toReversed()) assert.equal(c.offer(p, "leader"), "taken");
  const records = unpackSegments(c.segments()!);
  assert.equal(records?.length, 300 + 40 - 2);
  const byKey = new Map(records!.map((m) => [m.publicKey, m]));
  assert.deepEqual(byKey.get(changed.publicKey), changed);
  assert.equal(byKey.has(ms[3].publicKey), false);
  assert.equal(byKey.has(ms[299].publicKey), false);
  // A tampered segment does not inflate to records.
  const bad = c.segments()!.map((s) => s.slice());
  bad[0][5] ^= 0xff;
  assert.equal(unpackSegments(bad), null);
  // Nor do segments past the bound.
  assert.equal(unpackSegments(c.segments()!, 1000), null);
});

Deno.test("the leader sends the pieces of segments changed after the holders' version", () => {
  const ms = Array.from({ length: 10 * SEGMENT_RECORDS }, (_, i) => fleetMember(i));
  const segs = new ViewSegments(ms, 1);
  // Joins at versions 2 to 4 fill the eleventh segment; one record of the third changes at 5.
  for (let v = 2; v <= 4; v++) segs.set(fleetMember(1000 + v), v);
  segs.set({ ...ms[2 * SEGMENT_RECORDS], name: "renamed" }, 5);
  const entries = (floor: number | null) => segs.manifest(head(5), floor).manifest.entries;
  const leaders = (floor: number | null) =>
    entries(floor).flatMap((e, i) => e.fromLeader ? [i] : []);
  assert.equal(entries(null).length, 11);
  assert.deepEqual(leaders(1), [2, 10]);
  assert.deepEqual(leaders(4), [2]);
  assert.deepEqual(leaders(5), []);
  assert.deepEqual(leaders(null), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(segs.manifest(head(5), 1).fromLeader.length, 2);
});

Deno.test("segments are encoded once a change; a piece replaced is given by digest for a while", () => {
  let t = 0;
  const ms = Array.from({ length: 40 }, (_, i) => fleetMember(i));
  const segs = new ViewSegments(ms, 1, { now: () => t });
  const before = digests(segs.manifest(head(1), null).manifest);
  assert.equal(segs.encodings, 3);
  segs.manifest(head(1), 0);
  assert.equal(segs.encodings, 3);
  segs.set(fleetMember(40), 2);
  t = 2000;
  const after = digests(segs.manifest(head(2), null).manifest);
  assert.equal(segs.encodings, 4);
  const replaced = before.find((d) => !after.includes(d))!;
  assert.ok(segs.piece(replaced));
  assert.ok(segs.piece(after[0]));
  assert.equal(segs.piece("AAAAAAAAAAAAAAAAAAAAAA=="), undefined);
  t = 2000 + PIECES_KEPT_MS + 1;
  assert.equal(segs.piece(replaced), undefined);
  // Current pieces stay, however old; replaced ones are forgotten at the next encoding: the
  // three current ones and the one this encoding replaced are kept, the first replaced is not.
  assert.ok(segs.piece(after[0]));
  segs.set(fleetMember(41), 3);
  segs.manifest(head(3), null);
  assert.equal(segs.kept, 4);
  assert.ok(segs.piece(after[2]));
});

Deno.test("a view whose slots are mostly empty says so, and a layout again starts from slot 0", () => {
  const ms = Array.from({ length: 64 }, (_, i) => fleetMember(i));
  const segs = new ViewSegments(ms, 1);
  for (let i = 0; i < 16; i++) segs.remove(ms[i * 4].publicKey, 2 + i);
  assert.equal(segs.sparse, false);
  segs.remove(ms[1].publicKey, 20);
  assert.equal(segs.sparse, true);
  const left = ms.filter((_, i) => i % 4 !== 0 && i !== 1);
  segs.layout(left, 21);
  assert.equal(segs.sparse, false);
  assert.equal(segs.laidOut, 21);
  assert.equal(segs.size, 47);
  assert.equal(segs.manifest(head(21), null).manifest.entries.length, 3);
});

Deno.test("the leader's pieces handed out are a copy: a caller that changes them does not change the next joiner's", () => {
  const segs = new ViewSegments(Array.from({ length: 40 }, (_, i) => fleetMember(i)), 1);
  const first = segs.manifest(head(1), null).fromLeader;
  const want = first.map(hex);
  assert.ok(want.length > 0);
  first.length = 0;
  assert.deepEqual(segs.manifest(head(1), null).fromLeader.map(hex), want);
});
