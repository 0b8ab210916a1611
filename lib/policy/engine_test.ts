import assert from "node:assert/strict";
import type { Member, MembershipView } from "../members/member.ts";
import { Cidr } from "../net/cidr.ts";
import { parseAddress } from "../net/ip.ts";
import { CompiledPolicy, INBOUND, OUTBOUND } from "./compiled.ts";
import { PolicyEngine } from "./engine.ts";
import { FLOW_OK, FlowInfo, parseFlow } from "./packet.ts";
import { parsePolicy } from "./parse.ts";
import type { PolicyDocument, PolicyRule, Selector, SelectorTerm } from "./schema.ts";
import { labelsMatch } from "./selector.ts";
import {
  ISSUE_POLICY,
  member,
  ping,
  rawIp,
  tcp,
  threeNodes,
  udp,
} from "../../tests/fixtures/policy_packets.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

function flowOf(pkt: Uint8Array): FlowInfo {
  const f = new FlowInfo();
  assert.equal(parseFlow(pkt, f, new FlowInfo()), FLOW_OK);
  return f;
}

/** The deciding rule's name (or "default"), and the verdict in both directions. */
function judge(engine: PolicyEngine, pkt: Uint8Array): [string, boolean, boolean] {
  const c = engine.compiled;
  const r = c.match(flowOf(pkt));
  return [r >= 0 ? c.rules[r].name : "default", c.verdict(OUTBOUND, r), c.verdict(INBOUND, r)];
}

const WEB = "10.77.0.1";
const APP = "10.77.0.2";
const DB = "10.77.0.3";

Deno.test("policy engine: the issue's example", () => {
  const engine = new PolicyEngine({ policy: parsePolicy(ISSUE_POLICY), members: threeNodes() });
  assert.deepEqual(judge(engine, tcp(WEB, APP, 40000, 8090, 2)), ["web-to-app", true, true]);
  assert.deepEqual(judge(engine, tcp(WEB, APP, 40000, 8100, 2)), ["web-to-app", true, true]);
  // No rule between two members: both ends apply their default, outbound allow and inbound deny.
  assert.deepEqual(judge(engine, tcp(WEB, APP, 40000, 8101, 2)), ["default", false, false]);
  assert.deepEqual(judge(engine, udp(WEB, APP, 40000, 8090)), ["default", false, false]);
  assert.deepEqual(judge(engine, tcp(APP, DB, 40000, 5432, 2)), ["app-to-db", true, true]);
  assert.deepEqual(judge(engine, udp(APP, DB, 40000, 5432)), ["deny-db", false, false]);
  assert.deepEqual(judge(engine, tcp(WEB, DB, 40000, 5432, 2)), ["deny-db", false, false]);
  assert.deepEqual(judge(engine, ping(WEB, DB, 7)), ["deny-db", false, false]);
  assert.deepEqual(judge(engine, ping(WEB, APP, 7)), ["ping-app", true, true]);
  assert.deepEqual(judge(engine, ping(DB, APP, 7)), ["ping-app", true, true]);
  // The reverse directions are not covered by any rule: replies need connection tracking.
  assert.deepEqual(judge(engine, tcp(APP, WEB, 8090, 40000, 0x12)), ["default", false, false]);
  assert.deepEqual(judge(engine, tcp(DB, APP, 5432, 40000, 0x12)), ["default", false, false]);
  // The same over IPv6: labels select both of a member's addresses.
  assert.deepEqual(judge(engine, tcp("fd77::1", "fd77::2", 40000, 8095, 2)), [
    "web-to-app",
    true,
    true,
  ]);
  assert.deepEqual(judge(engine, ping("fd77::1", "fd77::3", 1)), ["deny-db", false, false]);
  assert.deepEqual(judge(engine, ping("fd77::1", "fd77::2", 1)), ["ping-app", true, true]);
});

Deno.test("policy engine: priority order, ties keep file order", () => {
  const doc = parsePolicy(`
policies:
  - { name: late-allow, action: allow, priority: 20, proto: tcp }
  - { name: early-deny, action: deny, priority: 10, proto: tcp, ports: [22] }
  - { name: tie-first, action: allow, priority: 30 }
  - { name: tie-second, action: deny, priority: 30 }
`);
  const engine = new PolicyEngine({ policy: doc, members: threeNodes() });
  assert.deepEqual(engine.compiled.rules.map((r) => r.name), [
    "early-deny",
    "late-allow",
    "tie-first",
    "tie-second",
  ]);
  assert.equal(judge(engine, tcp(WEB, APP, 1, 22, 2))[0], "early-deny");
  assert.equal(judge(engine, tcp(WEB, APP, 1, 23, 2))[0], "late-allow");
  assert.equal(judge(engine, udp(WEB, APP, 1, 23))[0], "tie-first");
  assert.equal(judge(engine, udp(WEB, APP, 1, 23))[1], true);
});

Deno.test("policy engine: defaults", () => {
  const m = threeNodes();
  const members = udp(WEB, APP, 1, 9);
  const toOutside = udp(WEB, "192.0.2.9", 1, 9);
  const fromOutside = udp("192.0.2.9", APP, 1, 9);
  const engine = (text: string | null) =>
    new PolicyEngine({ members: m, policy: text === null ? null : parsePolicy(text) });
  // No policy at all: everything passes.
  const none = engine(null);
  assert.equal(none.compiled.active, false);
  for (const p of [members, toOutside, fromOutside]) {
    assert.deepEqual(judge(none, p), ["default", true, true]);
  }
  // Any rule: inbound default deny, outbound default allow. A non-member end (a routed subnet, a
  // plain WireGuard peer) sees only its side's default; between members both defaults apply.
  const some = engine("policies:\n  - {name: x, action: allow, proto: icmp}\n");
  assert.deepEqual(judge(some, toOutside), ["default", true, false]);
  assert.deepEqual(judge(some, fromOutside), ["default", false, false]);
  assert.deepEqual(judge(some, members), ["default", false, false]);
  // Both configurable.
  const flipped = engine(
    "defaults: {inbound: allow, outbound: deny}\npolicies:\n  - {name: x, action: allow, proto: icmp}\n",
  );
  assert.deepEqual(judge(flipped, toOutside), ["default", false, false]);
  assert.deepEqual(judge(flipped, fromOutside), ["default", false, true]);
  assert.deepEqual(judge(flipped, members), ["default", false, false]);
  const open = engine(
    "defaults: {inbound: allow}\npolicies:\n  - {name: x, action: deny, proto: icmp}\n",
  );
  assert.deepEqual(judge(open, members), ["default", true, true]);
  assert.deepEqual(judge(open, ping(WEB, APP, 1)), ["x", false, false]);
  // Defaults alone make a policy.
  const closed = engine("defaults: {inbound: deny}\n");
  assert.equal(closed.compiled.active, true);
  assert.deepEqual(judge(closed, toOutside), ["default", true, false]);
  assert.deepEqual(judge(closed, members), ["default", false, false]);
  // An empty document is no policy.
  const empty = engine("policies: []\n");
  assert.deepEqual(judge(empty, members), ["default", true, true]);
});

Deno.test("policy engine: names, CIDRs, non-members, other protocols", () => {
  const doc = parsePolicy(`
policies:
  - { name: by-name, action: allow, priority: 1, from: { names: [WEB] }, to: { names: [db] }, proto: udp }
  - { name: lan, action: allow, priority: 2, from: { cidrs: [192.0.2.0/24, "2001:db8::/32"] }, to: "role=app" }
  - { name: member-cidr, action: deny, priority: 3, from: { cidrs: [10.77.0.0/31] }, to: "*" }
  - { name: gre, action: allow, priority: 4, from: "*", to: { cidrs: [198.51.100.0/24] } }
`);
  const engine = new PolicyEngine({ policy: doc, members: threeNodes() });
  assert.equal(judge(engine, udp(WEB, DB, 1, 53))[0], "by-name");
  // 10.77.0.0/31 holds web (10.77.0.1).
  assert.equal(judge(engine, tcp(WEB, DB, 1, 53, 2))[0], "member-cidr");
  assert.equal(judge(engine, udp("192.0.2.77", APP, 1, 53))[0], "lan");
  assert.equal(judge(engine, udp("192.0.3.77", APP, 1, 53))[0], "default");
  assert.equal(judge(engine, udp("2001:db8::5", "fd77::2", 1, 53))[0], "lan");
  assert.equal(judge(engine, udp("2001:db9::5", "fd77::2", 1, 53))[0], "default");
  // 10.77.0.0/31 holds 10.77.0.0 and .1 (web), not .2 (app).
  assert.equal(judge(engine, tcp(APP, WEB, 1, 80, 2))[0], "default");
  assert.equal(judge(engine, rawIp(APP, "198.51.100.9", 47))[0], "gre");
  assert.equal(judge(engine, rawIp("10.9.9.9", "198.51.100.9", 47))[0], "gre");
});

Deno.test("policy engine: membership changes move addresses between selectors", () => {
  const engine = new PolicyEngine({ policy: parsePolicy(ISSUE_POLICY), members: threeNodes() });
  const g0 = engine.generation;
  const pkt = tcp("10.77.0.9", APP, 1, 8090, 2);
  assert.equal(judge(engine, pkt)[0], "default");
  const view = threeNodes(2);
  view.members.push(member("web2", "10.77.0.9", { role: "web" }));
  engine.setMembers(view);
  assert.ok(engine.generation > g0);
  assert.equal(judge(engine, pkt)[0], "web-to-app");
  // A new view with the same names, addresses and labels does not recompile.
  const g1 = engine.generation;
  const same = structuredClone(view);
  same.version = 3;
  same.members[0].endpoints = ["192.0.2.1:51820"];
  engine.setMembers(same);
  assert.equal(engine.generation, g1);
  // Relabelled: now it is a db, and web->it is denied.
  const relabelled = structuredClone(same);
  relabelled.members[3].labels = { role: "db" };
  engine.setMembers(relabelled);
  assert.ok(engine.generation > g1);
  assert.equal(judge(engine, tcp(WEB, "10.77.0.9", 1, 8090, 2))[0], "deny-db");
  // The same view object again with its list edited in place: compared with what was compiled.
  const g2 = engine.generation;
  relabelled.members.pop();
  engine.setMembers(relabelled);
  assert.ok(engine.generation > g2);
  assert.equal(judge(engine, tcp(WEB, "10.77.0.9", 1, 8090, 2))[0], "default");
});

Deno.test("policy engine: a burst of membership changes is compiled once, when a decision needs it", () => {
  // A leader applies a view per batch of joins; its rules were compiled for each although no
  // packet read them. Every member record here counts the reads of its name: compiling the
  // `names` selector reads each member's once.
  let reads = 0;
  const counted = (m: Member): Member =>
    new Proxy(m, {
      get(t, k, r) {
        if (k === "name") reads++;
        return Reflect.get(t, k, r);
      },
    });
  const hubs = "future: [hub]\npolicies:\n  - name: to-hub\n    action: allow\n" +
    '    from: "*"\n    to: { names: [hub] }\n';
  const members = [counted(member("hub", "10.77.1.1", {}))];
  for (let i = 2; i < 202; i++) members.push(counted(member(`d${i}`, `10.77.1.${i}`, {})));
  const view = (version: number): MembershipView => ({
    network: "10.77.0.0/16",
    version,
    members: [...members],
  });
  const engine = new PolicyEngine({ policy: parsePolicy(hubs), members: view(1) });
  const g0 = engine.generation;
  reads = 0;
  // 50 joins, a view each, and no packet between them.
  for (let i = 0; i < 50; i++) {
    members.push(counted(member(`j${i}`, `10.77.2.${i + 1}`, {})));
    engine.setMembers(view(2 + i));
  }
  assert.ok(engine.generation > g0, "the generation says the rules may have changed");
  const g1 = engine.generation;
  // The first decision after them is made against the latest view: the last joiner reaches the
  // hub, and no other member (the defaults deny what no rule allows).
  assert.equal(judge(engine, tcp("10.77.2.50", "10.77.1.1", 1, 80, 2))[0], "to-hub");
  assert.equal(judge(engine, tcp("10.77.2.50", "10.77.1.1", 1, 80, 2))[2], true);
  assert.equal(judge(engine, tcp("10.77.2.50", "10.77.1.2", 1, 80, 2))[2], false);
  assert.equal(engine.generation, g1, "compiled with the generation it announced");
  // One compilation of 251 members, not one per view (some 11,000 reads).
  assert.ok(reads <= 2 * members.length, `${reads} reads of members' names for 50 views`);
  // Nothing changed since: the next decisions compile nothing.
  reads = 0;
  judge(engine, tcp("10.77.2.1", "10.77.1.1", 1, 80, 2));
  assert.equal(reads, 0);
});

Deno.test("policy engine: counters follow rule names across reloads", () => {
  const engine = new PolicyEngine({ policy: parsePolicy(ISSUE_POLICY), members: threeNodes() });
  engine.compiled.hits[engine.compiled.rules.findIndex((r) => r.name === "deny-db")] += 3;
  engine.compiled.hits[engine.compiled.rules.findIndex((r) => r.name === "web-to-app")] += 2;
  engine.setPolicy(parsePolicy(ISSUE_POLICY.replace("priority: 200", "priority: 50")));
  engine.compiled.hits[engine.compiled.rules.findIndex((r) => r.name === "deny-db")] += 1;
  // Applying the same document again is a no-op: same generation, counters untouched.
  const g = engine.generation;
  engine.setPolicy(parsePolicy(ISSUE_POLICY.replace("priority: 200", "priority: 50")));
  assert.equal(engine.generation, g);
  const c = engine.ruleCounters();
  assert.equal(c.dropped["deny-db"], 4);
  assert.equal(c.allowed["web-to-app"], 2);
  assert.equal(c.allowed["app-to-db"], 0);
});

Deno.test("policy engine: explain", () => {
  const engine = new PolicyEngine({ policy: parsePolicy(ISSUE_POLICY), members: threeNodes() });
  const a = engine.explain({ from: "web", to: "app", proto: "tcp", port: 8095 });
  assert.equal(a.allowed, true);
  assert.equal(a.decidedBy, "rule");
  assert.equal(a.rule?.name, "web-to-app");
  assert.deepEqual(a.from, { address: WEB, member: "web" });
  assert.match(a.summary, /allowed by rule "web-to-app"/);
  const b = engine.explain({ from: "web", to: "db", proto: "tcp", port: 5432 });
  assert.equal(b.allowed, false);
  assert.equal(b.rule?.name, "deny-db");
  const c = engine.explain({ from: "web", to: "app", proto: "tcp", port: 22 });
  assert.equal(c.decidedBy, "default");
  assert.equal(c.allowed, false);
  assert.deepEqual(c.defaults, { outbound: "allow", inbound: "deny" });
  assert.equal(c.outbound, "deny", "web applies app's inbound default too");
  assert.equal(c.inbound, "deny");
  assert.match(c.summary, /no rule matches; denied by the defaults/);
  const d = engine.explain({ from: "fd77::3", to: "app", proto: "icmp" });
  assert.equal(d.rule?.name, "ping-app");
  assert.deepEqual(d.to, { address: "fd77::2", member: "app" });
  const e = engine.explain({ from: "192.0.2.1", to: "10.77.0.2", proto: "any" });
  assert.equal(e.from.member, undefined);
  assert.equal(e.to.member, "app");
  assert.equal(e.decidedBy, "default");
  assert.throws(() => engine.explain({ from: "nope", to: "app", proto: "icmp" }), /neither/);
  assert.throws(() => engine.explain({ from: "web", to: "app", proto: "tcp" }), /port/);
  const none = new PolicyEngine({ members: threeNodes() });
  assert.equal(
    none.explain({ from: "web", to: "db", proto: "udp", port: 1 }).decidedBy,
    "no-policy",
  );
});

/** The issue's policy with qos on web-to-app (a rate, its default burst) and on ping-app. */
const QOS_POLICY = ISSUE_POLICY.replace(
  `ports: ["8090-8100"]`,
  `ports: ["8090-8100"]\n    qos: { rate: 20mbit, class: bulk }`,
).replace(`proto: icmp`, `proto: icmp\n    qos: { rate: 1mbit, burst: 64kb, class: interactive }`);

Deno.test("policy engine: explain shows the deciding rule's qos", () => {
  const engine = new PolicyEngine({ policy: parsePolicy(QOS_POLICY), members: threeNodes() });
  const a = engine.explain({ from: "web", to: "app", proto: "tcp", port: 8095 });
  assert.deepEqual(a.rule?.qos, {
    rate: "20mbit",
    burst: "250000b",
    burstDefault: true,
    class: "bulk",
  });
  assert.match(
    a.summary,
    /allowed by rule "web-to-app" \(priority 100\); qos: rate 20mbit burst 250000b \(default\) class bulk$/,
  );
  const b = engine.explain({ from: "db", to: "app", proto: "icmp" });
  assert.deepEqual(b.rule?.qos, { rate: "1mbit", burst: "64kb", class: "interactive" });
  assert.match(b.summary, /qos: rate 1mbit burst 64kb class interactive$/);
  const c = engine.explain({ from: "app", to: "db", proto: "tcp", port: 5432 });
  assert.equal(c.rule?.qos, undefined);
  assert.doesNotMatch(c.summary, /qos/);
});

Deno.test("policy engine: rate buckets and their counters across reloads", () => {
  const engine = new PolicyEngine({ policy: parsePolicy(QOS_POLICY), members: threeNodes() });
  const c = engine.compiled;
  const web = c.rules.findIndex((r) => r.name === "web-to-app");
  const ping = c.rules.findIndex((r) => r.name === "ping-app");
  const db = c.rules.findIndex((r) => r.name === "app-to-db");
  assert.equal(c.rated, true);
  assert.equal(c.buckets.rate[web], 2500, "20 Mbit/s is 2,500 bytes per ms");
  assert.equal(c.buckets.burst[web], 250_000);
  assert.equal(c.buckets.burst[ping], 65536);
  assert.equal(c.buckets.rate[db], 0);
  const now = new Float64Array([100]);
  c.buckets.take(web, 200_000, now, false);
  c.buckets.take(web, 100_000, now, false);
  assert.deepEqual(engine.rateCounters()["web-to-app"], {
    passedBytes: 200_000,
    passedPackets: 1,
    delayedBytes: 0,
    delayedPackets: 0,
    droppedBytes: 100_000,
    droppedPackets: 1,
  });
  // A membership change recompiles: counters stay, and the bucket keeps its tokens (50,000
  // left), so the reload is no fresh burst.
  const view = threeNodes(2);
  view.members.push(member("web2", "10.77.0.4", { role: "web" }));
  engine.setMembers(view);
  const d = engine.compiled;
  assert.notEqual(d, c);
  const web2 = d.rules.findIndex((r) => r.name === "web-to-app");
  assert.equal(d.buckets.tokens[web2], 50_000);
  d.buckets.take(web2, 1000, now, false);
  const counts = engine.rateCounters();
  assert.equal(counts["web-to-app"].passedBytes, 201_000);
  assert.equal(counts["web-to-app"].droppedPackets, 1);
  assert.equal(counts["ping-app"].passedBytes, 0);
  assert.ok(!("app-to-db" in counts));
  // A policy without the rule's rate: its past figures are kept.
  engine.setPolicy(parsePolicy(ISSUE_POLICY));
  assert.equal(engine.compiled.rated, false);
  assert.equal(engine.compiled.buckets.size, 0, "no rate, no buckets");
  assert.equal(engine.rateCounters()["web-to-app"].passedBytes, 201_000);
});

// ---- a randomized cross-check of the indexed matcher against a plain reading of the rules ----

const cidrCache = new Map<string, Cidr>();
function cidr(text: string): Cidr {
  let c = cidrCache.get(text);
  if (!c) cidrCache.set(text, c = Cidr.parse(text));
  return c;
}

function refSide(sel: Selector, address: string, owner: Member | undefined): boolean {
  return sel.some((t: SelectorTerm) => {
    if (t.kind === "any") return true;
    if (t.kind === "cidrs") return t.cidrs.some((c) => cidr(c).containsText(address));
    if (!owner) return false;
    if (t.kind === "names") return t.names.includes(owner.name.toLowerCase());
    return labelsMatch(t.match, owner.labels);
  });
}

function refMatch(
  doc: PolicyDocument,
  view: MembershipView,
  src: string,
  dst: string,
  proto: string,
  port: number,
): string {
  const owner = (a: string) => {
    const bytes = parseAddress(a)!.join(".");
    return view.members.find((m) =>
      [m.address, m.address6].some((x) => x && parseAddress(x)!.join(".") === bytes)
    );
  };
  const srcOwner = owner(src);
  const dstOwner = owner(dst);
  const rules = [...doc.policies].sort((a, b) => a.priority - b.priority);
  const hit = rules.find((r: PolicyRule) =>
    (r.proto === "any" || r.proto === proto) &&
    (r.ports.length === 0 || r.ports.some((p) => port >= p.from && port <= p.to)) &&
    refSide(r.from, src, srcOwner) && refSide(r.to, dst, dstOwner)
  );
  return hit ? hit.name : "default";
}

/** Ports around the 1024-port blocks of the protocol/port index. */
const EDGES = [1, 1023, 1024, 2047, 2048, 8090, 65535];
const clampPort = (p: number) => Math.max(1, Math.min(65535, p));

Deno.test("policy engine: the indexed matcher agrees with a plain reading (random)", () => {
  for (let seed = 1; seed <= 12; seed++) {
    const rand = seededRandom(seed);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
    const roles = ["web", "app", "db", "cache"];
    const envs = ["prod", "dev"];
    const members: Member[] = [];
    const n = 3 + Math.floor(rand() * 40);
    for (let i = 0; i < n; i++) {
      const labels: Record<string, string> = { role: pick(roles) };
      if (rand() < 0.7) labels.env = pick(envs);
      members.push(
        member(
          `n${i}`,
          `10.8.${i >> 4}.${(i & 15) + 1}`,
          labels,
          rand() < 0.8 ? `fd08::${i + 1}` : undefined,
        ),
      );
    }
    const view: MembershipView = { network: "10.8.0.0/16", version: 1, members };
    const selector = (): string => {
      switch (Math.floor(rand() * 7)) {
        case 0:
          return `"*"`;
        case 1:
          return `"role=${pick(roles)}"`;
        case 2:
          return `"role in (${pick(roles)},${pick(roles)}),env!=${pick(envs)}"`;
        case 3:
          return `{ names: [n${Math.floor(rand() * n)}, n${Math.floor(rand() * n)}] }`;
        case 4:
          return `{ cidrs: ["10.8.${Math.floor(rand() * 3)}.0/${
            pick([24, 28, 30])
          }", "192.0.2.0/25"] }`;
        case 5:
          return `[{ cidrs: ["fd08::/${pick([120, 124, 126])}", "2001:db8::/33"] }, "!env"]`;
        default:
          return `{ labels: { env: ${pick(envs)} } }`;
      }
    };
    const lines = ["policies:"];
    const count = 1 + Math.floor(rand() * 60);
    for (let i = 0; i < count; i++) {
      const proto = pick(["tcp", "udp", "icmp", "any"]);
      // Port ranges near 1024-port block edges exercise the protocol/port index.
      const lo = clampPort(pick(EDGES) + pick([-2, -1, 0, 0, 1]));
      const ports = (proto === "tcp" || proto === "udp") && rand() < 0.6
        ? `, ports: ["${lo}-${clampPort(lo + pick([0, 0, 1, 3, 30]))}", ${
          clampPort(pick(EDGES) - 1)
        }]`
        : "";
      lines.push(
        `  - { name: r${i}, action: ${pick(["allow", "deny"])}, priority: ${
          Math.floor(rand() * 5)
        }, from: ${selector()}, to: ${selector()}, proto: ${proto}${ports} }`,
      );
    }
    const doc = parsePolicy(lines.join("\n"));
    const compiled = new CompiledPolicy(doc, view);
    const outsiders4 = ["192.0.2.5", "192.0.2.200", "10.8.0.250", "10.9.0.1"];
    const outsiders6 = ["2001:db8::1", "2001:db8:8000::1", "fd08::ff", "fd09::1"];
    for (let k = 0; k < 1500; k++) {
      const v6 = rand() < 0.4;
      const endpoint = (): string => {
        if (rand() < 0.2) return pick(v6 ? outsiders6 : outsiders4);
        const m = pick(members);
        return v6 ? (m.address6 ?? pick(outsiders6)) : m.address;
      };
      const src = endpoint();
      const dst = endpoint();
      const proto = pick(["tcp", "udp", "icmp", "gre"]);
      const port = clampPort(pick(EDGES) + pick([-1, 0, 1, 2]));
      const pkt = proto === "tcp"
        ? tcp(src, dst, 999, port, 2)
        : proto === "udp"
        ? udp(src, dst, 999, port)
        : proto === "icmp"
        ? ping(src, dst, 3)
        : rawIp(src, dst, 47);
      const r = compiled.match(flowOf(pkt));
      const got = r >= 0 ? compiled.rules[r].name : "default";
      const want = refMatch(doc, view, src, dst, proto, port);
      assert.equal(got, want, `seed ${seed}: ${proto} ${src} -> ${dst}:${port}`);
    }
  }
});
