/**
 * Policy filter benchmark: the per-packet cost of the policy check with no policy and with 1,000
 * rules, for new flows (every packet a new TCP SYN: rule walk plus a conntrack insert, evicting
 * once the table is full) and for established flows (a conntrack hit), plus the rule walk alone.
 *
 *   deno run -A scripts/bench/policy.ts [ms-per-case=1000]
 *
 * Three 1,000-rule sets, each ending with the rule that decides the benchmark packet: "labels"
 * (rules select members by label, as real policies do: the per-address index leaves a handful of
 * candidates), "* to *, other ports" (every rule matches any address, on ports elsewhere: the
 * protocol/port-block index skips them) and "* to *, worst case" (the same on ports in the
 * packet's own 1024-port block: every new flow walks all 1,000).
 * @module
 */

import type { Member, MembershipView } from "../../lib/members/member.ts";
import { PROTO_TCP } from "../../lib/net/ip.ts";
import { writeIpv4Header } from "../../lib/net/ipv4.ts";
import { PolicyEngine } from "../../lib/policy/engine.ts";
import { PolicyFilter } from "../../lib/policy/filter.ts";
import { FlowInfo, parseFlow } from "../../lib/policy/packet.ts";
import { parsePolicy } from "../../lib/policy/parse.ts";

/** One measured case. */
export interface PolicyBenchRow {
  /** What is measured. */
  case: string;
  /** Rules in force. */
  rules: number;
  /** Nanoseconds per packet. */
  nsPerPacket: number;
  /** Packets per second on one core. */
  packetsPerSecond: number;
}

/** The benchmark's result: rows and the 0-rule / 1,000-rule throughput ratios. */
export interface PolicyBenchResult {
  /** Every case. */
  rows: PolicyBenchRow[];
  /** Throughput with no policy divided by throughput with 1,000 rules, per case and rule set. */
  ratios: Record<string, number>;
}

const MEMBERS = 200;
const ROLES = 50;

function view(): MembershipView {
  const members: Member[] = [];
  for (let i = 0; i < MEMBERS; i++) {
    members.push({
      name: `n${i}`,
      publicKey: `k${i}`,
      address: `10.90.${i >> 8}.${(i & 255) + 1}`,
      address6: `fd90::${i + 1}`,
      endpoints: [],
      labels: { role: i === 0 ? "web" : i === 1 ? "app" : `svc${i % ROLES}`, env: "prod" },
      role: "node",
      services: [],
      joinedAt: 0,
    });
  }
  return { network: "10.90.0.0/16", version: 1, members };
}

const LAST_RULE = `  - name: web-to-app
    action: allow
    priority: 999999
    from: "role=web"
    to: "role=app"
    proto: tcp
    ports: ["8090-8100"]
`;

/** 999 label rules between service roles, then the rule the benchmark packets match. */
function labelRules(): string {
  let s = "policies:\n";
  for (let i = 0; i < 999; i++) {
    s += `  - { name: r${i}, action: ${i % 3 ? "allow" : "deny"}, priority: ${i}, ` +
      `from: "role=svc${i % ROLES}", to: "role=svc${(i * 7 + 3) % ROLES},env=prod", ` +
      `proto: tcp, ports: [${1000 + i}] }\n`;
  }
  return s + LAST_RULE;
}

/**
 * 999 `* -> *` tcp rules on ports the packet does not use, then the deciding rule. With
 * `sameBlock` the ports share the packet's 1024-port block, so the index cannot skip them and
 * every new flow walks all 999 (the worst case); otherwise they lie elsewhere.
 */
function starRules(sameBlock: boolean): string {
  let s = "policies:\n";
  for (let i = 0; i < 999; i++) {
    const port = sameBlock ? (7168 + i >= 8090 ? 7179 + i : 7168 + i) : 20000 + i;
    s += `  - { name: w${i}, action: deny, priority: ${i}, from: "*", to: "*", proto: tcp, ` +
      `ports: [${port}] }\n`;
  }
  return s + LAST_RULE;
}

/** A TCP SYN web -> app tcp/8090, IPv4. */
function synPacket(): Uint8Array {
  const pkt = new Uint8Array(40);
  writeIpv4Header(
    pkt,
    new Uint8Array([10, 90, 0, 1]),
    new Uint8Array([10, 90, 0, 2]),
    PROTO_TCP,
    20,
  );
  pkt[20] = 40000 >> 8;
  pkt[21] = 40000 & 0xff;
  pkt[22] = 8090 >> 8;
  pkt[23] = 8090 & 0xff;
  pkt[32] = 5 << 4;
  pkt[33] = 0x02;
  return pkt;
}

/** Runs `batch` (which handles `n` packets) until `ms` have passed; ns per packet. */
function measure(ms: number, n: number, batch: () => void): number {
  for (let i = 0; i < 20; i++) batch(); // warm-up, let the JIT settle
  let packets = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    batch();
    packets += n;
    t = performance.now();
  }
  return ((t - t0) * 1e6) / packets;
}

function filterFor(policy: string | null, members: MembershipView): PolicyFilter {
  return new PolicyFilter({
    engine: new PolicyEngine({ policy: policy === null ? null : parsePolicy(policy), members }),
  });
}

/** Measures every case for about `ms` milliseconds each. */
export function runPolicyBench(ms = 1000): PolicyBenchResult {
  const members = view();
  const sets: [string, string | null][] = [
    ["no policy", null],
    ["1000 rules (labels)", labelRules()],
    ["1000 rules (* to *, other ports)", starRules(false)],
    ["1000 rules (* to *, worst case)", starRules(true)],
  ];
  const BATCH = 10_000;
  const rows: PolicyBenchRow[] = [];
  const ns: Record<string, number> = {};
  for (const [name, policy] of sets) {
    const rules = policy === null ? 0 : 1000;
    const pkt = synPacket();

    // Rule walk alone: match + verdict on a parsed flow.
    const engine = new PolicyEngine({
      policy: policy === null ? null : parsePolicy(policy),
      members,
    });
    const flow = new FlowInfo();
    parseFlow(pkt, flow, new FlowInfo());
    let sink = 0;
    const check = measure(ms, BATCH, () => {
      const c = engine.compiled;
      for (let i = 0; i < BATCH; i++) if (c.verdict(0, c.match(flow))) sink++;
    });
    if (
      policy !== null && engine.compiled.rules[engine.compiled.match(flow)]?.name !== "web-to-app"
    ) {
      throw new Error("benchmark packet not decided by the last rule");
    }

    // New flows: a fresh tuple for every packet (source port, then destination port in
    // 8090-8100: 700k tuples per cycle, far more than the table holds, so it stays full).
    const fNew = filterFor(policy, members);
    let sport = 1024;
    let dport = 8090;
    const fresh = measure(ms, BATCH, () => {
      for (let i = 0; i < BATCH; i++) {
        if (++sport > 65535) {
          sport = 1024;
          dport = dport === 8100 ? 8090 : dport + 1;
          pkt[23] = dport & 0xff;
        }
        pkt[20] = sport >> 8;
        pkt[21] = sport & 0xff;
        if (fNew.outbound(pkt)) sink++;
      }
    });
    if (fNew.stats().conntrack.evictions === 0) throw new Error("the table never filled");

    // Established: the same flow over and over, one packet each way.
    const fEst = filterFor(policy, members);
    const data = synPacket();
    data[33] = 0x10;
    const reply = synPacket();
    reply.set(data.subarray(16, 20), 12);
    reply.set(data.subarray(12, 16), 16);
    reply.set(data.subarray(22, 24), 20);
    reply.set(data.subarray(20, 22), 22);
    reply[33] = 0x10;
    fEst.outbound(synPacket());
    const established = measure(ms, BATCH, () => {
      for (let i = 0; i < BATCH; i += 2) {
        if (fEst.outbound(data)) sink++;
        if (fEst.inbound(reply)) sink++;
      }
    });
    if (sink === 0) throw new Error("nothing passed");
    for (
      const [kind, v] of [["rule check", check], ["new flow", fresh], [
        "established",
        established,
      ]] as const
    ) {
      rows.push({
        case: `${kind}, ${name}`,
        rules,
        nsPerPacket: Math.round(v * 10) / 10,
        packetsPerSecond: Math.round(1e9 / v),
      });
      ns[`${kind}|${name}`] = v;
    }
  }
  const ratios: Record<string, number> = {};
  for (const kind of ["rule check", "new flow", "established"]) {
    for (const [name] of sets.slice(1)) {
      ratios[`${kind}, ${name}`] =
        Math.round((ns[`${kind}|${name}`] / ns[`${kind}|no policy`]) * 100) / 100;
    }
  }
  return { rows, ratios };
}

if (import.meta.main) {
  const result = runPolicyBench(Number(Deno.args[0] ?? 1000));
  console.table(result.rows);
  console.log("throughput ratio, no policy : 1000 rules (1.00 = no cost):");
  console.table(result.ratios);
}
