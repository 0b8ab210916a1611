import assert from "node:assert/strict";
import type { Member } from "../../members/member.ts";
import { LINK_PART_RATE, LinkStore } from "./link_store.ts";
import { linksParts, type WireLink } from "../sync/links.ts";

const key = (c: string) => c.repeat(43) + "=";
const LEADER = key("L");
const members = new Map<string, Member>(
  [["alpha", "A", "10.1.0.2"], ["vm", "B", "10.1.0.3"], ["gamma", "C", "10.1.0.4"]].map((
    [name, k, address],
  ) => [address, { name, publicKey: key(k), address } as Member]),
);
members.set("10.1.0.1", { name: "leader", publicKey: LEADER, address: "10.1.0.1" } as Member);
const A = "10.1.0.2", B = "10.1.0.3";
const link = (k: string, s: WireLink["s"] = "up"): WireLink => ({
  k,
  s,
  r: 1,
  p: "direct",
  i: 0,
  o: 0,
});

function store(now = { t: 0 }) {
  let keys = new Set([...members.values()].map((m) => m.publicKey));
  const s = new LinkStore({
    self: LEADER,
    memberAt: (a) => members.get(a),
    isMember: (k) => keys.has(k),
    now: () => now.t,
    staleMs: 15_000,
  });
  return { s, now, setKeys: (k: string[]) => keys = new Set(k) };
}

Deno.test("link store: a member's report is kept as its latest, one per member", () => {
  const { s } = store();
  for (let n = 1; n <= 50; n++) {
    const [part] = linksParts(n, [link(key("B"), n % 2 ? "up" : "down"), link(LEADER)]);
    assert.equal(s.accept(part, A), true);
  }
  assert.equal(s.size, 1);
  const r = s.report(key("A"))!;
  assert.deepEqual(r.links.map((l) => `${l.k[0]}:${l.s}`), ["B:down", "L:up"]);
  assert.deepEqual(s.drops(), { "not-member": 0, "bad-peer": 0, rate: 0 });
});

Deno.test("link store: reports in parts complete only with every part of one report", () => {
  const { s } = store();
  const peers = Array.from({ length: 20 }, () => link(key("B")));
  peers[19] = link(key("C"));
  const parts = linksParts(3, peers);
  assert.equal(parts.length, 3);
  assert.equal(s.accept(parts[0], A), false);
  assert.equal(s.accept(parts[2], A), false);
  // A part of another report starts that one over.
  assert.equal(s.accept(linksParts(4, peers)[1], A), false);
  assert.equal(s.accept(parts[1], A), false);
  assert.equal(s.size, 0);
  assert.equal(s.pending, 1, "one report being put together per member");
  for (const p of parts) s.accept(p, A);
  // One link per peer: the duplicates of vm are one.
  assert.deepEqual(s.report(key("A"))!.links.map((l) => l.k[0]).sort(), ["B", "C"]);
  assert.equal(s.pending, 0);
});

Deno.test("link store: only members report, only about other members; the rest is counted", () => {
  const { s } = store();
  // An address no member has (a session's own address that is not in the view).
  assert.equal(s.accept(linksParts(1, [link(key("B"))])[0], "10.1.0.99"), false);
  // The leader's own address: its report never comes over the wire.
  assert.equal(s.accept(linksParts(1, [link(key("B"))])[0], "10.1.0.1"), false);
  assert.equal(s.size, 0);
  // alpha reports about itself and a stranger: those links go, the rest stays.
  s.accept(linksParts(1, [link(key("A")), link(key("Z")), link(key("B"))])[0], A);
  assert.deepEqual(s.report(key("A"))!.links.map((l) => l.k[0]), ["B"]);
  assert.deepEqual(s.drops(), { "not-member": 2, "bad-peer": 2, rate: 0 });
});

Deno.test("link store: parts over a member's rate are dropped and counted", () => {
  const { s } = store();
  const part = linksParts(1, [link(key("B"))])[0];
  let taken = 0;
  for (let i = 0; i < LINK_PART_RATE.burst + 10; i++) if (s.accept({ ...part, n: i }, A)) taken++;
  assert.equal(taken, LINK_PART_RATE.burst);
  assert.equal(s.drops().rate, 10);
  // Another member has its own allowance.
  assert.equal(s.accept(part, B), true);
});

Deno.test("link store: a removed member's report goes; old reports are stale, the leader's never", () => {
  const { s, now, setKeys } = store();
  s.accept(linksParts(1, [link(key("B"))])[0], A);
  s.accept(linksParts(1, [link(key("A"))])[0], B);
  s.setOwn([link(key("A")), link(key("B"))]);
  now.t = 10_000;
  assert.deepEqual(s.reports().map((r) => r.stale), [false, false, false]);
  now.t = 15_001;
  assert.deepEqual(
    s.reports().map((r) => [r.publicKey[0], r.stale, r.ageMs]),
    [["A", true, 15_001], ["B", true, 15_001], ["L", false, 15_001]],
  );
  // alpha reports again: fresh.
  s.accept(linksParts(2, [link(key("B"))])[0], A);
  assert.equal(s.report(key("A"))!.stale, false);
  // vm is removed: its report goes, and so does a part of one in reassembly.
  s.accept(linksParts(9, Array.from({ length: 9 }, () => link(key("A"))))[0], B);
  assert.equal(s.pending, 1);
  setKeys([LEADER, key("A")]);
  s.viewChanged({
    network: "10.1.0.0/24",
    version: 2,
    members: [...members.values()].filter((m) => m.publicKey !== key("B")),
  });
  assert.equal(s.report(key("B")), undefined);
  assert.equal(s.pending, 0);
  assert.equal(s.size, 2);
});
