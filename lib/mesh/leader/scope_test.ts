import assert from "node:assert/strict";
import { Scope } from "./scope.ts";
import { parsePolicy } from "../../policy/parse.ts";
import type { Member } from "../../members/member.ts";
import { member } from "../../../tests/fixtures/members.ts";

function node(name: string, address: string, labels: Record<string, string>, extra = {}): Member {
  return member(name, address, { publicKey: `K-${name}`, labels, ...extra });
}

const lead = node("lead", "10.7.0.1", {}, { role: "leader" });
const web1 = node("web1", "10.7.0.2", { role: "web" });
const web2 = node("web2", "10.7.0.3", { role: "web" });
const db1 = node("db1", "10.7.0.4", { role: "db" });
const db2 = node("db2", "10.7.0.5", { role: "db" });
const ops = node("ops", "10.7.0.6", { role: "ops" });
const relay = node("relay", "10.7.0.7", {}, { relay: true, grants: { relay: true } });
const all = [lead, web1, web2, db1, db2, ops, relay];

const WEB_TO_DB = `
policies:
  - name: web-db
    action: allow
    from: "role=web"
    to: "role=db"
    proto: tcp
    ports: [5432]
`;

/** Who `viewer` sees among `all`, by name (itself left out). */
function seen(s: Scope, viewer: Member): string[] {
  const g = s.groupOf(viewer.publicKey)!;
  return all.filter((m) => m !== viewer && s.sees(g, s.groupOf(m.publicKey)!)).map((m) => m.name);
}

Deno.test("scope: without a policy every member sees every member", () => {
  const s = new Scope();
  s.reset(null, all);
  assert.equal(s.scoped, false);
  for (const m of all) assert.equal(seen(s, m).length, all.length - 1);
});

Deno.test("scope: a member sees whom it may reach or be reached by, the leaders and relays", () => {
  const s = new Scope();
  s.reset(parsePolicy(WEB_TO_DB), all);
  assert.equal(s.scoped, true);
  // Either direction, any port: web reaches db on 5432, so db sees web too.
  assert.deepEqual(seen(s, web1), ["lead", "db1", "db2", "relay"]);
  assert.deepEqual(seen(s, db1), ["lead", "web1", "web2", "relay"]);
  // Web may not reach web: members of one group do not see each other here.
  assert.equal(s.seesOwn(s.groupOf(web1.publicKey)!), false);
  // Nothing reaches ops nor does it reach anything: only the leader and the relay.
  assert.deepEqual(seen(s, ops), ["lead", "relay"]);
  // Relays (and leaders) see everyone: they carry traffic between any two.
  assert.deepEqual(seen(s, relay), ["lead", "web1", "web2", "db1", "db2", "ops"]);
  // Grouped by signature, not per member: web, db, ops, and one for leaders and relays.
  assert.equal(s.groupCount, 4);
});

Deno.test("scope: a deny of everything before the allow hides; a narrower deny does not", () => {
  const deny = (extra: string) =>
    parsePolicy(`
policies:
  - name: no-web1
    action: deny
    priority: 10
    from: { names: [web1] }
    to: "*"${extra}
  - name: web-db
    action: allow
    from: "role=web"
    to: "role=db"
`);
  const s = new Scope();
  s.reset(deny(""), all);
  assert.deepEqual(seen(s, web1), ["lead", "relay"]);
  assert.deepEqual(seen(s, web2), ["lead", "db1", "db2", "relay"]);
  s.reset(deny("\n    proto: tcp\n    ports: [22]"), all);
  assert.deepEqual(seen(s, web1), ["lead", "db1", "db2", "relay"]);
});

Deno.test("scope: defaults that allow, and CIDR selectors, count", () => {
  const s = new Scope();
  s.reset(
    parsePolicy(`
defaults:
  inbound: deny
policies:
  - name: to-db
    action: allow
    from: { cidrs: [10.7.0.6/32] }
    to: "role=db"
`),
    all,
  );
  assert.deepEqual(seen(s, ops), ["lead", "db1", "db2", "relay"]);
  assert.deepEqual(seen(s, web1), ["lead", "relay"]);
  // Inbound allowed by default: everyone may reach everyone.
  s.reset(parsePolicy("defaults:\n  inbound: allow\n  outbound: allow\n"), all);
  assert.equal(seen(s, ops).length, all.length - 1);
});

Deno.test("scope: a router counts as the prefixes it carries; an exit node as every address", () => {
  const router = node("router", "10.7.0.8", {}, { routes: ["198.51.100.0/24"] });
  const exit = node("exit", "10.7.0.9", {}, { exitNode: true });
  const members = [...all, router, exit];
  const s = new Scope();
  s.reset(
    parsePolicy(`
policies:
  - name: ops-site
    action: allow
    from: "role=ops"
    to: { cidrs: [198.51.100.10/32] }
`),
    members,
  );
  const sees = (viewer: Member) => {
    const g = s.groupOf(viewer.publicKey)!;
    return members.filter((m) => m !== viewer && s.sees(g, s.groupOf(m.publicKey)!))
      .map((m) => m.name);
  };
  assert.deepEqual(sees(ops), ["lead", "relay", "router", "exit"]);
  assert.deepEqual(sees(web1), ["lead", "relay"]);
  // The route moves away: the router no longer stands for the host.
  s.place({ ...router, routes: [] });
  assert.deepEqual(sees(ops).includes("router"), false);
});

Deno.test("scope: a member whose labels change moves group; an empty group goes", () => {
  const s = new Scope();
  s.reset(parsePolicy(WEB_TO_DB), all);
  const before = s.groupOf(ops.publicKey)!;
  const moved = { ...ops, labels: { role: "web" } };
  const r = s.place(moved);
  assert.equal(r.was, before);
  assert.equal(r.group, s.groupOf(web1.publicKey));
  assert.equal(s.groups().includes(before), false);
  assert.equal(s.groupCount, 3);
  // Unchanged labels: the same group.
  assert.deepEqual(s.place(moved), { group: r.group, was: r.group });
  s.drop(moved.publicKey);
  assert.equal(s.groupOf(moved.publicKey), undefined);
});

Deno.test("scope: many members with few signatures make few groups", () => {
  const s = new Scope();
  const many: Member[] = [lead];
  for (let i = 0; i < 2000; i++) {
    many.push(node(`n${i}`, `10.8.${i >> 8}.${i & 255}`, { role: i % 2 ? "web" : "db" }));
  }
  s.reset(parsePolicy(WEB_TO_DB), many);
  assert.equal(s.groupCount, 3);
});

Deno.test("scope: members of one segment see each other, whatever the rules", () => {
  const s = new Scope();
  s.reset(
    parsePolicy(
      WEB_TO_DB + `
segments:
  - { name: lab, vni: 7, select: "role in (ops,db)" }
`,
    ),
    all,
  );
  assert.ok(seen(s, ops).includes("db1") && seen(s, ops).includes("db2"), "ops and db: lab");
  assert.ok(seen(s, db1).includes("ops"));
  assert.ok(!seen(s, ops).includes("web1"), "web is in no segment with ops");
  // Segments alone do not scope the views.
  s.reset(parsePolicy(`segments:\n  - { name: lab, vni: 7, select: "role=ops" }\n`), all);
  assert.equal(s.scoped, false);
});
