import assert from "node:assert/strict";
import { type SharedManifest, SharedSegments } from "./shared_segments.ts";
import { Scope } from "./scope.ts";
import { digestText, ManifestAssembler, PIECE } from "../sync/manifest.ts";
import type { Member } from "../../members/member.ts";
import { fleetMember } from "../sync/testing/members.ts";

/** The manifest a member reads from the datagrams it is sent. */
function manifestOf(a: SharedManifest) {
  const asm = new ManifestAssembler();
  let m = null;
  for (const d of a.datagrams) m = asm.add(d);
  assert.ok(m, "the datagrams are a whole manifest");
  return m;
}
const digests = (a: SharedManifest) => manifestOf(a).entries.map((e) => digestText(e.digest));

/** Shared segments over `n` members in one group (no policy: every member sees every member). */
function segments(n: number) {
  const scope = new Scope();
  const members = new Map<string, Member>();
  const list = Array.from({ length: n }, (_, i) => fleetMember(i));
  for (const m of list) members.set(m.publicKey, m);
  scope.reset(null, list);
  let version = 3;
  const s = new SharedSegments({
    scope,
    members,
    head: () => ({ version, network: "10.6.0.0/16" }),
    now: () => 0,
  });
  return { s, scope, members, list, at: (v: number) => version = v };
}

Deno.test("shared segments: a member's manifest and pieces come from its group's segments, each piece's datagram made once", () => {
  const { s, scope, list } = segments(100);
  const key = list[0].publicKey;
  const g = s.sharedGroup(key)!;
  assert.notEqual(g, null);
  assert.equal(s.laidOut(g), null, "none made before the first manifest");
  const a = s.manifestFor(key, null)!;
  assert.equal(a.v, 3);
  assert.equal(manifestOf(a).v, 3);
  assert.equal(a.laidOut, 3);
  assert.equal(s.laidOut(g), 3);
  assert.equal(a.fromLeader.length, a.pieces, "no floor: every piece");
  assert.equal(manifestOf(a).entries.length, a.pieces);
  assert.ok(a.fromLeader.every((d) => d[0] === PIECE));
  const b = s.manifestFor(list[1].publicKey, null)!;
  assert.deepEqual(digests(b), digests(a), "one view for the group");
  assert.ok(b.fromLeader.every((d, i) => d === a.fromLeader[i]), "the same datagrams");
  // A floor at the layout: the holders hold every piece, the leader sends none.
  assert.equal(s.manifestFor(key, 3)!.fromLeader.length, 0);
  const d = digests(a)[0];
  assert.equal(s.pieceFor(key, d), a.fromLeader[0]);
  assert.equal(s.pieceFor(key, "AAAA"), null);
  assert.equal(s.sharedGroup("K-stranger"), null);
  assert.equal(s.manifestFor("K-stranger", null), null);
  assert.equal(s.pieceFor("K-stranger", d), null);
  assert.equal(scope.groupOf(key), g);
});

Deno.test("shared segments: a change followed changes its segment's pieces only; a group gone, or a new scope, starts over", () => {
  const { s, scope, members, list, at } = segments(100);
  const key = list[0].publicKey;
  const g = s.sharedGroup(key)!;
  const before = digests(s.manifestFor(key, null)!);
  const moved = { ...list[50], observed: "203.0.113.9:1" };
  members.set(moved.publicKey, moved);
  at(4);
  s.follow(scope.groups(), [{ key: moved.publicKey, after: g }], 4);
  const after = s.manifestFor(key, 3)!;
  const changed = digests(after).filter((x) => !before.includes(x));
  assert.ok(changed.length > 0 && changed.length <= 2, `${changed.length} pieces new`);
  assert.equal(after.fromLeader.length, changed.length, "the holders at 3 lack only those");
  assert.equal(s.laidOut(g), 3, "the layout kept");
  s.follow([], [], 5);
  assert.equal(s.laidOut(g), null, "a group gone: its segments go");
  s.manifestFor(key, null);
  s.clear();
  assert.equal(s.laidOut(g), null);
});
