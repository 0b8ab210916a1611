/** The paths given each view's change end where paths given the whole views do. */
import assert from "node:assert/strict";
import { makeMesh } from "../../../tests/fixtures/mesh.ts";
import { nullLogger } from "../../log/logger.ts";
import { generateKeyPair } from "../../crypto/keys.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { viewChange, viewSteps } from "../../members/testing/view_change.ts";
import type { ControlPort } from "../sync/control_channel.ts";
import { MeshPaths } from "./mesh_paths.ts";

Deno.test("mesh paths: given each view's change they end where whole views leave them", () => {
  const { nodes } = makeMesh(2);
  const channel = { send: () => {}, listen: () => () => {} } as unknown as ControlPort;
  const made = nodes.map((n) =>
    new MeshPaths({
      device: n.device,
      privateKey: n.privateKey,
      role: "leader",
      channel,
      logger: nullLogger,
      leaderAddress: () => n.ip,
      overlay: ["10.0.0.0/24"],
      advertise: [],
      lanKey: null,
      publishLan: () => {},
    }, { lanCandidates: false })
  );
  const rec = (name: string, i: number, extra: Partial<Member> = {}): Member => ({
    name,
    publicKey: keys[i],
    address: `10.0.0.${10 + i}`,
    endpoints: [`192.0.2.${10 + i}:51820`],
    labels: {},
    role: "node",
    services: [],
    joinedAt: 0,
    ...extra,
  });
  const keys = [0, 1, 2, 3].map(() => generateKeyPair().publicKey);
  // Each paths' own record (its key differs from mesh to mesh): what others observe of it.
  const selfOf = (i: number): Member => ({
    ...rec("self", 0),
    publicKey: nodes[i].publicKey,
    observed: "203.0.113.9:51820",
  });
  const viewsOf = (i: number) =>
    viewSteps({
      network: "10.0.0.0/24",
      version: 1,
      members: [selfOf(i), rec("a", 1), rec("b", 2)],
    }, [
      (v) => [...v.members, rec("c", 3)], // a join
      (v) =>
        v.members.map((m) => m.name === "a" ? rec("a", 1, { endpoints: ["192.0.2.99:51820"] }) : m),
      (v) => v.members.filter((m) => m.name !== "b"), // b leaves
      (v) => [...v.members, rec("b", 2)], // and comes back
    ]);
  const views: MembershipView[][] = [viewsOf(0), viewsOf(1)];
  const state = (i: number) => ({
    peers: keys.map((k) => JSON.stringify(made[i].peerStatus(k))),
    own: made[i].candidates.map((c) => `${c.kind} ${c.endpoint}`).sort(),
    paths: JSON.stringify(made[i].metrics()),
  });
  try {
    made[0].start(views[0][0]);
    made[1].start(views[1][0]);
    for (let s = 1; s < views[0].length; s++) {
      made[0].viewChanged(views[0][s]);
      made[1].viewChanged(views[1][s], viewChange(views[1][s - 1], views[1][s]));
      assert.deepEqual(state(1), state(0), `after step ${s}`);
    }
    // The state compared is the members' candidates: a's moved, b's back.
    assert.match(state(0).peers[1], /192\.0\.2\.99:51820/);
    assert.match(state(0).peers[2], /192\.0\.2\.12:51820/);
  } finally {
    for (const p of made) p.close();
  }
});
