import assert from "node:assert/strict";
import { type MembershipView, onlineView } from "./member.ts";
import { member } from "../../tests/fixtures/members.ts";

Deno.test("onlineView: members offline leave the view, but for this node; none offline: the same view", () => {
  const a = member("a", "10.0.0.2", { publicKey: "A" });
  const b = { ...member("b", "10.0.0.3", { publicKey: "B" }), offline: true as const };
  const me = { ...member("me", "10.0.0.4", { publicKey: "ME" }), offline: true as const };
  const v: MembershipView = { network: "10.0.0.0/24", version: 3, members: [a, b, me] };
  assert.deepEqual(onlineView(v, "ME").members.map((m) => m.name), ["a", "me"]);
  assert.equal(onlineView(v, "ME").version, 3);
  const all: MembershipView = { ...v, members: [a, me] };
  assert.equal(onlineView(all, "ME"), all);
});
