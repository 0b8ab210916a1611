import assert from "node:assert/strict";
import { SubnetRouter, type SubnetRouterOptions } from "./router.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { member } from "../../../tests/fixtures/members.ts";
import { nullLogger } from "../../log/logger.ts";
import type { ForwardingConfig, HostForwarding } from "../../routes/forwarding.ts";

const NET = "198.51.100.0/24";

/** Host forwarding that records the calls; `fail` makes apply throw it. */
function fakeForwarding(
  fail?: Error,
): HostForwarding & { applied: ForwardingConfig[]; closed: number } {
  const fake = {
    applied: [] as ForwardingConfig[],
    closed: 0,
    apply(config: ForwardingConfig) {
      fake.applied.push(config);
      return fail ? Promise.reject(fail) : Promise.resolve();
    },
    close() {
      fake.closed++;
      return Promise.resolve();
    },
    sweep() {
      return Promise.resolve();
    },
    counters: () => Promise.resolve([]),
  };
  return fake;
}

function view(me: Partial<Member> = {}, version = 1): MembershipView {
  return {
    network: "10.96.0.0/16",
    network6: "fd7a::/48",
    version,
    members: [member("me", "10.96.0.2", { publicKey: "ME", ...me })],
  };
}

function router(
  forwarding: HostForwarding,
  opts: Partial<SubnetRouterOptions> = {},
  v: () => MembershipView = () => view({ advertisedRoutes: [NET], grants: { routes: [NET] } }),
): SubnetRouter {
  return new SubnetRouter({
    forwarding,
    iface: "weft0",
    self: "ME",
    view: v,
    prefixes: [NET],
    logger: nullLogger,
    ...opts,
  });
}

Deno.test("subnet router: start lets through what the leader approved, masquerading", async () => {
  const fwd = fakeForwarding();
  const r = router(fwd);
  assert.deepEqual(fwd.applied, [], "nothing before start");
  await r.start();
  assert.deepEqual(fwd.applied, [{
    iface: "weft0",
    sources: ["10.96.0.0/16", "fd7a::/48"],
    prefixes: [NET],
    families: [4],
    masquerade: true,
  }]);
  await r.close();
  assert.equal(fwd.closed, 1);
  await r.close();
  assert.equal(fwd.closed, 1, "closed once");
});

Deno.test("subnet router: nothing let through before the approval; approval and revocation followed", async () => {
  const fwd = fakeForwarding();
  let v = view({ advertisedRoutes: [NET] });
  const r = router(fwd, {}, () => v);
  await r.start();
  assert.deepEqual(fwd.applied[0].prefixes, [], "the family guarded, no prefix let through");
  assert.deepEqual(fwd.applied[0].families, [4]);
  v = view({ advertisedRoutes: [NET], grants: { routes: [NET] } }, 2);
  r.viewChanged(v);
  r.viewChanged(v);
  await r.close();
  assert.deepEqual(fwd.applied.map((a) => a.prefixes), [[], [NET]], "applied once per change");
});

Deno.test("subnet router: masquerade off on request, always on for an exit node", async () => {
  const off = fakeForwarding();
  await router(off, { masquerade: false }).start();
  assert.equal(off.applied[0].masquerade, false);

  const on = fakeForwarding();
  await router(on, { masquerade: true }).start();
  assert.equal(on.applied[0].masquerade, true);

  const prefixes = ["0.0.0.0/0", NET, "::/0"];
  const exit = fakeForwarding();
  await router(
    exit,
    { masquerade: false, prefixes },
    () => view({ advertisedRoutes: prefixes, grants: { routes: [NET, "exit"] } }),
  ).start();
  assert.equal(exit.applied[0].masquerade, true);
  assert.deepEqual(exit.applied[0].prefixes, [NET, "0.0.0.0/0", "::/0"]);
  assert.deepEqual(exit.applied[0].families, [4, 6]);
});

Deno.test("subnet router: a host that cannot forward stops the start; close does nothing then", async () => {
  const fwd = fakeForwarding(new Error("iptables: not found"));
  const r = router(fwd);
  await assert.rejects(
    r.start(),
    (e) =>
      e instanceof Error &&
      e.message === "cannot carry routes for the mesh: iptables: not found" &&
      (e.cause as Error).message === "iptables: not found",
  );
  await r.close();
  assert.equal(fwd.closed, 0);
});

Deno.test("subnet router: close before start touches nothing", async () => {
  const fwd = fakeForwarding();
  await router(fwd).close();
  assert.equal(fwd.closed, 0);
  assert.deepEqual(fwd.applied, []);
});

Deno.test("subnet router: routes advertised at runtime: none sets up nothing, then set up, then down", async () => {
  const fwd = fakeForwarding();
  let v = view();
  const r = router(fwd, { prefixes: [] }, () => v);
  await r.start();
  assert.equal(fwd.applied.length, 0, "nothing on the host with no routes");
  assert.deepEqual(await r.readCounters(), []);
  // weft set --advertise-routes: set up for the new routes (approved: none yet).
  await r.setPrefixes([NET]);
  assert.deepEqual(r.prefixes, [NET]);
  assert.equal(fwd.applied.length, 1);
  assert.deepEqual(fwd.applied[0].prefixes, []);
  assert.deepEqual(fwd.applied[0].families, [4]);
  // The leader approves: let through.
  v = view({ advertisedRoutes: [NET], grants: { routes: [NET] } }, 2);
  r.viewChanged(v);
  await r.setPrefixes([NET, "2001:db8::/32"]);
  assert.deepEqual(fwd.applied.at(-1)!.prefixes, [NET]);
  assert.deepEqual(fwd.applied.at(-1)!.families, [4, 6], "set up again for the new family");
  // None again: taken down.
  await r.setPrefixes([]);
  assert.equal(fwd.closed, 1);
  await r.close();
  assert.equal(fwd.closed, 1, "nothing more to take down");
});

Deno.test("subnet router: routes the host cannot forward are refused, the ones before stay", async () => {
  let fail: Error | undefined;
  const fwd = fakeForwarding();
  const apply = fwd.apply.bind(fwd);
  fwd.apply = (c) => fail ? (fwd.applied.push(c), Promise.reject(fail)) : apply(c);
  const r = router(fwd);
  await r.start();
  fail = new Error("no iptables");
  await assert.rejects(r.setPrefixes([NET, "2001:db8::/32"]), /cannot carry routes.*no iptables/);
  assert.deepEqual(r.prefixes, [NET]);
  fail = undefined;
  await r.setPrefixes([NET]);
  assert.deepEqual(fwd.applied.at(-1)!.families, [4]);
  await r.close();
});
