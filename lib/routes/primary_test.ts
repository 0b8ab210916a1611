import assert from "node:assert/strict";
import { assignRoutes, type RouterInfo } from "./primary.ts";

const P = "198.51.100.0/24";
const Q = "203.0.113.0/24";

function router(name: string, joinedAt: number, o: Partial<RouterInfo> = {}): RouterInfo {
  return { publicKey: name, name, joinedAt, served: [P], carries: [], eligible: true, ...o };
}

Deno.test("assignRoutes: one carrier per prefix, the first to join", () => {
  const out = assignRoutes([router("b", 2), router("a", 1, { served: [P, Q] })]);
  assert.deepEqual(out.get("a"), [P, Q]);
  assert.deepEqual(out.get("b"), []);
});

Deno.test("assignRoutes: the carrier keeps its prefix while eligible, even after an earlier one returns", () => {
  const out = assignRoutes([router("a", 1), router("b", 2, { carries: [P] })]);
  assert.deepEqual(out.get("b"), [P]);
  assert.deepEqual(out.get("a"), []);
});

Deno.test("assignRoutes: a carrier not eligible hands over; with none eligible the prefix stays", () => {
  const moved = assignRoutes([
    router("a", 1, { carries: [P], eligible: false }),
    router("b", 2),
    router("c", 3),
  ]);
  assert.deepEqual(moved.get("b"), [P]);
  assert.deepEqual(moved.get("a"), []);
  const stays = assignRoutes([
    router("a", 1, { eligible: false }),
    router("b", 2, { carries: [P], eligible: false }),
  ]);
  assert.deepEqual(stays.get("b"), [P]);
  const none = assignRoutes([
    router("a", 1, { eligible: false }),
    router("b", 2, { eligible: false }),
  ]);
  assert.deepEqual(none.get("a"), [P]);
});

Deno.test("assignRoutes: a prefix no longer served leaves its carrier", () => {
  const out = assignRoutes([router("a", 1, { served: [Q], carries: [P, Q] })]);
  assert.deepEqual(out.get("a"), [Q]);
});
