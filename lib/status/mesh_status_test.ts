import assert from "node:assert/strict";
import {
  MAX_MESH_LINKS,
  mergeLinkState,
  type MeshLinkView,
  type MeshReportInput,
  meshStatus,
} from "./mesh_status.ts";

const key = (c: string) => c.repeat(43) + "=";
const M = ["alpha", "vm", "gamma", "delta"].map((name, i) => ({
  name,
  address: `10.1.0.${i + 1}`,
  publicKey: key("ABCD"[i]),
}));
const link = (to: number, s: "up" | "down" | "degraded" | "unknown", r: number | null = 1) => ({
  k: M[to].publicKey,
  s,
  r,
  p: "direct",
  i: 100,
  o: 200,
});
const report = (
  from: number,
  links: MeshReportInput["links"],
  stale = false,
): MeshReportInput => ({
  publicKey: M[from].publicKey,
  ageMs: stale ? 20_000 : 1000,
  stale,
  links,
});

Deno.test("mesh view: every pair of members once, merged from both sides' reports", () => {
  const all = (from: number) => M.flatMap((_, to) => (to === from ? [] : [link(to, "up")]));
  const mesh = meshStatus(M, M.map((_, i) => report(i, all(i))), M[0].publicKey);
  assert.deepEqual(mesh.members.map((m) => m.name), ["alpha", "delta", "gamma", "vm"]);
  assert.deepEqual(mesh.members.map((m) => m.leader), [true, false, false, false]);
  assert.equal(mesh.links.length, 6, "4 members, 6 links");
  assert.deepEqual(
    mesh.links.map((l) => `${l.a}|${l.b}:${l.state}`),
    [
      "alpha|delta:up",
      "alpha|gamma:up",
      "alpha|vm:up",
      "delta|gamma:up",
      "delta|vm:up",
      "gamma|vm:up",
    ],
  );
  const gv = mesh.links.find((l) => l.a === "gamma" && l.b === "vm")!;
  assert.deepEqual(gv.aView, {
    state: "up",
    rttMs: 1,
    path: "direct",
    rxRate: 100,
    txRate: 200,
    stale: false,
  });
  assert.deepEqual(mesh.members[0].peers.map((p) => p.name), ["delta", "gamma", "vm"]);
  assert.deepEqual(mesh.members[0].report, { ageSeconds: 1, stale: false });
});

Deno.test("mesh view: a stopped node's links are down on every side, by staleness or by health", () => {
  // gamma (2) stopped: its own report is stale; alpha already saw it down, vm not yet.
  const mesh = meshStatus(M.slice(0, 3), [
    report(0, [link(1, "up"), link(2, "down", null)]),
    report(1, [link(0, "up"), link(2, "up")]),
    report(2, [link(0, "up"), link(1, "up")], true),
  ], M[0].publicKey);
  const state = Object.fromEntries(mesh.links.map((l) => [`${l.a}|${l.b}`, l.state]));
  assert.deepEqual(state, { "alpha|gamma": "down", "alpha|vm": "up", "gamma|vm": "down" });
  const gv = mesh.links.find((l) => l.a === "gamma")!;
  assert.equal(gv.stale, true);
  assert.equal(gv.aView?.stale, true);
  assert.equal(mesh.members.find((m) => m.name === "gamma")!.report?.stale, true);
});

Deno.test("mesh view: unreported links are unknown, or idle when a side reports afresh without them; reports about strangers are left out", () => {
  const stranger = { k: key("Z"), s: "up" as const, r: 1, p: "direct", i: 0, o: 0 };
  const mesh = meshStatus(M.slice(0, 2), [
    report(0, [stranger, { ...link(0, "up") }]),
    { ...report(3, [link(0, "up")]) },
  ], M[0].publicKey);
  // Member 0 reports afresh and names no link to member 1: no traffic between them, idle.
  assert.deepEqual(mesh.links.map((l) => [l.state, l.aView, l.bView]), [["idle", null, null]]);
  assert.deepEqual(mesh.members.map((m) => m.report), [{ ageSeconds: 1, stale: false }, null]);
  assert.deepEqual(mesh.members[0].peers, []);
  const none = meshStatus(M.slice(0, 2), [], M[0].publicKey);
  assert.deepEqual(none.links.map((l) => [l.state, l.aView, l.bView]), [["unknown", null, null]]);
});

Deno.test("mesh view: the merged state of a link", () => {
  const v = (state: MeshLinkView["state"], stale = false): MeshLinkView => ({
    state,
    rttMs: null,
    path: "",
    rxRate: 0,
    txRate: 0,
    stale,
  });
  assert.equal(mergeLinkState(v("up"), v("up")), "up");
  assert.equal(mergeLinkState(v("up"), null), "up");
  assert.equal(mergeLinkState(v("up"), v("down")), "down");
  assert.equal(mergeLinkState(v("up"), v("up", true)), "down");
  assert.equal(mergeLinkState(v("degraded"), v("up")), "degraded");
  assert.equal(mergeLinkState(v("unknown"), null), "unknown");
  assert.equal(mergeLinkState(null, null), "unknown");
  assert.equal(mergeLinkState(v("idle"), null), "idle");
  assert.equal(mergeLinkState(v("idle"), v("up")), "up");
  assert.equal(mergeLinkState(v("idle", true), null), "down");
});

Deno.test("mesh view: a mesh past the link cap lists its members and says how many links it left out", () => {
  const n = Math.ceil(Math.sqrt(2 * MAX_MESH_LINKS)) + 2;
  const many = Array.from({ length: n }, (_, i) => ({
    name: `n${i}`,
    address: `10.2.${i >> 8}.${i & 255}`,
    publicKey: `k${i}`,
  }));
  const mesh = meshStatus(many, [], "k0");
  assert.equal(mesh.members.length, n);
  assert.deepEqual(mesh.links, []);
  assert.equal(mesh.linksOmitted, n * (n - 1) / 2);
});

Deno.test("mesh view: a member that said bye has its links down at once, whatever the reports say", () => {
  const all = (from: number) => M.flatMap((_, to) => (to === from ? [] : [link(to, "up")]));
  const members = M.map((m, i) => i === 2 ? { ...m, offline: true as const } : m);
  const mesh = meshStatus(members, M.map((_, i) => report(i, all(i))), M[0].publicKey);
  const state = Object.fromEntries(mesh.links.map((l) => [`${l.a}|${l.b}`, l.state]));
  assert.deepEqual(state, {
    "alpha|delta": "up",
    "alpha|gamma": "down",
    "alpha|vm": "up",
    "delta|gamma": "down",
    "delta|vm": "up",
    "gamma|vm": "down",
  });
  assert.deepEqual(mesh.members.map((m) => m.offline), [false, false, true, false]);
});

Deno.test("mesh view: subnet routers and exit nodes are marked", () => {
  const members = [
    { ...M[0], routes: ["198.51.100.0/24"] },
    { ...M[1], exitNode: true as const },
    M[2],
  ];
  const v = meshStatus(members, [], M[0].publicKey);
  const by = Object.fromEntries(v.members.map((m) => [m.name, m]));
  assert.deepEqual(by.alpha.routes, ["198.51.100.0/24"]);
  assert.equal(by.alpha.exitNode, false);
  assert.equal(by.vm.exitNode, true);
  assert.deepEqual(by.gamma.routes, []);
});
