import assert from "node:assert/strict";
import { AcceptedRoutes, type AcceptedRoutesOptions } from "./accepted.ts";
import type { LogFields, Logger } from "../../log/logger.ts";
import type { KernelRoutes } from "../../routes/forwarding.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { member } from "../../../tests/fixtures/members.ts";

const NET = "198.51.100.0/24";
const NET2 = "203.0.113.0/24";

/** A logger that keeps what it was told. */
function recordingLogger(): Logger & {
  lines: { level: string; event: string; fields: LogFields }[];
} {
  const lines: { level: string; event: string; fields: LogFields }[] = [];
  const at = (level: string) => (event: string, fields: LogFields = {}) => {
    lines.push({ level, event, fields });
  };
  const logger = {
    lines,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: () => logger,
    enabled: () => true,
  };
  return logger;
}

/** Kernel routes that record the calls; `failAdds` prefixes fail to be added. */
function fakeKernel(): KernelRoutes & { calls: string[]; failAdds: Set<string> } {
  const calls: string[] = [];
  const failAdds = new Set<string>();
  return {
    calls,
    failAdds,
    add(prefix: string) {
      calls.push(`add ${prefix}`);
      return failAdds.has(prefix) ? Promise.reject(new Error("RTNETLINK: no")) : Promise.resolve();
    },
    remove(prefix: string) {
      calls.push(`remove ${prefix}`);
      return Promise.resolve();
    },
  };
}

const self = member("self", "10.1.0.1", { publicKey: "self-key" });

function router(name: string, i: number, routes: string[] | undefined): Member {
  return member(name, `10.1.0.${i}`, { publicKey: `${name}-key`, ...(routes ? { routes } : {}) });
}

function view(version: number, members: Member[]): MembershipView {
  return { network: "10.1.0.0/24", network6: "fd7a::/48", version, members };
}

function setup(
  first: MembershipView,
  opts: Partial<AcceptedRoutesOptions> = {},
): {
  routes: AcceptedRoutes;
  kernel: ReturnType<typeof fakeKernel>;
  logger: ReturnType<typeof recordingLogger>;
  show: (v: MembershipView) => void;
} {
  let held = first;
  const kernel = fakeKernel();
  const logger = recordingLogger();
  const routes = new AcceptedRoutes({
    self: self.publicKey,
    kernel,
    connected: () => ["192.168.1.10/24", "127.0.0.1/8", "fe80::1/64", "::1/128"],
    view: () => held,
    logger,
    ...opts,
  });
  return {
    routes,
    kernel,
    logger,
    show: (v) => {
      held = v;
      routes.viewChanged(v);
    },
  };
}

Deno.test("accepted routes: another member's routes are used, our own are not", () => {
  const a = router("a", 2, [NET, NET2]);
  const own = { ...self, routes: ["192.0.2.0/24"] };
  const { routes } = setup(view(1, [own, a, router("b", 3, undefined)]));
  assert.deepEqual(routes.routesOf(a), [NET, NET2]);
  assert.deepEqual(routes.routesOf(own), []);
  assert.deepEqual(routes.routesOf(router("b", 3, undefined)), []);
  assert.deepEqual(routes.routesOf(router("c", 4, [])), []);
});

Deno.test("accepted routes: --no-accept-routes uses none and installs none", async () => {
  const a = router("a", 2, [NET]);
  const { routes, kernel } = setup(view(1, [self, a]), { accept: false });
  assert.deepEqual(routes.routesOf(a), []);
  routes.start();
  await routes.settled();
  assert.deepEqual(kernel.calls, []);
  assert.deepEqual(routes.inUse(), []);
});

Deno.test("accepted routes: a prefix overlapping a host or mesh network is left out, said once", () => {
  const a = router("a", 2, [
    "192.168.0.0/16", // holds the connected 192.168.1.0/24
    "192.168.1.128/25", // inside it
    "10.1.0.0/16", // holds the mesh's network
    "fd7a::/64", // inside the mesh's IPv6 network
    "127.0.0.0/8", // loopback is not a network of this host's to keep
    NET,
  ]);
  const { routes, logger } = setup(view(1, [self, a]));
  assert.deepEqual(routes.routesOf(a), ["127.0.0.0/8", NET]);
  routes.routesOf(a);
  routes.routesOf(a);
  const warned = logger.lines.filter((l) => l.level === "warn");
  assert.deepEqual(
    warned.map((l) => [l.fields.prefix, l.fields.network, l.fields.via]),
    [
      ["192.168.0.0/16", "192.168.1.0/24", "a"],
      ["192.168.1.128/25", "192.168.1.0/24", "a"],
      ["10.1.0.0/16", "10.1.0.0/24", "a"],
      ["fd7a::/64", "fd7a::/48", "a"],
    ],
  );
  assert.ok(warned.every((l) => /overlaps a network of this host/.test(l.event)));
});

Deno.test("accepted routes: the kernel's routes follow the views", async () => {
  const { routes, kernel, logger, show } = setup(view(1, [self, router("a", 2, [NET])]));
  routes.start();
  await routes.settled();
  assert.deepEqual(kernel.calls, [`add ${NET}`]);
  assert.deepEqual(routes.inUse(), [{
    prefix: NET,
    via: "a",
    address: "10.1.0.2",
    installed: true,
  }]);

  // The same routes again: nothing to do.
  show(view(2, [self, router("a", 2, [NET])]));
  await routes.settled();
  assert.equal(kernel.calls.length, 1);

  // The prefix moves to b (no change in the kernel: the route is through the interface), and
  // a second one appears.
  show(view(3, [self, router("a", 2, undefined), router("b", 3, [NET, NET2])]));
  await routes.settled();
  assert.deepEqual(kernel.calls, [`add ${NET}`, `add ${NET2}`]);
  assert.deepEqual(routes.inUse().map((r) => [r.prefix, r.via]), [[NET, "b"], [NET2, "b"]]);

  // Gone from the view: removed.
  show(view(4, [self, router("b", 3, [NET2])]));
  await routes.settled();
  assert.deepEqual(kernel.calls.slice(2), [`remove ${NET}`]);
  assert.ok(logger.lines.some((l) => l.event === "route removed" && l.fields.prefix === NET));

  await routes.close();
  show(view(5, [self]));
  await routes.settled();
  assert.equal(kernel.calls.length, 3, "closed: the kernel is left alone");
});

Deno.test("accepted routes: a failed add is logged and tried again at the next view", async () => {
  const { routes, kernel, logger, show } = setup(view(1, [self, router("a", 2, [NET])]));
  kernel.failAdds.add(NET);
  routes.start();
  await routes.settled();
  const failed = logger.lines.filter((l) => l.event === "adding a route failed");
  assert.equal(failed.length, 1);
  assert.equal(failed[0].fields.prefix, NET);
  assert.match(String(failed[0].fields.error), /RTNETLINK: no/);
  assert.deepEqual(routes.inUse(), [{
    prefix: NET,
    via: "a",
    address: "10.1.0.2",
    installed: false,
  }]);

  kernel.failAdds.clear();
  show(view(2, [self, router("a", 2, [NET])]));
  await routes.settled();
  assert.deepEqual(kernel.calls, [`add ${NET}`, `add ${NET}`]);
  assert.equal(routes.inUse()[0].installed, true);
});

Deno.test("accepted routes: in userspace mode (no kernel) routes are used, nothing installed", async () => {
  const a = router("a", 2, [NET]);
  const { routes } = setup(view(1, [self, a]), { kernel: null });
  routes.start();
  await routes.settled();
  assert.deepEqual(routes.routesOf(a), [NET]);
  assert.deepEqual(routes.inUse(), [{
    prefix: NET,
    via: "a",
    address: "10.1.0.2",
    installed: false,
  }]);
});

Deno.test("accepted routes: turned off and on at runtime, the peers and the kernel follow", async () => {
  const a = router("a", 2, [NET]);
  let rerouted = 0;
  const { routes, kernel } = setup(view(1, [self, a]), { reroute: () => rerouted++ });
  routes.start();
  await routes.settled();
  assert.deepEqual(kernel.calls, [`add ${NET}`]);
  await routes.setAccept(false);
  assert.deepEqual(routes.routesOf(a), []);
  assert.deepEqual(kernel.calls, [`add ${NET}`, `remove ${NET}`]);
  assert.equal(rerouted, 1);
  await routes.setAccept(false);
  assert.equal(rerouted, 1, "no change, nothing done");
  await routes.setAccept(true);
  assert.deepEqual(routes.routesOf(a), [NET]);
  assert.deepEqual(kernel.calls.at(-1), `add ${NET}`);
  assert.equal(rerouted, 2);
});
