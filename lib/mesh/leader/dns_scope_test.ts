import assert from "node:assert/strict";
import type { MembershipView } from "../../members/member.ts";
import { member } from "../../../tests/fixtures/members.ts";
import { dnsVisibility } from "./dns_scope.ts";

const lead = member("lead", "10.9.0.1", { publicKey: "L", role: "leader" });
const web = member("web", "10.9.0.2", { publicKey: "W", address6: "fd09::2" });
const db = member("db", "10.9.0.3", { publicKey: "D" });
const ops = member("ops", "10.9.0.4", { publicKey: "O" });
const view: MembershipView = {
  network: "10.9.0.0/24",
  network6: "fd09::/64",
  version: 1,
  members: [lead, web, db, ops],
};
// web and db see each other; ops sees no member (the leader is always seen).
const pairs = new Set(["W>D", "D>W"]);

function visibility(scoped = true) {
  const calls: string[] = [];
  const v = dnsVisibility({
    view: () => view,
    scoped: () => scoped,
    sees: (a, b) => {
      calls.push(`${a}>${b}`);
      return a === b || pairs.has(`${a}>${b}`);
    },
  });
  return { v, calls };
}

const names = (see: ((m: typeof lead) => boolean) | null) =>
  see === null ? "all" : view.members.filter(see).map((m) => m.name).join(",");

Deno.test("dns scope: a member asking over the overlay gets the members it may see and the leaders", () => {
  const { v } = visibility();
  assert.equal(names(v("10.9.0.2")), "lead,web,db");
  assert.equal(names(v("10.9.0.4")), "lead,ops");
  // Its IPv6 overlay address, or IPv4 as an IPv4-mapped IPv6 source, is the same member.
  assert.equal(names(v("fd09:0::2")), "lead,web,db");
  assert.equal(names(v("::ffff:10.9.0.3")), "lead,web,db");
});

Deno.test("dns scope: loopback keeps the whole view; an overlay address of no member gets the leaders", () => {
  const { v } = visibility();
  assert.equal(v("127.0.0.1"), null);
  assert.equal(v("::1"), null);
  assert.equal(names(v("10.9.0.77")), "lead");
  assert.equal(names(v("fd09::77")), "lead");
  assert.equal(names(v("not an address")), "lead");
});

Deno.test("dns scope: without a policy every query gets every member, nothing is judged", () => {
  const { v, calls } = visibility(false);
  assert.equal(v("10.9.0.4"), null);
  assert.deepEqual(calls, []);
});
