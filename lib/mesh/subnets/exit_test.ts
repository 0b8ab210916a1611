import assert from "node:assert/strict";
import { exitNodeState, ExitNodeUse } from "./exit.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import type { DefaultRouteConfig, DefaultRouting } from "../../routes/forwarding.ts";
import { type Logger, nullLogger } from "../../log/logger.ts";
import type { ExitNodeStatus } from "../../status/status.ts";

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

/** The routing's latest apply. */
function lastCall(r: { calls: (DefaultRouteConfig | "close")[] }): DefaultRouteConfig {
  return r.calls[r.calls.length - 1] as DefaultRouteConfig;
}

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

Deno.test("exit node: used while approved and online; outside traffic blocked before and after", async () => {
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
  // Not approved yet: outside traffic blocked from the start, the mesh and LAN still answer.
  assert.deepEqual(routing.calls, [{
    iface: "weft0",
    mark: 51820,
    table: 51820,
    families: [4, 6],
    keepLocalRoutes: true,
    blocked: true,
    exempt: [],
  }]);
  routing.calls.length = 0;
  assert.deepEqual(exit.routesOf(v.members[1]), []);
  assert.equal(exit.inUse, null);
  assert.equal(statusOf(exit).state, "not-approved");
  assert.equal(statusOf(exit).traffic, "blocked");

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

  // Offline: not used, outside traffic blocked again (not direct), the leader kept reachable.
  const off = member("gw", 3, {
    exitNode: true,
    offline: true,
    advertisedRoutes: ["0.0.0.0/0", "::/0"],
    grants: { routes: ["exit"] },
  });
  v = view(3, [lead, member("b", 2), off]);
  exit.viewChanged(v);
  assert.deepEqual(exit.routesOf(off), []);
  await exit.start();
  assert.deepEqual(routing.calls.at(-1), {
    iface: "weft0",
    mark: 51820,
    table: 51820,
    families: [4, 6],
    keepLocalRoutes: true,
    blocked: true,
    exempt: ["203.0.113.1"],
  });
  assert.deepEqual(exit.status, {
    wanted: "gw",
    inUse: null,
    state: "offline",
    reason: "gw is offline",
    traffic: "blocked",
    fallback: false,
  });
  await exit.close();
  assert.deepEqual(routing.calls.slice(2), ["close"], "restored once, on stop");
});

/** The status, read anew (not narrowed by an assertion before). */
const statusOf = (x: ExitNodeUse): ExitNodeStatus => x.status;

/** A logger that keeps its lines. */
function recordingLogger(lines: string[]): Logger {
  const put = (level: string) => (event: string, fields?: Record<string, unknown>) =>
    lines.push(`${level} ${event}${fields ? " " + JSON.stringify(fields) : ""}`);
  return {
    ...nullLogger,
    debug: put("debug"),
    info: put("info"),
    warn: put("warn"),
    error: put("error"),
  } as Logger;
}

const EXIT_ROUTES = ["0.0.0.0/0", "::/0"];

Deno.test("exit node state: unknown, not an exit node, not approved, offline, in use; by name or address", () => {
  const lead = member("lead", 1, { role: "leader" });
  const plain = member("n", 4, { address6: "fd7a::4" });
  const unapproved = member("e", 5, { advertisedRoutes: EXIT_ROUTES });
  const approvedQuiet = member("e", 5, {
    advertisedRoutes: EXIT_ROUTES,
    grants: { routes: ["exit"] },
  });
  const stopped = member("e", 5, {
    advertisedRoutes: EXIT_ROUTES,
    grants: { routes: ["exit"] },
    offline: true,
  });
  const serving = member("e", 5, {
    advertisedRoutes: EXIT_ROUTES,
    grants: { routes: ["exit"] },
    exitNode: true,
  });
  // Only the subnet routes approved: not the exit node.
  const subnetOnly = member("e", 5, {
    advertisedRoutes: ["0.0.0.0/0", "10.1.0.0/16", "::/0"],
    grants: { routes: ["10.1.0.0/16"] },
  });
  const state = (ms: Member[], want: string) => exitNodeState(view(1, [lead, ...ms]), want);
  assert.deepEqual(state([plain], "nosuch"), {
    state: "unknown",
    reason: "no member is named or addressed nosuch",
  });
  assert.equal(state([plain], "10.9.0.99").state, "unknown");
  assert.equal(state([plain], "n").state, "not-exit-node");
  assert.equal(state([plain], "10.9.0.4").state, "not-exit-node", "by IPv4 address");
  assert.equal(state([plain], "fd7a::4").state, "not-exit-node", "by IPv6 address");
  assert.match(state([plain], "n").reason!, /^n does not advertise an exit node/);
  assert.equal(state([], "lead").state, "not-exit-node", "a leader advertising nothing");
  assert.equal(state([unapproved], "e").state, "not-approved");
  assert.match(state([unapproved], "e").reason!, /weft route approve e exit/);
  assert.equal(state([subnetOnly], "e").state, "not-approved");
  assert.equal(state([approvedQuiet], "e").state, "offline");
  assert.match(state([approvedQuiet], "e").reason!, /not heard from/);
  assert.deepEqual(state([stopped], "10.9.0.5"), {
    state: "offline",
    member: stopped,
    reason: "e is offline",
  });
  assert.deepEqual(state([serving], "e"), { state: "in-use", member: serving });
  // The leader's exit node needs no approval: advertised, it is offline only when withdrawn.
  const leadExit = member("lead", 1, { role: "leader", advertisedRoutes: EXIT_ROUTES });
  assert.equal(exitNodeState(view(1, [leadExit]), "lead").state, "offline");
});

Deno.test("exit node: blocked from the start, one log line per change, through it once approved, blocked when it goes", async () => {
  const routing = new FakeRouting();
  const lines: string[] = [];
  const lead = member("lead", 1, { role: "leader", endpoints: ["203.0.113.1:51820"] });
  let v = view(1, [lead]);
  const exit = new ExitNodeUse({
    exitNode: "e",
    allowLanAccess: false,
    routing,
    iface: "weft0",
    mark: 51820,
    view: () => v,
    logger: recordingLogger(lines),
  });
  const step = async (members: Member[]) => {
    v = view(v.version + 1, [lead, ...members]);
    exit.viewChanged(v);
    await exit.refresh();
  };
  const last = () => routing.calls.at(-1);
  await exit.start();
  assert.deepEqual(last(), {
    iface: "weft0",
    mark: 51820,
    table: 51820,
    families: [4, 6],
    keepLocalRoutes: true,
    blocked: true,
    exempt: ["203.0.113.1"],
  });
  assert.deepEqual(exit.status, {
    wanted: "e",
    inUse: null,
    state: "unknown",
    reason: "no member is named or addressed e",
    traffic: "blocked",
    fallback: false,
  });
  // The same view again: nothing applied, nothing said.
  exit.viewChanged(v);
  await exit.refresh();
  assert.equal(routing.calls.length, 1);
  assert.equal(lines.length, 1);

  await step([member("e", 5)]);
  assert.equal(statusOf(exit).state, "not-exit-node");
  assert.equal(routing.calls.length, 1, "still blocked: the routing unchanged");
  await step([member("e", 5, { advertisedRoutes: EXIT_ROUTES })]);
  assert.equal(statusOf(exit).state, "not-approved");
  await step([
    member("e", 5, {
      advertisedRoutes: EXIT_ROUTES,
      grants: { routes: ["exit"] },
      exitNode: true,
      observed: "203.0.113.5:51820",
    }),
  ]);
  assert.deepEqual(last(), {
    iface: "weft0",
    mark: 51820,
    table: 51820,
    families: [4, 6],
    keepLocalRoutes: false,
    exempt: ["203.0.113.1", "203.0.113.5"],
  });
  assert.deepEqual(exit.status, {
    wanted: "e",
    inUse: { name: "e", address: "10.9.0.5" },
    state: "in-use",
    traffic: "exit-node",
    fallback: false,
  });
  await step([
    member("e", 5, { advertisedRoutes: EXIT_ROUTES, grants: { routes: ["exit"] }, offline: true }),
  ]);
  assert.equal((last() as DefaultRouteConfig).blocked, true, "blocked again, not direct");
  assert.equal(statusOf(exit).traffic, "blocked");
  await step([]);
  assert.equal(statusOf(exit).state, "unknown", "removed");
  assert.deepEqual(lines, [
    'warn exit node not usable: outside traffic blocked {"exitNode":"e","state":"unknown","reason":"no member is named or addressed e"}',
    'warn exit node not usable: outside traffic blocked {"exitNode":"e","state":"not an exit node","reason":"e does not advertise an exit node (--advertise-exit-node)"}',
    'warn exit node not usable: outside traffic blocked {"exitNode":"e","state":"not approved","reason":"e advertises an exit node the leader has not approved (weft route approve e exit)"}',
    'info exit node in use {"name":"e","address":"10.9.0.5"}',
    'warn exit node not usable: outside traffic blocked {"exitNode":"e","state":"offline","reason":"e is offline"}',
    'warn exit node not usable: outside traffic blocked {"exitNode":"e","state":"unknown","reason":"no member is named or addressed e"}',
  ]);
  await exit.close();
  assert.equal(last(), "close", "unblocked on stop");
});

Deno.test("exit node with fallback: direct while it is away, and the status says so", async () => {
  const routing = new FakeRouting();
  const lines: string[] = [];
  let v = view(1, [member("e", 5, { advertisedRoutes: EXIT_ROUTES })]);
  const exit = new ExitNodeUse({
    exitNode: "e",
    allowLanAccess: false,
    fallback: true,
    routing,
    iface: "weft0",
    mark: 51820,
    view: () => v,
    logger: recordingLogger(lines),
  });
  await exit.start();
  assert.deepEqual(routing.calls, ["close"], "the host's own routing");
  assert.deepEqual(exit.status, {
    wanted: "e",
    inUse: null,
    state: "not-approved",
    reason: "e advertises an exit node the leader has not approved (weft route approve e exit)",
    traffic: "direct",
    fallback: true,
  });
  assert.match(lines[0], /^warn exit node not usable: traffic goes out directly/);
  v = view(2, [member("e", 5, { advertisedRoutes: EXIT_ROUTES, exitNode: true })]);
  exit.viewChanged(v);
  await exit.refresh();
  assert.equal(statusOf(exit).traffic, "exit-node");
  v = view(3, []);
  exit.viewChanged(v);
  await exit.refresh();
  assert.equal(routing.calls.at(-1), "close");
  assert.equal(statusOf(exit).traffic, "direct");
  await exit.close();
});

Deno.test("exit node: routing that cannot be set up at the start stops the start, naming why", async () => {
  const routing = new FakeRouting();
  routing.apply = () => Promise.reject(new Error("ip: no such table"));
  const exit = new ExitNodeUse({
    exitNode: "e",
    allowLanAccess: false,
    routing,
    iface: "weft0",
    mark: 51820,
    view: () => view(1, []),
    logger: nullLogger,
  });
  await assert.rejects(exit.start(), /exit node's routing could not be set up: ip: no such table/);
  await exit.close();
});

Deno.test("exit node: a routing failure after the start says so, in the log and the status, and is tried again", async () => {
  const routing = new FakeRouting();
  let fail = false;
  routing.apply = (c) => {
    routing.calls.push(c);
    return fail ? Promise.reject(new Error("ip: no such table")) : Promise.resolve();
  };
  const lines: string[] = [];
  let v = view(1, []);
  const exit = new ExitNodeUse({
    exitNode: "e",
    allowLanAccess: false,
    routing,
    iface: "weft0",
    mark: 51820,
    view: () => v,
    logger: recordingLogger(lines),
  });
  await exit.start();
  assert.equal(statusOf(exit).traffic, "blocked");
  fail = true;
  // A leader's endpoint to keep off the tunnel: the routing is asked again, and fails.
  exit.viewChanged(
    v = view(3, [member("lead", 1, { role: "leader", endpoints: ["192.0.2.1:51820"] })]),
  );
  await exit.refresh();
  assert.equal(statusOf(exit).traffic, "direct");
  assert.equal(statusOf(exit).error, "ip: no such table");
  assert.ok(
    lines.some((l) => /^error blocking outside traffic failed: it goes out directly/.test(l)),
    lines.join("\n"),
  );
  fail = false;
  v = view(2, []);
  exit.viewChanged(v);
  await exit.refresh();
  assert.equal(statusOf(exit).traffic, "blocked");
  assert.equal(statusOf(exit).error, undefined);
  await exit.close();
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

Deno.test("exit node: none at start touches nothing; chosen, changed and dropped at runtime", async () => {
  const routing = new FakeRouting();
  const gw = member("gw", 3, { exitNode: true, advertisedRoutes: ["0.0.0.0/0", "::/0"] });
  const v = view(1, [member("b", 2), gw]);
  let rerouted = 0;
  const exit = new ExitNodeUse({
    exitNode: null,
    allowLanAccess: false,
    routing,
    iface: "weft0",
    mark: 51820,
    view: () => v,
    logger: nullLogger,
    reroute: () => rerouted++,
  });
  await exit.start();
  assert.deepEqual(routing.calls, [], "no exit node: the host's routing untouched");
  assert.equal(exit.wanted, null);
  assert.deepEqual(exit.routesOf(gw), []);

  // weft set --exit-node gw: used at once.
  await exit.set({ exitNode: "gw", allowLanAccess: false, fallback: false });
  assert.equal(routing.calls.length, 1);
  assert.equal((routing.calls[0] as DefaultRouteConfig).blocked, undefined);
  assert.equal((routing.calls[0] as DefaultRouteConfig).keepLocalRoutes, false);
  assert.deepEqual(exit.routesOf(gw), ["0.0.0.0/0", "::/0"]);
  assert.equal(rerouted, 1, "the peers take the exit node's default routes at once");
  assert.equal(statusOf(exit).traffic, "exit-node");
  // The same exit node, the LAN kept out: applied again.
  await exit.set({ exitNode: "gw", allowLanAccess: true, fallback: false });
  assert.equal(lastCall(routing).keepLocalRoutes, true);
  // One that is not there: blocked (fail closed), as at start.
  await exit.set({ exitNode: "nope", allowLanAccess: false, fallback: false });
  assert.equal(lastCall(routing).blocked, true);
  assert.equal(statusOf(exit).state, "unknown");
  // None: the host's routing back, and nothing more at close.
  await exit.set({ exitNode: null, allowLanAccess: false, fallback: false });
  assert.equal(routing.calls.at(-1), "close");
  assert.deepEqual(exit.routesOf(gw), []);
  const calls = routing.calls.length;
  await exit.close();
  assert.equal(routing.calls.length, calls);
});

Deno.test("exit node: routing that cannot be set up at runtime is refused, the one before kept", async () => {
  const routing = new FakeRouting();
  const gw = member("gw", 3, { exitNode: true });
  const v = view(1, [gw]);
  const exit = new ExitNodeUse({
    exitNode: "gw",
    allowLanAccess: false,
    routing,
    iface: "weft0",
    mark: 51820,
    view: () => v,
    logger: nullLogger,
  });
  await exit.start();
  let fail = true;
  routing.apply = (c) => {
    routing.calls.push(c);
    return fail ? Promise.reject(new Error("no ip rule")) : Promise.resolve();
  };
  await assert.rejects(
    exit.set({ exitNode: "gw", allowLanAccess: true, fallback: false }),
    /the exit node's routing could not be set up: no ip rule/,
  );
  fail = false;
  assert.equal(exit.wanted, "gw");
  await exit.set({ exitNode: "gw", allowLanAccess: false, fallback: false });
  assert.equal(statusOf(exit).traffic, "exit-node");
  await exit.close();
});
