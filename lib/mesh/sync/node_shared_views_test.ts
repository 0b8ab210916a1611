import assert from "node:assert/strict";
import { NodeSharedViews } from "./node_shared_views.ts";
import { manifestDatagrams, parseManifestDatagram, pieceDigest } from "./manifest.ts";
import { packSegment } from "./packed.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { member } from "../../../tests/fixtures/members.ts";
import { nullLogger } from "../../log/logger.ts";

const LEADER = "10.3.0.1";
const lead = member("lead", LEADER, { publicKey: "K-lead", role: "leader" });
const me = member("me", "10.3.0.2", { publicKey: "K-me" });
const holder = member("h", "10.3.0.4", { publicKey: "K-h" });

/**
 * Shared views over recording collaborators, holding version 1 of `lead` and `me`; a clock and
 * timers the test moves (`tick`: ms on, firing what is due).
 */
function node(opts: { live?: boolean } = {}) {
  const clock = { t: 10_000 };
  const timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  const tick = (ms: number) => {
    clock.t += ms;
    for (const t of timers.filter((t) => !t.cancelled && t.at <= clock.t)) {
      t.cancelled = true;
      t.fn();
    }
  };
  let held: MembershipView = { network: "10.3.0.0/24", version: 1, members: [lead, me] };
  const sent: [string, unknown][] = [];
  const applied: number[] = [];
  const whole: MembershipView[] = [];
  let again = 0;
  const views = new NodeSharedViews({
    channel: { send: (to, msg) => sent.push([to, msg]) },
    logger: nullLogger,
    publicKey: me.publicKey,
    address: me.address,
    view: () => held,
    applyView: (v) => {
      applied.push(v.version);
      held = v;
    },
    leader: () => LEADER,
    live: () => opts.live ?? true,
    whole: (v) => whole.push(v),
    again: () => again++,
    now: () => clock.t,
    timer: (fn, ms) => {
      const t = { at: clock.t + ms, fn, cancelled: false };
      timers.push(t);
      return () => void (t.cancelled = true);
    },
  });
  const pending = () => timers.filter((t) => !t.cancelled).length;
  return { views, sent, applied, whole, again: () => again, held: () => held, tick, pending };
}

/** A view's pieces (one segment) and its manifest's datagrams, every piece the leader's. */
function shared(v: number, members: Member[]) {
  const pieces = packSegment(members, 60);
  const entries = pieces.map((p, i) => ({
    digest: pieceDigest(p),
    ends: i === pieces.length - 1,
    fromLeader: true,
  }));
  const datagrams = manifestDatagrams({ v, network: "10.3.0.0/24", entries })
    .map((d) => parseManifestDatagram(d)!);
  return { pieces, datagrams };
}

Deno.test("node shared views: the leader's pieces before its manifest are kept, a stranger's refused; the whole view goes to the sync and is held", () => {
  const n = node();
  const { pieces, datagrams } = shared(4, [lead, me, holder]);
  assert.ok(pieces.length > 1, `${pieces.length} pieces`);
  for (const p of pieces) n.views.piece(p, LEADER);
  n.views.piece(pieces[0], holder.address);
  assert.equal(n.views.counts().refused["not-named"], 1);
  assert.equal(n.views.fetching, null);
  for (const d of datagrams) n.views.manifest(d);
  assert.equal(n.whole.length, 1, "whole from the pieces kept");
  assert.equal(n.whole[0].version, 4);
  assert.deepEqual(n.whole[0].members.map((m) => m.name), ["lead", "me", "h"]);
  assert.equal(n.views.counts().pieces.leader, pieces.length);
  assert.equal(n.views.holding, 4);
  assert.equal(n.views.fetching, null);
  assert.equal(n.again(), 0);
});

Deno.test("node shared views: the holders named become peers at the manifest and are asked; none while the sync is stopped", () => {
  const stopped = node({ live: false });
  const { datagrams } = shared(4, [lead, me, holder]);
  stopped.views.holders(4, [holder]);
  for (const d of datagrams) stopped.views.manifest(d);
  assert.equal(stopped.views.fetching, null, "no fetch once stopped");
  assert.deepEqual(stopped.applied, []);
  const n = node();
  const pieces = packSegment([lead, me, holder], 60);
  const entries = pieces.map((p, i) => ({
    digest: pieceDigest(p),
    ends: i === pieces.length - 1,
    fromLeader: false,
  }));
  n.views.holders(4, [holder, me]);
  for (const d of manifestDatagrams({ v: 4, network: "10.3.0.0/24", entries })) {
    n.views.manifest(parseManifestDatagram(d)!);
  }
  assert.equal(n.views.fetching, 4);
  assert.deepEqual(n.applied, [1], "the holder added to the view held, at its version");
  assert.deepEqual(n.held().members.map((m) => m.name), ["lead", "me", "h"]);
  assert.ok(n.sent.length > 0 && n.sent.every(([to]) => to === holder.address), "asked of it");
  n.views.stop();
  assert.equal(n.views.fetching, null);
});

Deno.test("node shared views: a whole view without this node is refused as malformed and asked again", () => {
  const n = node();
  const { pieces, datagrams } = shared(4, [lead, holder]);
  for (const d of datagrams) n.views.manifest(d);
  // The pieces come after the leader's second: the hello asking again goes at once.
  n.tick(1_100);
  for (const p of pieces) n.views.piece(p, LEADER);
  assert.equal(n.whole.length, 0);
  assert.equal(n.views.counts().refused.malformed, 1);
  assert.equal(n.again(), 1);
  assert.deepEqual(n.views.counts().failed, { now: 1, held: 0 });
  assert.equal(n.views.holding, null);
});

Deno.test("node shared views: the leader's late copies of an older manifest's pieces are duplicates, not mismatches, and are not kept for the next", () => {
  const n = node();
  const v4 = shared(4, [lead, me, holder]);
  for (const d of v4.datagrams) n.views.manifest(d);
  for (const p of v4.pieces) n.views.piece(p, LEADER);
  assert.equal(n.whole.length, 1);
  // An answer to an ask of the leader that came after the view was whole.
  n.views.piece(v4.pieces[0], LEADER);
  // The next manifest lists other pieces (the segment changed); a piece of v4 still on its way
  // comes during its fetch.
  const other = member("o", "10.3.0.5", { publicKey: "K-o" });
  const v5 = shared(5, [lead, me, holder, other]);
  assert.ok(!v5.pieces.some((p) => v4.pieces.some((q) => q.join() === p.join())));
  for (const d of v5.datagrams) n.views.manifest(d);
  n.views.piece(v4.pieces[1], LEADER);
  for (const p of v5.pieces) n.views.piece(p, LEADER);
  assert.equal(n.whole.length, 2);
  assert.equal(n.whole[1].version, 5);
  const refused = n.views.counts().refused;
  assert.equal(refused.mismatch, 0, "the leader sent no piece of a view it did not list");
  assert.equal(refused.duplicate, 2);
});

Deno.test("node shared views: a fetch that fails within a second of its manifest asks again once that second is over, not before", () => {
  const n = node();
  const { datagrams } = shared(4, [lead, me, holder]);
  for (const d of datagrams) n.views.manifest(d);
  n.tick(200);
  // The leader lacks a piece: the fetch fails. A hello now the leader would take for one that
  // crossed its manifest (and send none).
  n.views.lack(LEADER, ["A".repeat(22) + "=="]);
  assert.equal(n.views.fetching, null);
  assert.equal(n.again(), 0, "not at once");
  assert.deepEqual(n.views.counts().failed, { now: 0, held: 1 });
  assert.equal(n.pending(), 1, "one hello held");
  n.tick(799);
  assert.equal(n.again(), 0);
  n.tick(100);
  assert.equal(n.again(), 1, "once the leader takes a hello");
  assert.equal(n.pending(), 0);
  // The next manifest cancels a hello held; so does a stop.
  for (const d of shared(5, [lead, me, holder]).datagrams) n.views.manifest(d);
  n.views.lack(LEADER, ["A".repeat(22) + "=="]);
  assert.equal(n.pending(), 1);
  for (const d of shared(6, [lead, me, holder]).datagrams) n.views.manifest(d);
  n.views.stop();
  n.tick(5_000);
  assert.equal(n.again(), 1, "the held hello was cancelled");
  assert.equal(n.pending(), 0);
});
