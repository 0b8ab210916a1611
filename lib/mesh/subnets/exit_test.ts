import assert from "node:assert/strict";
import { ExitNodeUse } from "./exit.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import type { DefaultRouteConfig, DefaultRouting } from "../../routes/forwarding.ts";
import { nullLogger } from "../../log/logger.ts";

function member(name: string, n: number, o: Partial<Member> = {}): Member {
  return {
    name,
    publicKey: `${name}-key`,
    address: `10.9.0.${n}`,
    endpoints: [],
    labels: {},
    role: "node",
    services: [],
    joinedAt: n,
    ...o,
  };
}

const view = (version: number, members: Member[]): MembershipView => ({
  network: "10.9.0.0/24",
  version,
  members,
});

class FakeRouting implements DefaultRouting {
  calls: (DefaultRouteConfig | "close")[] = [];
  apply(c: DefaultRouteConfig): Promise<void> {
    this.calls.push(c);
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.calls.push("close");
    return Promise.resolve();
  }
  sweep(): Promise<void> {
    return Promise.resolve();
  }
}

Deno.test("exit node: used while approved and online; the host's routing restored when it goes", async () => {
  const routing = new FakeRouting();
  let v = view(1, [member("b", 2), member("gw", 3, { advertisedRoutes: ["0.0.0.0/0", "::/0"] })]);
  const exit = new ExitNodeUse({
    exitNode: "gw",
    allowLanAccess: true,
    routing,
    iface: "weft0",
    mark: 51820,
    view: () => v,
    logger: nullLogger,
  });
  await exit.start();
  assert.deepEqual(routing.calls, [], "not approved yet: nothing changes");
  assert.deepEqual(exit.routesOf(v.members[1]), []);
  assert.equal(exit.inUse, null);

  const approved = member("gw", 3, {
    exitNode: true,
    endpoints: ["203.0.113.3:51820"],
    observed: "203.0.113.3:51820",
  });
  const lead = member("lead", 1, {
    role: "leader",
    endpoints: ["203.0.113.1:51820", "leader.example:51820"],
  });
  v = view(2, [lead, member("b", 2, { endpoints: ["198.51.100.2:51820"] }), approved]);
  exit.viewChanged(v);
  assert.deepEqual(exit.routesOf(approved), ["0.0.0.0/0", "::/0"]);
  assert.deepEqual(exit.routesOf(v.members[1]), []);
  await exit.start(); // waits for the queue
  assert.deepEqual(routing.calls, [{
    iface: "weft0",
    mark: 51820,
    table: 51820,
    families: [4, 6],
    keepLocalRoutes: true,
    // The exit node's and the leader's addresses stay off the tunnel (TCP); names and other
    // members' addresses do not.
    exempt: ["203.0.113.1", "203.0.113.3"],
  }]);
  assert.deepEqual(exit.inUse, { name: "gw", address: "10.9.0.3" });

  // By address too; offline: not used, the routing restored.
  const off = member("gw", 3, { exitNode: true, offline: true });
  v = view(3, [member("b", 2), off]);
  exit.viewChanged(v);
  assert.deepEqual(exit.routesOf(off), []);
  await exit.close();
  assert.deepEqual(routing.calls.slice(1), ["close"], "restored once");
});

Deno.test("exit node: named by overlay address", () => {
  const exit = new ExitNodeUse({
    exitNode: "10.9.0.3",
    allowLanAccess: false,
    routing: new FakeRouting(),
    iface: "weft0",
    mark: 7,
    view: () => view(1, []),
    logger: nullLogger,
  });
  assert.deepEqual(exit.routesOf(member("gw", 3, { exitNode: true })), ["0.0.0.0/0", "::/0"]);
  assert.deepEqual(exit.routesOf(member("other", 4, { exitNode: true })), []);
});

Deno.test("exit node: what a member claims never stays off the tunnel; what the leader saw does", async () => {
  const routing = new FakeRouting();
  const lead = member("lead", 1, { role: "leader", endpoints: ["203.0.113.1:51820"] });
  // The exit node and a relay each claim an address behind this host's LAN beside the one the
  // leader observed: a destination of their choosing, which `lookup main` would send outside
  // the tunnel.
  const gw = member("gw", 3, {
    exitNode: true,
    endpoints: ["203.0.113.3:51820", "192.168.1.10:51820", "[2001:db8::10]:51820"],
    observed: "203.0.113.3:51820",
  });
  const relay = member("r", 4, {
    relay: true,
    endpoints: ["203.0.113.4:51820", "198.51.100.98:51820"],
    observed: "203.0.113.4:51820",
  });
  // A member with no observed endpoint (its hellos relayed): its claims count for nothing.
  const unseen = member("gw", 3, { exitNode: true, endpoints: ["198.51.100.99:51820"] });
  let v = view(1, [lead, gw, relay]);
  let relayInUse: string | null = null;
  const exit = new ExitNodeUse({
    exitNode: "gw",
    allowLanAccess: false,
    routing,
    iface: "weft0",
    mark: 51820,
    view: () => v,
    logger: nullLogger,
    relayOf: (key) => key === "gw-key" ? relayInUse : null,
    // The checks are driven by refresh() here, never by the timer.
    relayCheckMs: 3_600_000,
  });
  const exempt = () => {
    const c = routing.calls.at(-1);
    return c === "close" || c === undefined ? null : c.exempt;
  };
  try {
    await exit.start();
    assert.deepEqual(exempt(), ["203.0.113.1", "203.0.113.3"], "the relay is not in use");

    // The exit node's traffic goes through the relay: its observed address joins, its claim not.
    relayInUse = "r-key";
    await exit.refresh();
    assert.deepEqual(exempt(), ["203.0.113.1", "203.0.113.3", "203.0.113.4"]);
    const applied = routing.calls.length;
    await exit.refresh();
    assert.equal(routing.calls.length, applied, "unchanged: not applied again");
    // Direct again: the relay's address goes back into the tunnel.
    relayInUse = null;
    await exit.refresh();
    assert.deepEqual(exempt(), ["203.0.113.1", "203.0.113.3"]);

    v = view(2, [lead, unseen, relay]);
    exit.viewChanged(v);
    await exit.refresh();
    assert.deepEqual(exempt(), ["203.0.113.1"], "nothing the exit node merely claims");
  } finally {
    await exit.close();
  }
});
