/** The mesh model: how a mesh link and each side's view of it are shown. */
import assert from "node:assert/strict";
import { meshLinkView } from "./mesh_view.ts";

Deno.test("dashboard mesh view: a mesh link shows both sides' views; stale or down is down", () => {
  const view = (state: string, rttMs: number | null, stale = false) => ({
    state,
    rttMs,
    path: "direct",
    rxRate: 10,
    txRate: 20,
    stale,
  });
  const up = meshLinkView({
    a: "alpha",
    b: "gamma",
    state: "up",
    aView: view("up", 1.5),
    bView: view("up", 1.25),
  });
  assert.deepEqual(
    { state: up.state, a: up.a, b: up.b, rtt: up.rtt, path: up.path, why: up.why },
    { state: "up", a: "up", b: "up", rtt: 1.25, path: "direct", why: "" },
  );
  assert.match(up.tip, /^alpha – gamma: up\nalpha: up, RTT 1\.50 ms, path direct, in 10 B\/s/);
  const stale = meshLinkView({
    a: "alpha",
    b: "gamma",
    state: "down",
    aView: view("up", 1),
    bView: view("up", 1, true),
  });
  assert.deepEqual([stale.state, stale.a, stale.b, stale.why], [
    "down",
    "up",
    "stale",
    "stale report",
  ]);
  assert.match(stale.tip, /gamma: stale report \(says up\)/);
  const half = meshLinkView({
    a: "a",
    b: "b",
    state: "down",
    aView: view("down", null),
    bView: null,
  });
  assert.deepEqual([half.a, half.b, half.rtt, half.why], ["down", "none", null, "no answer"]);
  assert.match(half.tip, /b: no report/);
  // Anything else from the document is shown as unknown, never as a class or colour it names.
  const odd = meshLinkView({ a: "a", b: "b", state: "evil", aView: { state: "x" }, bView: 3 });
  assert.deepEqual([odd.state, odd.a, odd.b], ["unknown", "unknown", "none"]);
});
