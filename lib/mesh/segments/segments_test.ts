import assert from "node:assert/strict";
import { MeshSegments, planSegments } from "./segments.ts";
import { parsePolicy } from "../../policy/parse.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import type { SegmentDriver, SegmentPlan } from "../../segments/segments.ts";
import { member } from "../../../tests/fixtures/members.ts";
import { nullLogger } from "../../log/logger.ts";

const DOC = parsePolicy(`
segments:
  - { name: blue, vni: 100, select: "blue=yes" }
  - { name: red, vni: 200, select: { names: [a, b] }, mtu: 1280 }
`);

function node(name: string, address: string, labels: Record<string, string>, extra = {}): Member {
  return member(name, address, { publicKey: `K-${name}`, labels, ...extra });
}

function view(...members: Member[]): MembershipView {
  return { network: "10.9.0.0/24", version: 1, members };
}

const a = node("a", "10.9.0.2", { blue: "yes" });
const b = node("b", "10.9.0.3", { blue: "yes" });
const c = node("c", "10.9.0.4", { blue: "yes" });
const d = node("d", "10.9.0.5", {});

Deno.test("segments plan: the segments that select this member, the others in each", () => {
  const plans = planSegments(DOC, view(a, b, c, d), "K-a", 1420);
  assert.deepEqual(plans, [
    {
      name: "blue",
      driver: "vxlan",
      vni: 100,
      mtu: 1370,
      local: "10.9.0.2",
      remotes: ["10.9.0.3", "10.9.0.4"],
    },
    { name: "red", driver: "vxlan", vni: 200, mtu: 1280, local: "10.9.0.2", remotes: ["10.9.0.3"] },
  ]);
  assert.deepEqual(planSegments(DOC, view(a, b, c, d), "K-d", 1420), [], "d is in none");
  assert.deepEqual(planSegments(null, view(a, b), "K-a", 1420), []);
  // A member that stopped on purpose is out of the flooding list until it is back.
  const off = { ...c, offline: true as const };
  assert.deepEqual(planSegments(DOC, view(a, b, off), "K-a", 1420)[0].remotes, ["10.9.0.3"]);
});

/** A driver that records what it is asked. */
class FakeDriver implements SegmentDriver {
  readonly name = "vxlan";
  applied: SegmentPlan[][] = [];
  fail: string | null = null;
  swept = 0;
  closed = 0;
  apply(plans: readonly SegmentPlan[]): Promise<void> {
    this.applied.push(structuredClone([...plans]));
    return this.fail ? Promise.reject(new Error(this.fail)) : Promise.resolve();
  }
  close(): Promise<void> {
    this.closed++;
    return Promise.resolve();
  }
  sweep(): Promise<void> {
    this.swept++;
    return Promise.resolve();
  }
}

Deno.test("segments part: follows the view and the policy; a failed start is an error", async () => {
  const driver = new FakeDriver();
  let v = view(a, b, d);
  let doc: typeof DOC | null = DOC;
  const part = new MeshSegments({
    drivers: [driver],
    self: "K-a",
    mtu: 1420,
    view: () => v,
    policy: () => doc,
    logger: nullLogger,
  });
  await part.start();
  assert.equal(driver.swept, 1, "a crashed run's leftovers go first");
  assert.deepEqual(driver.applied.at(-1)!.map((p) => p.remotes), [["10.9.0.3"], ["10.9.0.3"]]);
  // c joins blue: added to the flooding list with the view.
  v = view(a, b, c, d);
  part.viewChanged();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(driver.applied.at(-1)![0].remotes, ["10.9.0.3", "10.9.0.4"]);
  const n = driver.applied.length;
  part.viewChanged();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(driver.applied.length, n, "the same plans are not applied again");
  assert.deepEqual(part.status().map((s) => [s.name, s.bridge, s.members.length, s.up]), [
    ["blue", "br-blue", 3, true],
    ["red", "br-red", 2, true],
  ]);
  // The policy loses its segments: every segment goes.
  doc = null;
  part.policyChanged();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(driver.applied.at(-1), []);
  await part.close();
  assert.equal(driver.closed, 1);

  const broken = new FakeDriver();
  broken.fail = "the kernel has no VXLAN";
  const failing = new MeshSegments({
    drivers: [broken],
    self: "K-a",
    mtu: 1420,
    view: () => view(a, b),
    policy: () => DOC,
    logger: nullLogger,
  });
  await assert.rejects(() => failing.start(), /segments: the kernel has no VXLAN/);
});

Deno.test("segments part: a segment whose driver this node lacks is an error naming it", async () => {
  const none = new MeshSegments({
    drivers: [],
    self: "K-a",
    mtu: 1420,
    view: () => view(a, b),
    policy: () => DOC,
    logger: nullLogger,
  });
  await assert.rejects(
    () => none.start(),
    /segment blue runs on the vxlan driver, which this node does not have \(it has none; vxlan needs the vxlan and bridge kernel modules/,
  );
  assert.deepEqual(none.status().map((s) => [s.name, s.driver, s.up]), [
    ["blue", "vxlan", false],
    ["red", "vxlan", false],
  ]);
});
