import assert from "node:assert/strict";
import { policyDropsByRule, PolicyRuntime } from "./runtime.ts";
import { createLogger, nullLogger } from "../log/logger.ts";
import { CONTROL_PORT } from "../members/ports.ts";
import { ISSUE_POLICY, tcp, threeNodes, udp } from "../../tests/fixtures/policy_packets.ts";
import { buildUdpPacket } from "../net/udp.ts";
import { parseAddress } from "../net/ip.ts";
import { compilePolicyText } from "./source.ts";
import { QOS_CLASS_TOS } from "./qos.ts";

const WEB = "10.77.0.1";
const DB = "10.77.0.3";
const canonical = compilePolicyText(ISSUE_POLICY).canonical;

function controlDatagram(src: string, dst: string): Uint8Array {
  return buildUdpPacket(
    parseAddress(src)!,
    parseAddress(dst)!,
    CONTROL_PORT,
    CONTROL_PORT,
    new TextEncoder().encode("{}"),
  );
}

/** The version in force, 0 for none. */
function versionOf(rt: PolicyRuntime): number {
  return rt.policy?.version ?? 0;
}

Deno.test("policy runtime: no policy lets everything through; a policy is enforced", () => {
  const rt = new PolicyRuntime({
    members: threeNodes(),
    logger: nullLogger,
    addresses: [WEB + "/16"],
  });
  try {
    assert.equal(versionOf(rt), 0);
    assert.ok(rt.deviceFilter.outbound(tcp(WEB, DB, 40000, 5432, 0x02)));
    assert.ok(rt.use({ version: 4, text: canonical }, threeNodes()));
    assert.equal(versionOf(rt), 4);
    assert.equal(rt.deviceFilter.outbound(tcp(WEB, DB, 40000, 5432, 0x02)), false, "web -> db");
    const st = rt.status().policy!;
    assert.equal(st.version, 4);
    assert.ok(st.rules > 0);
    assert.equal(st.dropped.outbound, 1);
    assert.deepEqual(rt.drops(), { drops: { "deny-db": 1 }, rates: {} });
    assert.deepEqual(rt.figures(), rt.drops());
    assert.ok(rt.use(null, threeNodes()));
    assert.equal(versionOf(rt), 0);
    assert.ok(rt.deviceFilter.outbound(tcp(WEB, DB, 40001, 5432, 0x02)));
  } finally {
    rt.close();
  }
});

Deno.test("policy runtime: the mesh's control traffic passes any policy", () => {
  const rt = new PolicyRuntime({ members: threeNodes(), logger: nullLogger, addresses: [WEB] });
  rt.use({ version: 1, text: canonical }, threeNodes());
  assert.equal(rt.deviceFilter.outbound(udp(WEB, DB, 40000, 53)), false, "other udp to db");
  assert.ok(rt.deviceFilter.outbound(controlDatagram(WEB, DB)));
  assert.ok(rt.deviceFilter.inbound(controlDatagram(DB, WEB)));
  // The policy's own filter would have dropped it: the exemption is the runtime's.
  assert.equal(rt.filter.outbound(controlDatagram(WEB, DB)), false);
});

Deno.test("policy runtime: a classed flow's mark; the mesh's own traffic goes unmarked", () => {
  const rt = new PolicyRuntime({ members: threeNodes(), logger: nullLogger, addresses: [WEB] });
  try {
    const classed = ISSUE_POLICY.replace(
      `ports: ["8090-8100"]`,
      `ports: ["8090-8100"]\n    qos: { class: interactive }`,
    );
    rt.use({ version: 1, text: compilePolicyText(classed).canonical }, threeNodes());
    const f = rt.deviceFilter;
    assert.ok(f.outbound(tcp(WEB, "10.77.0.2", 40000, 8090, 0x02)));
    assert.equal(f.tos?.(), QOS_CLASS_TOS.interactive);
    // The control datagram right after it passes on the exemption, not on the flow's rule.
    assert.ok(f.outbound(controlDatagram(WEB, DB)));
    assert.equal(f.tos?.(), 0);
    assert.ok(f.outbound(tcp(WEB, "10.77.0.2", 40000, 8090, 0x10)));
    assert.equal(f.tos?.(), QOS_CLASS_TOS.interactive);
  } finally {
    rt.close();
  }
});

Deno.test("policy runtime: the control port as a source or toward another address meets the policy", () => {
  // The node is db, which deny-db protects from everyone.
  const rt = new PolicyRuntime({
    members: threeNodes(),
    logger: nullLogger,
    addresses: [DB + "/16", "fd77::3/64"],
  });
  rt.use({ version: 1, text: canonical }, threeNodes());
  const port = CONTROL_PORT;
  // A member sending from the control port to a protected port (weft send --from-port 51821).
  assert.equal(rt.deviceFilter.inbound(udp(WEB, DB, port, 5432)), false, "from :51821 to :5432");
  assert.equal(rt.deviceFilter.inbound(udp(WEB, DB, port, 53)), false, "from :51821 to :53");
  // To the control port of an address that is not this node's (a route through it).
  assert.equal(
    rt.deviceFilter.inbound(udp(WEB, "10.77.0.9", port, port)),
    false,
    "another address",
  );
  // db's own outbound datagram that only names the port as its destination is not control traffic.
  assert.equal(
    rt.filter.outbound(udp(DB, WEB, 40000, port)),
    rt.deviceFilter.outbound(udp(DB, WEB, 40000, port)),
  );
  // What is this node's own: to its address and control port, or from them, both families.
  assert.ok(rt.deviceFilter.inbound(udp(WEB, DB, port, port)));
  assert.ok(rt.deviceFilter.inbound(udp(WEB, DB, 40000, port)));
  assert.ok(rt.deviceFilter.outbound(udp(DB, WEB, port, port)));
  assert.ok(rt.deviceFilter.inbound(udp("fd77::1", "fd77::3", port, port)));
  assert.equal(rt.deviceFilter.inbound(udp("fd77::1", "fd77::3", port, 5432)), false, "v6");
  // TCP on the control port is never control traffic.
  assert.equal(rt.deviceFilter.inbound(tcp(WEB, DB, port, port, 0x02)), false, "tcp");
  rt.close();
});

Deno.test("policy runtime: a policy that does not parse leaves the previous one; both logged", () => {
  const lines: string[] = [];
  const logger = createLogger({ format: "json", sink: (l) => lines.push(JSON.parse(l).msg) });
  const rt = new PolicyRuntime({ members: threeNodes(), logger, addresses: [WEB] });
  assert.ok(rt.use({ version: 1, text: canonical }, threeNodes()));
  assert.equal(rt.use({ version: 2, text: "policies: [oops" }, threeNodes()), false);
  assert.equal(rt.policy?.version, 1);
  assert.deepEqual(lines, ["policy in force", "policy rejected"]);
});

Deno.test("policy runtime: members are compiled in only while a policy is in force", () => {
  const rt = new PolicyRuntime({ members: threeNodes(1), logger: nullLogger, addresses: [WEB] });
  rt.membersChanged(threeNodes(5));
  assert.equal(rt.engine.members?.version, 1, "no policy: the engine is left alone");
  rt.use({ version: 1, text: canonical }, threeNodes(6));
  assert.equal(rt.engine.members?.version, 6);
  rt.membersChanged(threeNodes(7));
  assert.equal(rt.engine.members?.version, 7);
});

Deno.test("policy runtime: drops by rule name, the default action's as (default)", () => {
  const drops = policyDropsByRule({
    droppedByRule: { "deny-db": 2 },
    droppedByDefault: { inbound: 1, outbound: 2 },
  } as never);
  assert.deepEqual(drops, { "deny-db": 2, "(default)": 3 });
  assert.deepEqual(
    policyDropsByRule(
      { droppedByRule: {}, droppedByDefault: { inbound: 0, outbound: 0 } } as never,
    ),
    {},
  );
});
