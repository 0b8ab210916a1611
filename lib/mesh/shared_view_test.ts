/**
 * Shared views end to end: a real leader's service and real node syncs over a fake channel (each
 * datagram encoded, parsed and delivered on a later microtask). A joiner that says `fs` gets its
 * whole view from the members that hold it: the leader sends it the holders' names, the manifest
 * and the pieces changed since the holders' version, not the whole view. Holders that lie do not
 * corrupt the view (their pieces are refused, the leader gives the rest), and a node that does
 * not say `fs` (an older one) still gets its view in windows.
 */

import assert from "node:assert/strict";
import { ENTRIES_PER_DATAGRAM } from "./sync/manifest.ts";
import { controlMesh } from "./testing/control_mesh.ts";
import { eventually, HANG_GUARD_MS } from "../../tests/fixtures/netns.ts";

/** Members that joined and never say hello: the bulk of the view. */
const SILENT = 300;

// The kinds the leader sends through `send`, not `sendEncoded` (its answers to a hello: keys,
// pace; to a bye): the counts below are of the views and pushes, which go out encoded.
const NOT_TOLD = new Set(["lankey", "pushkey", "pace", "bye-ok"]);

async function mesh() {
  const t = await controlMesh({ network: "10.7.0.0/16" });
  for (let i = 0; i < SILENT; i++) await t.join(`s${i}`);
  // The manifest entries the leader flagged as its own, by recipient.
  const flagged = new Map<string, number>();
  t.hooks.leaderSent = (to, _, m) => {
    if (m?.t !== "manifest") return;
    const own = m.d.entries.filter((e) => e.fromLeader).length;
    flagged.set(to, (flagged.get(to) ?? 0) + own);
  };
  /** A node joined and its sync started; `old`: its hellos do not say `fs`. */
  const node = async (name: string, old = false) => {
    const n = await t.node(name, old ? { drops: ["fs", "hz"] } : {});
    const keys = () => new Set(n.held().members.map((x) => x.publicKey));
    /** Waits for the node's view to hold every member the leader's does. */
    const whole = async () => {
      const ok = await eventually(
        () => {
          const mine = keys();
          return Promise.resolve(t.core.view().members.every((x) => mine.has(x.publicKey)));
        },
        HANG_GUARD_MS,
        5,
      );
      assert.ok(ok, `${name}'s view never came whole: ${n.held().members.length} members`);
    };
    return {
      ...n,
      whole,
      sent: () => n.sent().filter((k) => !NOT_TOLD.has(k)),
      flagged: () => flagged.get(n.m.address) ?? 0,
    };
  };
  return { ...t, node };
}

const count = (kinds: string[], k: string) => kinds.filter((x) => x === k).length;

Deno.test("shared views: a joiner's view comes from holders, the leader sending the names, the manifest and the tail; liars refused; old nodes get windows", async () => {
  const t = await mesh();
  try {
    // The first joiners: no holder yet, every piece from the leader; each then holds the view.
    const holders = [];
    for (const name of ["h1", "h2", "h3"]) {
      const h = await t.node(name);
      await h.whole();
      assert.ok(await eventually(() => Promise.resolve(h.sync.holding !== null), HANG_GUARD_MS, 5));
      holders.push(h);
    }
    assert.ok(
      await eventually(
        () => Promise.resolve(t.service.sharedViews().holders >= 3),
        HANG_GUARD_MS,
        5,
      ),
      "the leader knows the holders from their hellos",
    );
    assert.equal(count(holders[0].sent(), "view"), 0, "no windows to a node that says fs");

    // A joiner: the leader names holders and sends only what they lack.
    const j = await t.node("j");
    await j.whole();
    const sent = j.sent();
    const pieces = j.sync.sharedViews().pieces;
    const manifestParts = count(sent, "manifest");
    const leaderPieces = count(sent, "piece");
    const total = pieces.holder + pieces.leader;
    console.log(
      `joiner: ${total} pieces, ${pieces.holder} from holders, ${pieces.leader} from the leader; ` +
        `the leader sent it ${count(sent, "holders")} holders, ${manifestParts} manifest, ` +
        `${leaderPieces} pieces, ${count(sent, "view")} view parts`,
    );
    assert.equal(count(sent, "view"), 0);
    assert.equal(count(sent, "holders"), 1);
    assert.ok(pieces.holder > 0, "pieces came from holders");
    // The leader's datagrams: the names, the manifest and the pieces changed since the holders'
    // version (the tail), nothing asked of it.
    assert.equal(leaderPieces, j.flagged(), "the leader sent its own pieces only");
    assert.ok(leaderPieces < total / 2, `the leader sent ${leaderPieces} of ${total} pieces`);
    assert.equal(manifestParts, Math.ceil(total / ENTRIES_PER_DATAGRAM));
    assert.equal(j.sync.sharedViews().refused.mismatch, 0);
    // The manifest went behind the push that told the holders the joiner: none refused its asks.
    for (const h of holders) assert.equal(h.sync.sharedViews().drops["not-member"], 0, h.m.name);

    // Holders that lie: every piece a holder sends is corrupted. The joiner refuses them all and
    // the leader gives what they did not; the view is the leader's.
    t.hooks.tamper = (from, msg) => {
      if (msg.t !== "piece" || from === t.core.leader.address) return msg;
      const bad = msg.piece.slice();
      bad[bad.length - 1] ^= 0xff;
      return { t: "piece", piece: bad };
    };
    const k = await t.node("k");
    await k.whole();
    const ks = k.sync.sharedViews();
    console.log(
      `liars: ${ks.refused.mismatch} pieces refused, ${ks.pieces.leader} from the leader`,
    );
    assert.ok(ks.refused.mismatch > 0, "the lies were refused");
    assert.equal(ks.pieces.holder, 0);
    // Whole (above), and nothing but the leader's members.
    const keys = new Set(t.core.view().members.map((m) => m.publicKey));
    assert.ok(k.held().members.every((m) => keys.has(m.publicKey)), "only the leader's members");
    t.hooks.tamper = (_, m) => m;

    // An old node (no fs): windows, as before, and no manifest.
    const o = await t.node("old", true);
    await o.whole();
    const os = o.sent();
    console.log(`old node: the leader sent it ${count(os, "view")} view parts`);
    assert.ok(count(os, "view") > 0);
    assert.equal(count(os, "manifest") + count(os, "piece") + count(os, "holders"), 0);
    assert.ok(count(os, "view") > manifestParts + leaderPieces + 1);
  } finally {
    await t.close();
  }
});

Deno.test("shared views: joiners arriving together share one push to their group, not one each", async () => {
  const t = await mesh();
  try {
    const holders = [];
    for (const name of ["h1", "h2"]) {
      const h = await t.node(name);
      await h.whole();
      holders.push(h);
    }
    const before = holders[0].sent().length;
    // A burst of joiners, each saying hello with fs as soon as it joined.
    const names = Array.from({ length: 8 }, (_, i) => `j${i}`);
    const started = performance.now();
    const joiners = await Promise.all(names.map((n) => t.node(n)));
    const burstMs = performance.now() - started;
    for (const j of joiners) await j.whole();
    const told = holders[0].sent().slice(before).filter((k) => k !== "ack");
    const pushes = told.filter((k) => k !== "holders" && k !== "manifest" && k !== "piece");
    console.log(`a holder heard, while 8 joined in ${burstMs.toFixed(0)} ms: ${told.join(", ")}`);
    // One push a burst window (50 ms), whatever the joiners' hellos ask.
    assert.ok(
      pushes.length <= Math.max(1, Math.ceil(burstMs / 50)),
      `${pushes.length} pushes for 8 joiners in ${burstMs.toFixed(0)} ms`,
    );
  } finally {
    await t.close();
  }
});

Deno.test("shared views: a fetch that fails just after its manifest gets a new one, without waiting for the next regular hello", async () => {
  const t = await mesh();
  try {
    // The leader lacks a piece asked of it at once (a `plack` right behind the first manifest):
    // the fetch fails within the second in which the leader takes a hello for one that crossed
    // the manifest.
    let failed = false;
    t.hooks.leaderDelivered = (to, k) => {
      if (failed || k !== "manifest") return;
      failed = true;
      t.fromLeader(to, { t: "plack", v: 1, d: ["A".repeat(22) + "=="] });
    };
    // Its regular hellos are 10 minutes apart, and the pushes of news are lost (news asks again
    // with hellos of its own: a member that fell behind and said its regular hello heard none):
    // only the hello the failure sends can bring a new manifest.
    t.hooks.lost = (_, k) => k === "changed" || k === "delta";
    const j = await t.node("j");
    await j.whole();
    assert.ok(failed);
    const counts = j.sync.sharedViews();
    console.log(
      `the leader sent ${count(j.sent(), "holders")} shared views; fetches failed: ` +
        JSON.stringify(counts.failed),
    );
    assert.equal(count(j.sent(), "holders"), 2, "a second manifest after the failed fetch");
    assert.deepEqual(counts.failed, { now: 0, held: 1 });
  } finally {
    await t.close();
  }
});
