import assert from "node:assert/strict";
import { PolicyEngine } from "./engine.ts";
import { PolicyFilter } from "./filter.ts";
import { QOS_CLASS_TOS } from "./qos.ts";
import { parsePolicy, tryParsePolicy } from "./parse.ts";
import {
  ACK,
  FIN,
  fragmentV4,
  icmpError,
  ISSUE_POLICY,
  ping,
  PSH,
  RST,
  SYN,
  tcp,
  threeNodes,
  udp,
} from "../../tests/fixtures/policy_packets.ts";
import { collectionsBetweenMarkers } from "../../tests/fixtures/gc_count.ts";

const WEB = "10.77.0.1";
const APP = "10.77.0.2";
const DB = "10.77.0.3";

class TestClock {
  t = 1_000;
  now(): number {
    return this.t;
  }
}

interface Mesh {
  web: PolicyFilter;
  app: PolicyFilter;
  db: PolicyFilter;
  clock: TestClock;
  byAddr: Map<string, PolicyFilter>;
}

/** Three nodes, each with its own filter and the same policy (null: none). */
function mesh(policy: string | null = ISSUE_POLICY, maxEntries?: number): Mesh {
  const clock = new TestClock();
  const make = () =>
    new PolicyFilter({
      engine: new PolicyEngine({
        policy: policy === null ? null : parsePolicy(policy),
        members: threeNodes(),
      }),
      clock,
      batchClock: false,
      // One peer may hold the whole (small) table here: these tests are about the bound itself.
      conntrack: maxEntries ? { maxEntries, maxPerPeer: maxEntries } : undefined,
    });
  const web = make();
  const app = make();
  const db = make();
  const byAddr = new Map<string, PolicyFilter>([
    [WEB, web],
    [APP, app],
    [DB, db],
    ["fd77::1", web],
    ["fd77::2", app],
    ["fd77::3", db],
  ]);
  return { web, app, db, clock, byAddr };
}

function addresses(pkt: Uint8Array): [string, string] {
  if (pkt[0] >> 4 === 4) return [pkt.subarray(12, 16).join("."), pkt.subarray(16, 20).join(".")];
  const hex = (o: number) => {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((pkt[o + i] << 8) | pkt[o + i + 1]).toString(16));
    return groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
  };
  return [hex(8), hex(24)];
}

type Fate = "delivered" | "dropped at source" | "dropped at destination";

/** Sends a packet through the source node's outbound and the destination node's inbound check. */
function send(m: Mesh, pkt: Uint8Array): Fate {
  const [src, dst] = addresses(pkt);
  const from = m.byAddr.get(src);
  const to = m.byAddr.get(dst);
  assert.ok(from && to, `no node for ${src} or ${dst}`);
  if (!from.outbound(pkt)) return "dropped at source";
  return to.inbound(pkt) ? "delivered" : "dropped at destination";
}

/** A TCP handshake and a data segment each way; returns the fate of each packet. */
function tcpSession(m: Mesh, a: string, b: string, sport: number, dport: number): Fate[] {
  return [
    send(m, tcp(a, b, sport, dport, SYN)),
    send(m, tcp(b, a, dport, sport, SYN | ACK)),
    send(m, tcp(a, b, sport, dport, ACK)),
    send(m, tcp(a, b, sport, dport, PSH | ACK, 100)),
    send(m, tcp(b, a, dport, sport, PSH | ACK, 100)),
  ];
}

const ALL_DELIVERED: Fate[] = Array(5).fill("delivered");

Deno.test("policy filter: the issue's example, both directions, TCP, UDP and ping", () => {
  const m = mesh();
  // web -> app tcp/8090-8100 allowed, replies included.
  assert.deepEqual(tcpSession(m, WEB, APP, 40000, 8090), ALL_DELIVERED);
  assert.deepEqual(tcpSession(m, WEB, APP, 40001, 8100), ALL_DELIVERED);
  // Outside the range no rule matches: app's inbound default (deny) refuses it, and web, which
  // applies both defaults to traffic between members, does not even send it.
  assert.equal(send(m, tcp(WEB, APP, 40002, 8101, SYN)), "dropped at source");
  assert.equal(m.app.inbound(tcp(WEB, APP, 40002, 8101, SYN)), false);
  // Anything -> db denied, at the source already.
  assert.equal(send(m, tcp(WEB, DB, 40003, 5432, SYN)), "dropped at source");
  assert.equal(send(m, ping(WEB, DB, 1)), "dropped at source");
  assert.equal(send(m, udp(APP, DB, 40004, 5432)), "dropped at source");
  // app -> db tcp/5432 allowed; db's replies pass app's inbound default deny through conntrack.
  assert.deepEqual(tcpSession(m, APP, DB, 40005, 5432), ALL_DELIVERED);
  // The same reply without a flow is refused (at db already; at app too if db sent it).
  assert.equal(send(m, tcp(DB, APP, 5432, 40006, SYN | ACK)), "dropped at source");
  assert.equal(m.app.inbound(tcp(DB, APP, 5432, 40006, SYN | ACK)), false);
  // UDP web -> app has no rule.
  assert.equal(send(m, udp(WEB, APP, 40007, 8090)), "dropped at source");
  // Pings to app are allowed; the replies pass, even app's reply to db (which a "* -> db" deny
  // rule would stop as a new flow).
  assert.equal(send(m, ping(WEB, APP, 11, true)), "delivered");
  assert.equal(send(m, ping(APP, WEB, 11, false)), "delivered");
  assert.equal(send(m, ping(DB, APP, 12, true)), "delivered");
  assert.equal(send(m, ping(APP, DB, 12, false)), "delivered");
  assert.equal(send(m, ping(APP, DB, 13, false)), "dropped at source", "a reply with no request");
  // IPv6 behaves the same.
  assert.deepEqual(tcpSession(m, "fd77::1", "fd77::2", 40008, 8095), ALL_DELIVERED);
  assert.equal(send(m, tcp("fd77::1", "fd77::3", 40009, 5432, SYN)), "dropped at source");
  assert.equal(send(m, ping("fd77::1", "fd77::2", 14)), "delivered");
  assert.equal(send(m, ping("fd77::2", "fd77::1", 14, false)), "delivered");

  const web = m.web.stats();
  assert.equal(web.droppedByRule["deny-db"], 3);
  assert.equal(web.allowedByRule["web-to-app"], 3);
  assert.equal(web.droppedByDefault.outbound, 2);
  assert.equal(web.dropped.outbound, 5);
  const app = m.app.stats();
  assert.equal(app.droppedByDefault.inbound, 2);
  assert.equal(app.droppedByRule["deny-db"], 2);
  assert.equal(app.allowedByRule["web-to-app"], 3);
  assert.equal(app.allowedByRule["app-to-db"], 1);
  assert.ok(app.established > 10);
  assert.equal(app.active, true);
  assert.equal(app.rules, 4);
  const db = m.db.stats();
  assert.equal(db.allowedByRule["app-to-db"], 1);
  assert.equal(db.droppedByDefault.outbound, 1);
  assert.equal(db.dropped.inbound, 0);
  assert.equal(db.conntrack.entries, 2);
  assert.equal(db.dropped.inbound, 0);
});

Deno.test("policy filter: no policy passes everything (and still tracks flows)", () => {
  const m = mesh(null);
  assert.deepEqual(tcpSession(m, WEB, DB, 40000, 22), ALL_DELIVERED);
  assert.equal(send(m, udp(DB, WEB, 1, 2)), "delivered");
  const s = m.db.stats();
  assert.equal(s.active, false);
  assert.equal(s.dropped.inbound + s.dropped.outbound, 0);
  assert.equal(s.conntrack.entries, 2);
});

Deno.test("policy filter: ICMP errors about tracked flows pass as related", () => {
  const m = mesh();
  const seg = tcp(WEB, APP, 40000, 8090, SYN);
  assert.equal(send(m, seg), "delivered");
  // app (or a router on the way) answers "fragmentation needed" quoting web's segment.
  assert.equal(m.web.inbound(icmpError(APP, WEB, seg)), true);
  assert.equal(m.web.stats().related, 1);
  // About a flow web never had: an ICMP message like any other, and no rule allows it in.
  assert.equal(m.web.inbound(icmpError(APP, WEB, tcp(WEB, APP, 40001, 8090, SYN))), false);
  // Quoting a packet web did not send (its source is not the error's destination): no.
  assert.equal(m.web.inbound(icmpError(APP, WEB, tcp(DB, APP, 40000, 8090, SYN))), false);
  // IPv6 "packet too big".
  const seg6 = tcp("fd77::1", "fd77::2", 40002, 8090, SYN);
  assert.equal(send(m, seg6), "delivered");
  assert.equal(m.web.inbound(icmpError("fd77::2", "fd77::1", seg6)), true);
  assert.equal(m.web.stats().related, 2);
});

Deno.test("policy filter: malformed packets are dropped and counted; fragments", () => {
  const m = mesh();
  const good = tcp(WEB, APP, 40000, 8090, SYN);
  const bad: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array(10),
    good.subarray(0, 30), // TCP header cut short
    (() => {
      const p = good.slice();
      p[0] = 0x44; // IHL below 5
      return p;
    })(),
    (() => {
      const p = good.slice();
      p[3] += 20; // total length past the buffer
      return p;
    })(),
    (() => {
      const p = good.slice();
      p[32] = 0x40; // TCP data offset 16 bytes
      return p;
    })(),
    (() => {
      const p = good.slice();
      p[0] = 0x55; // version 5
      return p;
    })(),
    tcp("fd77::1", "fd77::2", 1, 8090, SYN).subarray(0, 50),
    fragmentV4(good, 1, true), // TCP fragment at offset 8: could rewrite the flags
  ];
  for (const p of bad) {
    assert.equal(m.app.inbound(p), false);
    assert.equal(m.web.outbound(p), false);
  }
  const s = m.app.stats();
  assert.equal(s.malformed, bad.length);
  assert.equal(s.dropped.inbound, bad.length);
  // Later fragments pass (the first, with the ports, was judged); the first fragment is judged.
  assert.equal(m.app.inbound(fragmentV4(tcp(DB, APP, 1, 9, ACK, 64), 100, false)), true);
  assert.equal(m.app.stats().fragments, 1);
  assert.equal(m.web.outbound(fragmentV4(tcp(WEB, DB, 1, 5432, SYN, 64), 0, true)), false);
  assert.equal(m.web.outbound(fragmentV4(tcp(WEB, APP, 1, 8090, SYN, 64), 0, true)), true);
});

Deno.test("policy filter: hot reload keeps allowed flows and stops newly denied ones", () => {
  const m = mesh();
  assert.deepEqual(tcpSession(m, WEB, APP, 40000, 8090), ALL_DELIVERED);
  assert.deepEqual(tcpSession(m, APP, DB, 40001, 5432), ALL_DELIVERED);
  assert.equal(send(m, ping(WEB, APP, 5)), "delivered");

  // A broken file is rejected whole; nothing changes.
  const broken = tryParsePolicy(
    ISSUE_POLICY.replace('ports: ["8090-8100"]', 'ports: ["8100-8090"]'),
  );
  assert.equal(broken.ok, false);
  if (!broken.ok) assert.match(broken.error.message, /^line 10: /);

  // The new policy drops app -> db and adds web -> app tcp/22.
  const next = parsePolicy(
    ISSUE_POLICY.replace("name: app-to-db", "name: app-to-db-old").replace(
      "ports: [5432]",
      "ports: [6543]",
    ) + `
  - name: ssh
    action: allow
    priority: 100
    from: "role=web"
    to: "role=app"
    proto: tcp
    ports: [22]
`,
  );
  for (const n of [m.web, m.app, m.db]) n.engine.setPolicy(next);

  // The long transfer web -> app carries on, both ways.
  for (let i = 0; i < 3; i++) {
    assert.equal(send(m, tcp(WEB, APP, 40000, 8090, PSH | ACK, 1000)), "delivered");
    assert.equal(send(m, tcp(APP, WEB, 8090, 40000, ACK)), "delivered");
  }
  // The app -> db flow stops at its next packet, whichever way it goes.
  assert.equal(send(m, tcp(DB, APP, 5432, 40001, PSH | ACK, 10)), "dropped at source");
  assert.equal(send(m, tcp(APP, DB, 40001, 5432, ACK)), "dropped at source");
  assert.equal(send(m, tcp(APP, DB, 40001, 5432, ACK)), "dropped at source");
  assert.equal(m.db.stats().stoppedFlows, 1);
  assert.equal(m.app.stats().stoppedFlows, 1);
  assert.equal(m.app.stats().droppedByRule["deny-db"], 2);
  // New flows follow the new rules.
  assert.equal(send(m, tcp(APP, DB, 40002, 5432, SYN)), "dropped at source");
  assert.deepEqual(tcpSession(m, WEB, APP, 40003, 22), ALL_DELIVERED);
  // An ICMP echo flow still allowed keeps going.
  assert.equal(send(m, ping(APP, WEB, 5, false)), "delivered");
  // Rule counters survive the reload by name.
  assert.equal(m.app.stats().allowedByRule["app-to-db"], 1);
  assert.equal(m.app.stats().allowedByRule["web-to-app"], 1);
});

Deno.test("policy filter: recheckAll stops newly denied flows that send nothing more", () => {
  const m = mesh();
  assert.deepEqual(tcpSession(m, WEB, APP, 40000, 8090), ALL_DELIVERED);
  assert.deepEqual(tcpSession(m, APP, DB, 40001, 5432), ALL_DELIVERED);
  const next = parsePolicy(ISSUE_POLICY.replace("ports: [5432]", "ports: [6543]"));
  m.app.engine.setPolicy(next);
  const before = m.app.conntrack.size;
  // Only the app -> db flow is stopped, without a packet of it; no packet counts as dropped.
  assert.equal(m.app.recheckAll(), 1);
  assert.equal(m.app.conntrack.size, before - 1);
  assert.equal(m.app.stats().stoppedFlows, 1);
  assert.equal(m.app.stats().dropped.outbound + m.app.stats().dropped.inbound, 0);
  // Flows re-judged once are not judged again, and the kept one still flows.
  assert.equal(m.app.recheckAll(), 0);
  assert.equal(send(m, tcp(WEB, APP, 40000, 8090, ACK)), "delivered");
  assert.equal(m.app.stats().stoppedFlows, 1);
});

Deno.test("policy filter: a denied flow whose server keeps sending stays stopped", () => {
  const m = mesh();
  // Like `iperf3 -R`: web connects to app, app sends the bulk; and a UDP stream app -> web.
  assert.deepEqual(tcpSession(m, WEB, APP, 40000, 8095), ALL_DELIVERED);
  const udpPolicy = ISSUE_POLICY +
    `  - { name: udp-app, action: allow, priority: 100, from: "role=web", to: "role=app", proto: udp }\n`;
  for (const n of [m.web, m.app, m.db]) n.engine.setPolicy(parsePolicy(udpPolicy));
  assert.equal(send(m, udp(WEB, APP, 50000, 5201)), "delivered");
  assert.equal(send(m, udp(APP, WEB, 5201, 50000)), "delivered");
  // Narrow web -> app to tcp/8090 and drop the UDP rule.
  const narrow = parsePolicy(ISSUE_POLICY.replace('ports: ["8090-8100"]', "ports: [8090]"));
  for (const n of [m.web, m.app, m.db]) n.engine.setPolicy(narrow);
  for (let i = 0; i < 3; i++) {
    assert.equal(send(m, tcp(APP, WEB, 8095, 40000, PSH | ACK, 1000)), "dropped at source");
    assert.equal(send(m, tcp(WEB, APP, 40000, 8095, ACK)), "dropped at source");
    assert.equal(send(m, udp(APP, WEB, 5201, 50000)), "dropped at source");
    assert.equal(send(m, udp(WEB, APP, 50000, 5201)), "dropped at source");
  }
  // Even a packet that slipped out of app before the reload reached web is refused there.
  assert.equal(m.web.inbound(tcp(APP, WEB, 8095, 40000, PSH | ACK, 1000)), false);
  assert.equal(m.app.stats().stoppedFlows, 2);
  assert.equal(m.web.stats().stoppedFlows, 2);
});

Deno.test("policy filter: a first policy re-checks flows that started with none", () => {
  const m = mesh(null);
  assert.deepEqual(tcpSession(m, WEB, APP, 40000, 8090), ALL_DELIVERED);
  assert.deepEqual(tcpSession(m, WEB, APP, 40001, 22), ALL_DELIVERED);
  const policy = parsePolicy(ISSUE_POLICY);
  for (const n of [m.web, m.app, m.db]) n.engine.setPolicy(policy);
  // The reply comes first after the reload and is not cut.
  assert.equal(send(m, tcp(APP, WEB, 8090, 40000, ACK, 10)), "delivered");
  assert.equal(send(m, tcp(WEB, APP, 40000, 8090, ACK)), "delivered");
  // tcp/22 is not allowed by the new policy: it stops at both ends, whichever sends next.
  assert.equal(m.app.inbound(tcp(WEB, APP, 40001, 22, ACK)), false);
  assert.equal(send(m, tcp(APP, WEB, 22, 40001, ACK)), "dropped at source");
  assert.equal(send(m, tcp(WEB, APP, 40001, 22, ACK)), "dropped at source");
  assert.equal(send(m, tcp(APP, WEB, 22, 40001, PSH | ACK, 100)), "dropped at source");
  assert.equal(m.app.stats().stoppedFlows, 1);
  assert.equal(m.web.stats().stoppedFlows, 1);
  assert.deepEqual(m.app.stats().droppedByDefault, { inbound: 1, outbound: 2 });
});

Deno.test("policy filter: membership changes re-check flows", () => {
  const m = mesh();
  assert.deepEqual(tcpSession(m, WEB, APP, 40000, 8090), ALL_DELIVERED);
  const view = threeNodes(2);
  view.members[0].labels = { role: "batch" };
  m.app.engine.setMembers(view);
  assert.equal(send(m, tcp(WEB, APP, 40000, 8090, ACK)), "dropped at destination");
  assert.equal(m.app.stats().stoppedFlows, 1);
});

Deno.test("policy filter: conntrack timeouts with the injected clock", () => {
  const m = mesh();
  assert.deepEqual(tcpSession(m, APP, DB, 40000, 5432), ALL_DELIVERED);
  m.clock.t += 2 * 3600_000 - 1;
  assert.equal(send(m, tcp(DB, APP, 5432, 40000, ACK)), "delivered", "idle just under 2 h");
  m.clock.t += 2 * 3600_000;
  // Expired on both nodes: db's reply is a new flow now, which no rule allows.
  assert.equal(send(m, tcp(DB, APP, 5432, 40000, ACK)), "dropped at source");
  assert.equal(m.app.inbound(tcp(DB, APP, 5432, 40000, ACK)), false);
  // Pings: 30 s.
  assert.equal(send(m, ping(WEB, APP, 9)), "delivered");
  m.clock.t += 29_999;
  assert.equal(send(m, ping(APP, WEB, 9, false)), "delivered");
  m.clock.t += 30_000;
  assert.equal(m.web.inbound(ping(APP, WEB, 9, false)), false);
  // FIN both ways: 30 s, then gone.
  assert.deepEqual(tcpSession(m, WEB, APP, 40001, 8090), ALL_DELIVERED);
  assert.equal(send(m, tcp(WEB, APP, 40001, 8090, FIN | ACK)), "delivered");
  assert.equal(send(m, tcp(APP, WEB, 8090, 40001, FIN | ACK)), "delivered");
  m.clock.t += 30_001;
  assert.equal(m.web.inbound(tcp(APP, WEB, 8090, 40001, ACK)), false);
  assert.ok(m.web.stats().conntrack.expired >= 2);
  assert.equal(m.web.sweep(), 0);
});

Deno.test("policy filter: a SYN after RST reuses the tuple as a new flow", () => {
  const m = mesh();
  assert.deepEqual(tcpSession(m, WEB, APP, 40000, 8090), ALL_DELIVERED);
  assert.equal(send(m, tcp(APP, WEB, 8090, 40000, RST)), "delivered");
  const before = m.app.stats().allowedByRule["web-to-app"];
  assert.equal(send(m, tcp(WEB, APP, 40000, 8090, SYN)), "delivered");
  assert.equal(m.app.stats().allowedByRule["web-to-app"], before + 1);
  assert.equal(send(m, tcp(APP, WEB, 8090, 40000, SYN | ACK)), "delivered");
});

Deno.test("policy filter: the table bound holds and evictions are counted", () => {
  const m = mesh(ISSUE_POLICY, 8);
  for (let i = 0; i < 20; i++) {
    assert.equal(send(m, tcp(WEB, APP, 41000 + i, 8090, SYN)), "delivered");
  }
  const s = m.app.stats().conntrack;
  assert.deepEqual(s, { entries: 8, max: 8, inserts: 20, evictions: 12, expired: 0 });
  // The oldest flows were evicted: their replies are refused at web now, the newest pass.
  assert.equal(m.web.inbound(tcp(APP, WEB, 8090, 41000, SYN | ACK)), false);
  assert.equal(send(m, tcp(APP, WEB, 8090, 41019, SYN | ACK)), "delivered");
});

Deno.test("policy filter: explain knows rules, defaults and established flows", () => {
  const m = mesh();
  const r = m.app.explain({ from: "web", to: "app", proto: "tcp", port: 8090 });
  assert.equal(r.decidedBy, "rule");
  assert.equal(r.rule?.name, "web-to-app");
  assert.equal(r.trackedFlows, 0);
  const before = m.app.explain({ from: "db", to: "app", proto: "tcp", port: 40000 });
  assert.equal(before.allowed, false);
  assert.equal(before.decidedBy, "default");
  assert.deepEqual(tcpSession(m, APP, DB, 40000, 5432), ALL_DELIVERED);
  const after = m.app.explain({ from: "db", to: "app", proto: "tcp", port: 40000 });
  assert.equal(after.allowed, true);
  assert.equal(after.decidedBy, "established");
  assert.equal(after.replyTo, 1);
  assert.match(after.summary, /reply to 1 established flow/);
  const fwd = m.app.explain({ from: "app", to: "db", proto: "tcp", port: 5432 });
  assert.equal(fwd.trackedFlows, 1);
  assert.equal(fwd.rule?.name, "app-to-db");
});

Deno.test("policy filter: the clock is read once per task (and every 1,024 packets)", async () => {
  let reads = 0;
  let t = 1_000;
  const filter = new PolicyFilter({
    engine: new PolicyEngine({ policy: parsePolicy(ISSUE_POLICY), members: threeNodes() }),
    clock: {
      now: () => {
        reads++;
        return t;
      },
    },
  });
  const out = tcp(WEB, APP, 40000, 8090, SYN);
  const back = tcp(APP, WEB, 8090, 40000, SYN | ACK);
  for (let i = 0; i < 1000; i++) assert.equal(filter.outbound(out), true);
  assert.equal(reads, 1);
  for (let i = 0; i < 100; i++) filter.outbound(out);
  assert.equal(reads, 2, "a long synchronous run re-reads every 1,024 packets");
  // A new task reads afresh: the flow (60 s unreplied) has expired by then.
  t += 60_001;
  filter.outbound(tcp(WEB, APP, 40001, 8090, SYN));
  assert.equal(reads, 2, "same task: the time read earlier still holds");
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(filter.inbound(back), false);
  assert.equal(reads, 3);
});

/** Garbage collections V8 reports while the child pushes 5 million packets through the filter. */
const collections = (mode: string) =>
  collectionsBetweenMarkers(
    new URL("../../tests/fixtures/policy_alloc_child.ts", import.meta.url),
    mode,
  );

Deno.test("policy filter: the packet path does not allocate per packet", async () => {
  // The control allocates a small array per iteration and must trigger collections.
  assert.ok(await collections("allocating") > 0, "the control did not register any collection");
  assert.equal(await collections("filter"), 0);
});

/** The issue's policy with an 8 Mbit/s (1,000 bytes a ms) rate on web-to-app, burst 3000 bytes. */
const RATED = ISSUE_POLICY.replace(
  `ports: ["8090-8100"]`,
  `ports: ["8090-8100"]\n    qos: { rate: 8mbit, burst: 3000 }`,
);

Deno.test("policy filter: a rate limit charges its flows' outgoing packets, replies included", () => {
  const m = mesh(RATED);
  assert.deepEqual(tcpSession(m, WEB, APP, 40000, 8090), ALL_DELIVERED);
  // web sent SYN, ACK (40 each) and 140 bytes of data: 2780 tokens left; app sent the SYN|ACK
  // and its 140 bytes, charged to app's bucket of the same rule (the flow's replies).
  const data = () => tcp(WEB, APP, 40000, 8090, ACK, 1200); // 1240 bytes
  assert.equal(send(m, data()), "delivered");
  assert.equal(send(m, data()), "delivered");
  assert.equal(send(m, data()), "dropped at source", "300 tokens left: no filter sink, dropped");
  assert.equal(m.web.held(), false, "dropped, not held");
  let web = m.web.stats();
  assert.deepEqual(web.rates["web-to-app"], {
    passedBytes: 40 + 40 + 140 + 2480,
    passedPackets: 5,
    delayedBytes: 0,
    delayedPackets: 0,
    droppedBytes: 1240,
    droppedPackets: 1,
  });
  assert.equal(web.rateDropped, 1);
  assert.equal(web.dropped.outbound, 1);
  assert.equal(web.droppedByRule["web-to-app"], undefined, "a rate's drops are not the rule's");
  // The bucket refills with the clock: 2 ms is 2000 bytes.
  m.clock.t += 2;
  assert.equal(send(m, data()), "delivered");
  assert.equal(send(m, data()), "dropped at source");
  // app's replies: its own bucket, and what arrives from the tunnel is never charged.
  const reply = () => tcp(APP, WEB, 8090, 40000, ACK, 1200);
  assert.equal(send(m, reply()), "delivered");
  assert.equal(send(m, reply()), "delivered");
  assert.equal(send(m, reply()), "dropped at source");
  const app = m.app.stats().rates["web-to-app"];
  assert.equal(app.passedBytes, 40 + 140 + 2480);
  assert.equal(app.droppedPackets, 1);
  // Flows of rules without a rate, and of the defaults, are not charged.
  for (let i = 0; i < 10; i++) assert.equal(send(m, ping(WEB, APP, 7, true, i)), "delivered");
  assert.deepEqual(Object.keys(m.web.stats().rates), ["web-to-app"]);
  // A reload that moves the rule to another index: the flow is charged to it by name still.
  m.web.engine.setPolicy(parsePolicy(RATED.replace("priority: 300", "priority: 1")));
  m.clock.t += 100;
  assert.equal(send(m, data()), "delivered");
  assert.equal(send(m, data()), "delivered");
  assert.equal(send(m, data()), "dropped at source");
  web = m.web.stats();
  assert.equal(web.rates["web-to-app"].passedPackets, 5 + 1 + 2);
  assert.equal(web.rates["web-to-app"].droppedPackets, 3);
  assert.equal(web.rateDropped, 3);
});

/** A sink that records what a filter lets go, and how often it was flushed. */
class RecordingSink {
  sent: Uint8Array[] = [];
  tos: number[] = [];
  flushes = 0;
  send(pkt: Uint8Array, tos: number): void {
    this.sent.push(pkt.slice());
    this.tos.push(tos);
  }
  flush(): void {
    this.flushes++;
  }
}

/** Waits `ms` of real time (the filter's queue runs on real timers). */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("policy filter: with a sink, a rate limit holds packets back and sends them in order", async () => {
  const m = mesh(RATED);
  const sink = new RecordingSink();
  m.web.attach(sink);
  try {
    // A UDP-free, TCP-only rule: a fresh connection's SYN is charged too.
    assert.equal(send(m, tcp(WEB, APP, 40000, 8090, SYN)), "delivered");
    const data = (n: number) => {
      const p = tcp(WEB, APP, 40000, 8090, ACK, 1200);
      p[p.length - 1] = n;
      return p;
    };
    assert.equal(m.web.outbound(data(1)), true);
    assert.equal(m.web.outbound(data(2)), true);
    // 3000 - 40 - 2480 = 480 tokens: the next ones wait for theirs, copied.
    const third = data(3);
    assert.equal(m.web.outbound(third), false);
    assert.equal(m.web.held(), true);
    third[third.length - 1] = 99; // the sender reuses its buffer at once
    assert.equal(m.web.outbound(data(4)), false);
    assert.equal(m.web.held(), true);
    const small = tcp(WEB, APP, 40000, 8090, ACK, 10);
    assert.equal(m.web.outbound(small), false);
    assert.equal(m.web.held(), true);
    let st = m.web.stats();
    assert.equal(st.rateQueued, 3);
    assert.equal(st.rateDelayed, 3);
    assert.equal(st.rates["web-to-app"].delayedBytes, 1240 + 1240 + 50);
    assert.equal(st.dropped.outbound, 0);
    // The filter's clock stands still: the first is due within a millisecond (a timer's
    // slack) and leaves; the others (due 2 ms on) wait.
    await sleep(20);
    assert.deepEqual(sink.sent.map((p) => [p.length, p[p.length - 1]]), [[1240, 3]]);
    // Their time comes: they leave, in order.
    m.clock.t += 10;
    await sleep(20);
    assert.deepEqual(sink.sent.map((p) => [p.length, p[p.length - 1]]), [
      [1240, 3],
      [1240, 4],
      [50, 0],
    ]);
    assert.ok(sink.flushes >= 1);
    st = m.web.stats();
    assert.equal(st.rateQueued, 0);
    // The queue is bounded (100 ms of the rate): past it, packets are dropped.
    let [passed, held] = [0, 0];
    for (;;) {
      if (m.web.outbound(data(5))) passed++;
      else if (m.web.held()) held++;
      else break;
    }
    // Two pass on the bucket's 3000 bytes (520 left), 81 wait on credit down to -100,000
    // bytes (100 ms of the rate), the next is dropped.
    assert.equal(passed, 2);
    assert.equal(held, 81);
    st = m.web.stats();
    assert.equal(st.rateDropped, 1);
    assert.equal(st.rateQueued, held);
    // Closing drops what waits.
    m.web.close();
    assert.equal(m.web.stats().rateQueued, 0);
    m.clock.t += 1000;
    await sleep(20);
    assert.equal(sink.sent.length, 3);
  } finally {
    m.web.close();
  }
});

const CLASSED = ISSUE_POLICY.replace(
  `ports: ["8090-8100"]`,
  `ports: ["8090-8100"]\n    qos: { class: bulk, rate: 8mbit, burst: 3000 }`,
).replace(`    proto: icmp`, `    proto: icmp\n    qos: { class: interactive }`);

Deno.test("policy filter: a rule's class marks its flows' packets both ways, held ones too", async () => {
  const m = mesh(CLASSED);
  const sink = new RecordingSink();
  m.web.attach(sink);
  const tosAfter = (f: PolicyFilter, pkt: Uint8Array) => {
    assert.equal(f.outbound(pkt), true);
    return f.tos();
  };
  try {
    // A ping to app and its reply (app's packet of a flow its inbound side allowed).
    assert.equal(tosAfter(m.web, ping(WEB, APP, 7, true, 1)), QOS_CLASS_TOS.interactive);
    assert.equal(m.app.inbound(ping(WEB, APP, 7, true, 1)), true);
    assert.equal(tosAfter(m.app, ping(APP, WEB, 7, false, 1)), QOS_CLASS_TOS.interactive);
    // The bulk rule's flow, new and established, and its replies.
    assert.equal(tosAfter(m.web, tcp(WEB, APP, 40000, 8090, SYN)), QOS_CLASS_TOS.bulk);
    assert.equal(m.app.inbound(tcp(WEB, APP, 40000, 8090, SYN)), true);
    assert.equal(tosAfter(m.app, tcp(APP, WEB, 8090, 40000, SYN | ACK)), QOS_CLASS_TOS.bulk);
    assert.equal(tosAfter(m.web, tcp(WEB, APP, 40000, 8090, ACK, 100)), QOS_CLASS_TOS.bulk);
    // A flow to outside the mesh, which no rule matches (the default lets it out): none.
    assert.equal(tosAfter(m.web, udp(WEB, "192.0.2.9", 5000, 53)), 0);
    // Packets the rate holds back keep their mark until they leave.
    const big = () => tcp(WEB, APP, 40000, 8090, ACK, 1200);
    while (m.web.outbound(big())) { /* spend the bucket */ }
    assert.equal(m.web.held(), true);
    m.clock.t += 10;
    await sleep(20);
    assert.ok(sink.tos.length >= 1);
    assert.ok(sink.tos.every((t) => t === QOS_CLASS_TOS.bulk), String(sink.tos));
    // A policy without classes marks nothing, established flows included.
    m.web.engine.setPolicy(parsePolicy(ISSUE_POLICY));
    assert.equal(tosAfter(m.web, ping(WEB, APP, 7, true, 2)), 0);
  } finally {
    m.web.close();
  }
});
