import assert from "node:assert/strict";
import { manifestDatagrams } from "../sync/manifest.ts";
import { BuiltManifest } from "./built_manifest.ts";
import { ViewSegments } from "./view_segments.ts";
import { fleetMember } from "../sync/testing/members.ts";
import type { Member } from "../../members/member.ts";

const head = (version: number) => ({ version, network: "10.6.0.0/16", network6: "fd00::/64" });
const hex = (ds: Uint8Array[]) => ds.map((d) => d.join(","));

type Op = { set: Member } | { remove: string };

/** A fleet's changes at versions 2 to `last`: joins, a record changed, a removal. */
function changes(first: Member[], last: number): Op[][] {
  const live = [...first];
  const out: Op[][] = [[], []];
  for (let v = 2; v <= last; v++) {
    const ops: Op[] = [];
    for (let j = 0; j < 3; j++) {
      const m = fleetMember(10_000 + v * 3 + j);
      live.push(m);
      ops.push({ set: m });
    }
    if (v % 4 === 0) {
      const i = (v * 37) % live.length;
      live[i] = { ...live[i], endpoints: [`192.0.2.${v % 250}:51820`] };
      ops.push({ set: live[i] });
    }
    if (v % 5 === 0) {
      const [gone] = live.splice((v * 11) % live.length, 1);
      ops.push({ remove: gone.publicKey });
    }
    out.push(ops);
  }
  return out;
}

function apply(segs: ViewSegments, ops: Op[], v: number): void {
  for (const op of ops) "set" in op ? segs.set(op.set, v) : segs.remove(op.remove, v);
}

Deno.test("a manifest built once a version and reused by every joiner equals one built fresh, for every floor", () => {
  const first = Array.from({ length: 500 }, (_, i) => fleetMember(i));
  const steps = changes(first, 40);
  const reused = new ViewSegments(first, 1);
  const fresh = (last: number) => {
    // The same changes, the manifest built only now.
    const s = new ViewSegments(first, 1);
    for (let v = 2; v <= last; v++) apply(s, steps[v], v);
    return s.built(head(last))!;
  };
  for (let version = 2; version <= 40; version++) {
    apply(reused, steps[version], version);
    const b = reused.built(head(version))!;
    assert.equal(reused.built(head(version)), b, "built once a version");
    // Joiners of one version with holders at various versions, in any order: each one's
    // datagrams are those of its manifest encoded from scratch, and none writes another's.
    const floors = [null, version - 1, 1, version, 0, Math.floor(version / 2), null, version - 3];
    for (const f of floors) {
      const got = b.forFloor(f);
      assert.deepEqual(hex(got.datagrams), hex(manifestDatagrams(b.manifest(f))), `floor ${f}`);
      const want = b.manifest(f).entries.filter((e) => e.fromLeader).length;
      assert.equal(got.fromLeader.length, want, `floor ${f}: the leader's pieces`);
    }
    if (version % 13 === 0) {
      const f = fresh(version);
      for (const floor of floors) {
        assert.deepEqual(
          hex(b.forFloor(floor).datagrams),
          hex(f.forFloor(floor).datagrams),
          `v${version} floor ${floor}: reused and fresh`,
        );
        assert.deepEqual(
          hex(b.forFloor(floor).fromLeader),
          hex(f.forFloor(floor).fromLeader),
          `v${version} floor ${floor}: the same pieces, in order`,
        );
      }
    }
  }
  // A head that moves without a change to the view (another group's change) builds again.
  const b = reused.built(head(40))!;
  const moved = reused.built(head(41))!;
  assert.notEqual(moved, b);
  assert.equal(moved.manifest(null).v, 41);
});

Deno.test("a joiner's manifest marks only the pieces changed after its holders' version", () => {
  const piece = (i: number) => Uint8Array.of(i + 1);
  const digest = (i: number) => new Uint8Array(16).fill(i);
  // 150 pieces over three datagrams; the pieces of 75 and 149 changed last.
  const entries = Array.from({ length: 150 }, (_, i) => ({
    piece: piece(i),
    digest: digest(i),
    ends: i % 2 === 1,
    changed: i === 75 ? 9 : i === 149 ? 8 : 1,
  }));
  const b = new BuiltManifest(head(9), entries);
  const none = b.forFloor(9);
  assert.equal(none.fromLeader.length, 0);
  const some = b.forFloor(7);
  assert.deepEqual(some.fromLeader, [piece(75), piece(149)], "in the manifest's order");
  assert.equal(some.datagrams[0], none.datagrams[0], "a datagram with nothing to mark is shared");
  assert.notEqual(some.datagrams[1], none.datagrams[1]);
  assert.deepEqual(hex(b.forFloor(8).datagrams), hex(manifestDatagrams(b.manifest(8))));
  assert.equal(b.forFloor(null).fromLeader.length, 150);
  assert.equal(b.forFloor(null), b.forFloor(null), "every piece the leader's: made once");
  assert.equal(b.forFloor(0).fromLeader.length, 150);
});
