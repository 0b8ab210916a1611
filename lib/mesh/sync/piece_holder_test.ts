import assert from "node:assert/strict";
import { digestText, PieceChecker, pieceDigest } from "./manifest.ts";
import {
  ASK_MAX,
  HOLD_MAX_BYTES,
  HOLD_MS,
  parsePieceAsk,
  PIECE_ASKS,
  PieceHolder,
  SERVE_PER_SECOND,
} from "./piece_holder.ts";

function pieces(n: number, size = 1000, seed = 1): Uint8Array[] {
  let x = seed;
  return Array.from(
    { length: n },
    () => Uint8Array.from({ length: size }, () => (x = (x * 1103515245 + 12345) >>> 0) >>> 24),
  );
}

const text = (p: Uint8Array) => digestText(pieceDigest(p));

/** A holder over a fake clock, recording what it sends to whom. */
function holder(members = ["10.6.0.2", "10.6.0.3", "10.6.0.4"]) {
  let t = 0;
  const sent: { to: string; piece: Uint8Array | null; lack: string[] | null }[] = [];
  const h = new PieceHolder({
    send: (to, a) => {
      sent.push({
        to,
        piece: a.t === "piece" ? a.piece : null,
        lack: a.t === "plack" ? a.d : null,
      });
    },
    isMember: (a) => members.includes(a),
    now: () => t,
  });
  return { h, sent, at: (ms: number) => t = ms };
}

Deno.test("a holder gives the pieces asked for by digest, and names those it lacks in one plack", () => {
  const { h, sent } = holder();
  const ps = pieces(5);
  assert.equal(h.holding, null);
  h.hold(9, ps);
  assert.equal(h.holding, 9);
  assert.equal(h.bytes, 5000);
  const other = text(pieces(1, 1000, 77)[0]);
  h.ask("10.6.0.2", { t: "pget", v: 9, d: [text(ps[3]), other, text(ps[0])] });
  assert.deepEqual(sent.map((s) => s.piece && text(s.piece)), [text(ps[3]), text(ps[0]), null]);
  assert.deepEqual(sent[2].lack, [other]);
  assert.equal(h.served, 2);
  assert.equal(h.drops.lack, 1);
});

Deno.test("a member flooding a holder with asks is dropped and counted; another is still served", () => {
  const { h, sent, at } = holder();
  const ps = pieces(4);
  h.hold(3, ps);
  const ask = { t: "pget", v: 3, d: [text(ps[0])] };
  for (let i = 0; i < 500; i++) h.ask("10.6.0.2", ask);
  assert.equal(h.drops.rate, 500 - PIECE_ASKS.burst);
  h.ask("10.6.0.3", ask);
  assert.equal(sent.filter((s) => s.to === "10.6.0.3").length, 1);
  // A second later the flooder has a second's worth again.
  at(1000);
  for (let i = 0; i < 100; i++) h.ask("10.6.0.2", ask);
  assert.equal(h.drops.rate, 500 - PIECE_ASKS.burst + 100 - PIECE_ASKS.perSecond);
  assert.equal(h.served, PIECE_ASKS.burst + 1 + PIECE_ASKS.perSecond);
});

Deno.test("all askers together get at most the holder's pieces a second", () => {
  const members = Array.from({ length: 400 }, (_, i) => `10.6.1.${i}`);
  const { h, sent, at } = holder(members);
  const ps = pieces(ASK_MAX, 100);
  h.hold(1, ps);
  const ask = { t: "pget", v: 1, d: ps.map(text) };
  for (const m of members) h.ask(m, ask);
  assert.equal(h.served, SERVE_PER_SECOND);
  assert.equal(h.drops.rate, members.length * ASK_MAX - SERVE_PER_SECOND);
  assert.equal(sent.length, SERVE_PER_SECOND);
  at(500);
  h.ask(members[0], ask);
  assert.equal(h.served, SERVE_PER_SECOND + ASK_MAX);
});

Deno.test("asks from non-members and malformed asks are dropped and counted", () => {
  const { h, sent } = holder();
  const ps = pieces(2);
  h.hold(1, ps);
  h.ask("10.9.9.9", { t: "pget", v: 1, d: [text(ps[0])] });
  const bad: Record<string, unknown>[] = [
    { t: "pget", v: 1, d: [] },
    { t: "pget", v: 1, d: Array(ASK_MAX + 1).fill(text(ps[0])) },
    { t: "pget", v: 1, d: [5] },
    { t: "pget", v: 1, d: ["short"] },
    { t: "pget", v: -1, d: [text(ps[0])] },
    { t: "pget", v: 1, d: "x" },
    { t: "fetch", v: 1, d: [text(ps[0])] },
  ];
  for (const m of bad) h.ask("10.6.0.2", m);
  assert.deepEqual(h.drops, { rate: 0, "not-member": 1, malformed: bad.length, lack: 0 });
  assert.equal(sent.length, 0);
  assert.ok(parsePieceAsk({ t: "pget", v: 1, d: [text(ps[0])] }));
});

Deno.test("pieces go after the hold time unless served; a view over the byte budget is held in part", () => {
  const { h, sent, at } = holder();
  const ps = pieces(3);
  h.hold(4, ps);
  at(HOLD_MS - 1);
  h.ask("10.6.0.2", { t: "pget", v: 4, d: [text(ps[1])] });
  at(2 * HOLD_MS - 2);
  assert.equal(h.holding, 4);
  at(2 * HOLD_MS);
  assert.equal(h.holding, null);
  assert.equal(h.bytes, 0);
  h.ask("10.6.0.2", { t: "pget", v: 4, d: [text(ps[1])] });
  assert.deepEqual(sent.at(-1)?.lack, [text(ps[1])]);
  const big = Array.from(
    { length: Math.ceil(HOLD_MAX_BYTES / 1200) + 10 },
    () => crypto.getRandomValues(new Uint8Array(1200)),
  );
  h.hold(5, big);
  assert.ok(h.bytes <= HOLD_MAX_BYTES && h.bytes > HOLD_MAX_BYTES - 1200, `${h.bytes}`);
});

Deno.test("piece holder: holds a checker's pieces by the digests they were checked against, and no other", () => {
  const ps = pieces(6, 900, 5);
  const checker = new PieceChecker({
    v: 3,
    network: "10.6.0.0/16",
    entries: ps.map((p, i) => ({
      digest: pieceDigest(p),
      ends: i === ps.length - 1,
      fromLeader: false,
    })),
  });
  // Four came (one twice); a piece the manifest does not list was refused; two never came.
  for (const i of [0, 1, 2, 4, 1]) checker.offer(ps[i], "10.6.0.9");
  const forged = pieces(1, 900, 77)[0];
  assert.equal(checker.offer(forged, "10.6.0.9"), "mismatch");
  assert.deepEqual([...checker.verified().keys()], [0, 1, 2, 4].map((i) => text(ps[i])));
  const { h, sent } = holder();
  h.holdChecked(3, checker);
  assert.equal(h.holding, 3);
  assert.equal(h.bytes, 4 * 900);
  h.ask("10.6.0.2", { t: "pget", v: 3, d: [...ps.map(text), text(forged)] });
  assert.deepEqual(sent.filter((s) => s.piece).map((s) => s.piece), [0, 1, 2, 4].map((i) => ps[i]));
  assert.deepEqual(sent.filter((s) => s.lack).map((s) => s.lack), [
    [text(ps[3]), text(ps[5]), text(forged)],
  ]);
});
