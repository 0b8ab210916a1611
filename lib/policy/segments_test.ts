import assert from "node:assert/strict";
import { parsePolicy, serializePolicy } from "./parse.ts";
import { PolicyEngine } from "./engine.ts";
import { PolicyFilter } from "./filter.ts";
import { policyDropsByRule } from "./runtime.ts";
import { threeNodes, udp } from "../../tests/fixtures/policy_packets.ts";

const SEGMENTS = `
segments:
  - name: blue
    vni: 100
    select: "role in (web,app)"
  - name: red
    vni: 16777215
    select: { names: [db] }
    mtu: 1280
    driver: vxlan
`;

Deno.test("policy segments: parsed, defaulted, written back the same", () => {
  const doc = parsePolicy(SEGMENTS);
  assert.equal(doc.policies.length, 0);
  assert.deepEqual(doc.segments?.map((s) => [s.name, s.vni, s.mtu, s.driver]), [
    ["blue", 100, undefined, "vxlan"],
    ["red", 16777215, 1280, "vxlan"],
  ]);
  assert.deepEqual(parsePolicy(serializePolicy(doc)), doc);
  assert.equal(parsePolicy("policies: []\n").segments, undefined, "no segments, no key");
});

/** A VXLAN datagram from `src` to `dst`:4789 for `vni`. */
function vxlan(src: string, dst: string, vni: number): Uint8Array {
  const p = udp(src, dst, 40000, 4789);
  const out = new Uint8Array(p.length + 16);
  out.set(p);
  out.set([0x08, 0, 0, 0, vni >> 16, (vni >> 8) & 255, vni & 255, 0], 28);
  // The IP and UDP lengths cover the payload.
  const total = out.length;
  out[2] = total >> 8;
  out[3] = total & 255;
  out[24] = (total - 20) >> 8;
  out[25] = (total - 20) & 255;
  return out;
}

Deno.test("policy segments: VXLAN passes between a segment's members only, whatever the rules", () => {
  // A deny-everything policy: the segment's frames pass anyway, nothing else does.
  const doc = parsePolicy(SEGMENTS + "defaults: { inbound: deny, outbound: deny }\n");
  const filter = new PolicyFilter({
    engine: new PolicyEngine({ policy: doc, members: threeNodes() }),
  });
  const WEB = "10.77.0.1", APP = "10.77.0.2", DB = "10.77.0.3";
  assert.equal(filter.inbound(vxlan(WEB, APP, 100)), true, "blue from a blue member");
  assert.equal(filter.outbound(vxlan(APP, WEB, 100)), true, "blue to a blue member");
  assert.equal(filter.inbound(vxlan(DB, APP, 100)), false, "blue from db, not in blue");
  assert.equal(filter.inbound(vxlan(WEB, DB, 16777215)), false, "red from web, not in red");
  assert.equal(filter.inbound(vxlan(WEB, APP, 300)), false, "a VNI no segment has");
  assert.equal(filter.inbound(vxlan("10.77.0.99", APP, 100)), false, "not a member");
  assert.equal(filter.inbound(vxlan(WEB, APP, 100).subarray(0, 32)), false, "cut short");
  const short = vxlan(WEB, APP, 100).subarray(0, 32);
  short[2] = 0;
  short[3] = 32;
  short[24] = 0;
  short[25] = 12;
  assert.equal(filter.inbound(short), false, "no room for the VXLAN header");
  assert.equal(filter.inbound(udp(WEB, APP, 40000, 4000)), false, "other UDP: the rules");
  const st = filter.stats();
  assert.equal(st.segment, 5);
  assert.equal(st.malformed, 1, "the one cut short of its own IP length");
  assert.equal(policyDropsByRule(st)["(segment)"], 5);
  // Without segments, port 4789 is any port.
  const plain = new PolicyFilter({
    engine: new PolicyEngine({ policy: parsePolicy("policies: []\n"), members: threeNodes() }),
  });
  assert.equal(plain.inbound(vxlan(DB, APP, 100)), true);
});
