import assert from "node:assert/strict";
import { digestText, type Manifest, MAX_PIECE, PieceChecker, pieceDigest } from "./manifest.ts";
import type { PieceAsk } from "./piece_holder.ts";
import {
  ASKS_IN_FLIGHT,
  askWaitMs,
  LEADER_TRIES,
  PIECE_WAIT_MS,
  SharedFetch,
} from "./shared_fetch.ts";

type Behaviour = "honest" | "liar" | "silent" | "lacks";

/** A view of `n` one-piece segments, the last `own` of them the leader's. */
function view(n: number, own: number, seed = 1) {
  const pieces = Array.from({ length: n }, (_, i) => {
    const p = crypto.getRandomValues(new Uint8Array(200 + (i % 5) * 200));
    p[0] = seed;
    return p;
  });
  const manifest: Manifest = {
    v: 5,
    network: "10.6.0.0/16",
    entries: pieces.map((p, i) => ({
      digest: pieceDigest(p),
      ends: true,
      fromLeader: i >= n - own,
    })),
  };
  return { pieces, manifest };
}

/**
 * Runs a fetch to its end over fake holders and a fake clock: asks are answered (or not) as each
 * one's behaviour says; when nothing is left to answer, the next timer fires.
 */
function run(
  pieces: Uint8Array[],
  checker: PieceChecker,
  holders: Record<string, Behaviour>,
  leader: Behaviour | "no-own" = "honest",
) {
  const byDigest = new Map(pieces.map((p) => [digestText(pieceDigest(p)), p]));
  const asks: { to: string; ask: PieceAsk }[] = [];
  // When each ask went (the fake clock), in order.
  const sentAt: { to: string; at: number }[] = [];
  const timers: { at: number; fn: () => void; live: boolean }[] = [];
  let t = 0;
  const asked: Record<string, number> = {};
  let maxInFlight = 0;
  const f = new SharedFetch({
    checker,
    holders: Object.keys(holders),
    leader: "L",
    send: (to, ask) => {
      asks.push({ to, ask });
      sentAt.push({ to, at: t });
      asked[to] = (asked[to] ?? 0) + ask.d.length;
    },
    timer: (fn, ms) => {
      const timer = { at: t + ms, fn, live: true };
      timers.push(timer);
      return () => timer.live = false;
    },
  });
  f.start();
  // The leader sends its own pieces unasked.
  if (leader === "honest") {
    for (const i of checker.lacking(true)) f.piece("L", pieces[i]);
  }
  for (let round = 0; f.state === "fetching" && round < 10_000; round++) {
    const next = asks.shift();
    if (!next) {
      const due = timers.filter((x) => x.live).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      t = due.at;
      due.fn();
      continue;
    }
    const b = next.to === "L" ? (leader === "no-own" ? "honest" : leader) : holders[next.to];
    const inFlight = asks.filter((a) => a.to === next.to).length + 1;
    if (next.to !== "L") maxInFlight = Math.max(maxInFlight, inFlight);
    if (b === "honest") { for (const d of next.ask.d) f.piece(next.to, byDigest.get(d)!); }
    if (b === "liar") f.piece(next.to, crypto.getRandomValues(new Uint8Array(MAX_PIECE)));
    if (b === "lacks") f.lack(next.to, next.ask.d);
  }
  return { f, asked, maxInFlight, elapsed: t, sentAt };
}

Deno.test("a shared view comes from the holders; the leader sends only its own pieces", () => {
  const { pieces, manifest } = view(300, 12);
  const c = new PieceChecker(manifest);
  const { f, asked, maxInFlight } = run(pieces, c, { h1: "honest", h2: "honest", h3: "honest" });
  assert.equal(f.state, "done");
  assert.equal(f.fromLeader, 12);
  assert.equal(f.fromHolders, 288);
  assert.equal(asked.L, undefined);
  for (const h of ["h1", "h2", "h3"]) assert.ok(asked[h] > 0, `${h} asked ${asked[h]}`);
  assert.ok(maxInFlight <= ASKS_IN_FLIGHT, `${maxInFlight} asks in flight`);
  assert.equal(c.segments()!.length, 300);
});

Deno.test("a lying holder is asked no more; its pieces come from the others", () => {
  const { pieces, manifest } = view(300, 0);
  const c = new PieceChecker(manifest);
  const { f, asked } = run(pieces, c, { h1: "honest", h2: "liar", h3: "honest" });
  assert.equal(f.state, "done");
  assert.deepEqual([...f.liars], ["h2"]);
  // Only its first asks (those in flight when it lied) went to it.
  assert.ok(asked.h2 <= 2 * 32, `${asked.h2} pieces asked of the liar`);
  // Each of its asks in flight when it first lied was answered with a lie, and counted.
  assert.equal(c.mismatches("h2"), ASKS_IN_FLIGHT);
  assert.equal(f.fromHolders, 300);
  assert.equal(asked.L, undefined);
});

Deno.test("a silent holder's pieces go to the others after the wait, and with none left to the leader", () => {
  const { pieces, manifest } = view(100, 4);
  const one = run(pieces, new PieceChecker(manifest), { h1: "silent", h2: "honest" });
  assert.equal(one.f.state, "done");
  assert.deepEqual([...one.f.silent], ["h1"]);
  assert.equal(one.f.fromHolders, 96);
  assert.ok(one.elapsed >= PIECE_WAIT_MS);
  const none = run(pieces, new PieceChecker(manifest), { h1: "silent", h2: "lacks" });
  assert.equal(none.f.state, "done");
  assert.equal(none.f.fromLeader, 100);
  assert.equal(none.asked.L, 96);
});

Deno.test("the leader's own pieces that do not come are asked of it; a leader that lacks one fails the fetch", () => {
  const { pieces, manifest } = view(50, 10);
  const late = run(pieces, new PieceChecker(manifest), { h1: "honest" }, "no-own");
  assert.equal(late.f.state, "done");
  assert.equal(late.asked.L, 10);
  assert.equal(late.elapsed, PIECE_WAIT_MS);
  const gone = run(pieces, new PieceChecker(manifest), { h1: "honest" }, "lacks");
  assert.equal(gone.f.state, "failed");
  const silent = run(pieces, new PieceChecker(manifest), { h1: "honest" }, "silent");
  assert.equal(silent.f.state, "failed");
});

Deno.test("pieces from members not named are not looked at; a fetch again asks only what changed", () => {
  const { pieces, manifest } = view(40, 0);
  const old = new PieceChecker(manifest);
  const f = new SharedFetch({
    checker: old,
    holders: ["h1"],
    leader: "L",
    send: () => {},
    timer: () => () => {},
  });
  f.start();
  assert.equal(f.piece("h9", pieces[0]), "ignored");
  assert.equal(f.ignored, 1);
  for (const p of pieces.slice(0, 30)) f.piece("h1", p);
  f.stop();
  assert.equal(f.state, "failed");
  // The new manifest shares the first 35 pieces; 30 of them were held.
  const changed = view(5, 0, 2).pieces;
  const now = [...pieces.slice(0, 35), ...changed];
  const next = new PieceChecker({
    ...manifest,
    v: 6,
    entries: now.map((p) => ({ digest: pieceDigest(p), ends: true, fromLeader: false })),
  });
  assert.equal(next.adopt(old), 30);
  const { f: again, asked } = run(now, next, { h1: "honest" });
  assert.equal(again.state, "done");
  assert.equal(asked.h1, 10);
});

Deno.test("a leader that does not answer is asked again later each time, then the fetch fails", () => {
  const { pieces, manifest } = view(50, 10);
  const silent = run(pieces, new PieceChecker(manifest), { h1: "honest" }, "silent");
  assert.equal(silent.f.state, "failed");
  const toLeader = silent.sentAt.filter((s) => s.to === "L").map((s) => s.at);
  // Asked once the wait for its unasked pieces is over, then again, LEADER_TRIES asks in all,
  // each wait twice the one before; the fetch fails once the last one's wait is over.
  assert.equal(toLeader.length, LEADER_TRIES);
  assert.equal(toLeader[0], PIECE_WAIT_MS);
  const waits = toLeader.slice(1).map((at, i) => at - toLeader[i]);
  assert.deepEqual(waits, [PIECE_WAIT_MS, 2 * PIECE_WAIT_MS]);
  assert.deepEqual(waits, [1, 2].map((k) => askWaitMs(true, k)));
  assert.equal(silent.elapsed, toLeader.at(-1)! + 4 * PIECE_WAIT_MS);
  // A holder's ask waits the same each time.
  assert.equal(askWaitMs(false, 3), PIECE_WAIT_MS);
});
