import assert from "node:assert/strict";
import { SubnetRouter, type SubnetRouterOptions } from "./router.ts";
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

function router(
  forwarding: HostForwarding,
  opts: Partial<SubnetRouterOptions> = {},
): SubnetRouter {
  return new SubnetRouter({
    forwarding,
    iface: "weft0",
    sources: () => ["10.96.0.0/16", "fd7a::/48"],
    prefixes: [NET],
    logger: nullLogger,
    ...opts,
  });
}

Deno.test("subnet router: start applies the interface, sources and prefixes, masquerading", async () => {
  const fwd = fakeForwarding();
  let asked = 0;
  const r = router(fwd, {
    sources: () => {
      asked++;
      return ["10.96.0.0/16"];
    },
  });
  assert.deepEqual(fwd.applied, [], "nothing before start");
  assert.equal(asked, 0, "the sources are read at start");
  await r.start();
  assert.deepEqual(fwd.applied, [{
    iface: "weft0",
    sources: ["10.96.0.0/16"],
    prefixes: [NET],
    masquerade: true,
  }]);
  await r.close();
  assert.equal(fwd.closed, 1);
  await r.close();
  assert.equal(fwd.closed, 1, "closed once");
});

Deno.test("subnet router: masquerade off on request, always on for an exit node", async () => {
  const off = fakeForwarding();
  await router(off, { masquerade: false }).start();
  assert.equal(off.applied[0].masquerade, false);

  const on = fakeForwarding();
  await router(on, { masquerade: true }).start();
  assert.equal(on.applied[0].masquerade, true);

  for (const prefixes of [["0.0.0.0/0", "::/0", NET], ["::/0"], ["0.0.0.0/0"]]) {
    const exit = fakeForwarding();
    await router(exit, { masquerade: false, prefixes }).start();
    assert.equal(exit.applied[0].masquerade, true, String(prefixes));
    assert.deepEqual(exit.applied[0].prefixes, prefixes);
  }
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
