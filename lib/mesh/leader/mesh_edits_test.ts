/**
 * The mesh edits on plain documents (no store): a new mesh and what it refuses, a stored mesh
 * checked against what a leader asks for, a second leader entering a shared mesh, the IPv6
 * network added.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../crypto/keys.ts";
import { LeaderError } from "./errors.ts";
import {
  enterLeader,
  type MeshInit,
  newMesh,
  reopenMesh,
  setNetwork6,
  storedMeshProblem,
  v6For,
} from "./mesh_edits.ts";
import { apply, DOC_LEADER_KEY, plainContext, plainDocument } from "./testing/documents.ts";

const init = (extra: Partial<MeshInit> = {}): MeshInit => ({
  network: "10.77.0.0/24",
  hostname: "second",
  publicKey: generateKeyPair().publicKey,
  endpoints: ["192.0.2.2:51820"],
  ...extra,
});
const SHARED = { where: "the store", single: false };

Deno.test("mesh edits: a new mesh has its leader alone at the first host, with a LAN key", () => {
  const d = newMesh(init({ labels: { site: "a", "node.weft/os": "linux" } }), 7);
  assert.equal(d.network, "10.77.0.0/24");
  assert.equal(d.version, 1);
  assert.deepEqual(d.members.map((m) => [m.name, m.address, m.role]), [
    ["second", "10.77.0.1", "leader"],
  ]);
  assert.deepEqual(d.members[0].labels, { site: "a" });
  assert.deepEqual(d.members[0].nodeLabels, { "node.weft/os": "linux" });
  assert.equal(d.members[0].joinedAt, 7);
  assert.equal(typeof d.lanKey, "string");
  assert.throws(() => newMesh(init({ network: "fd00::/64" }), 0), /IPv4/);
  assert.throws(() => newMesh(init({ network: "10.0.0.0/31" }), 0), /too small/);
  assert.throws(() => newMesh(init({ hostname: "Not_A_Label" }), 0), /DNS label/);
});

Deno.test("mesh edits: a stored mesh for another network is named, unless it is kept", () => {
  const d = plainDocument();
  assert.equal(storedMeshProblem(d, init(), "x"), undefined);
  assert.equal(storedMeshProblem(d, init({ network: "10.77.0.1/24" }), "x"), undefined);
  assert.match(storedMeshProblem(d, init({ network: "10.78.0.0/24" }), "x")!, /^x is for network/);
  const kept = init({ network: "10.78.0.0/24", keepStoredNetwork: true });
  assert.equal(storedMeshProblem(d, kept, "x"), undefined);
  d.network6 = "fd00:1::/64";
  assert.match(storedMeshProblem(d, init({ network6: "fd00:2::/64" }), "x")!, /IPv6 network/);
});

Deno.test("mesh edits: a second leader enters a shared mesh at the next free address, once", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const second = init({ routes: ["198.51.100.0/24"] });
  const r = apply(
    d,
    (d, touch) => ({ result: enterLeader(ctx, d, touch, second, SHARED), write: true }),
  );
  assert.equal(r.result, true);
  const m = ctx.index(d).byKey(second.publicKey)!;
  assert.deepEqual([m.name, m.address, m.role], ["second", "10.77.0.2", "leader"]);
  assert.deepEqual(m.routes, ["198.51.100.0/24"], "a leader's own routes need no approval");
  // Entering again updates its record instead.
  const moved = { ...second, endpoints: ["192.0.2.3:51820"] };
  assert.equal(enterLeader(ctx, d, () => {}, moved, SHARED), false);
  assert.deepEqual(ctx.index(d).byKey(second.publicKey)!.endpoints, ["192.0.2.3:51820"]);
  // A one-leader store holding another key, a taken name, a node's key: refused.
  assert.throws(
    () => enterLeader(ctx, d, () => {}, init(), { where: "dir", single: true }),
    /does not match its stored state/,
  );
  assert.throws(() => enterLeader(ctx, d, () => {}, init({ hostname: "leader" }), SHARED), /taken/);
});

Deno.test("mesh edits: reopening gives state from before LAN discovery its key, once", () => {
  const ctx = plainContext();
  const d = plainDocument();
  const own = {
    ...init(),
    hostname: "leader",
    publicKey: DOC_LEADER_KEY,
    endpoints: ["192.0.2.1:51820"],
  };
  assert.equal(apply(d, (d, touch) => reopenMesh(ctx, d, touch, own, SHARED)).write, false);
  delete d.lanKey;
  assert.equal(apply(d, (d, touch) => reopenMesh(ctx, d, touch, own, SHARED)).write, true);
  assert.equal(typeof d.lanKey, "string");
});

Deno.test("mesh edits: with an IPv6 network every member's address6 has its IPv4 host index", () => {
  const ctx = plainContext();
  const d = plainDocument();
  enterLeader(ctx, d, () => {}, init(), SHARED);
  const r = apply(d, (d, touch) => {
    setNetwork6(d, touch, "fd00:77::/64");
    return { result: undefined, write: true };
  });
  assert.equal(d.network6, "fd00:77::/64");
  assert.deepEqual(d.members.map((m) => m.address6), ["fd00:77::1", "fd00:77::2"]);
  assert.equal(r.touched.length, 2);
  assert.equal(v6For("10.77.0.9", "10.77.0.0/24", "fd00:77::/64"), "fd00:77::9");
  assert.equal(v6For("10.77.0.9", "10.77.0.0/24", undefined), undefined);
  assert.throws(() => setNetwork6(d, () => {}, "10.1.0.0/16"), LeaderError);
});
