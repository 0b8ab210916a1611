import assert from "node:assert/strict";
import { createLogger } from "../log/logger.ts";
import type { MembershipView, ServiceSpec } from "../members/member.ts";
import { SERVICES_PORT } from "../members/ports.ts";
import { member } from "../../tests/fixtures/members.ts";
import { ServiceError } from "./errors.ts";
import { MeshServices, type ServicesOptions } from "./mesh_services.ts";
import { ServiceSocket } from "./socket.ts";
import { StackLan } from "./testing/stack_lan.ts";

/**
 * Service layers on a memory LAN of real userspace stacks, with a stand-in for the leader: what a
 * node announces goes straight into the shared view.
 */
class Fixture {
  readonly lan = new StackLan();
  view: MembershipView = { network: "10.7.0.0/24", version: 1, members: [] };
  readonly nodes = new Map<string, MeshServices>();
  readonly announced: { name: string; services: ServiceSpec[] }[] = [];
  readonly down = new Set<string>();

  add(
    name: string,
    address: string,
    opts: ServicesOptions = {},
    configured: ServiceSpec[] = [],
  ): MeshServices {
    this.view = {
      ...this.view,
      version: this.view.version + 1,
      members: [
        ...this.view.members,
        member(name, address, { publicKey: name, services: configured }),
      ],
    };
    const s = new MeshServices({
      stack: this.lan.stack(address),
      publicKey: name,
      address,
      view: () => this.view,
      peerHealth: (k) => (this.down.has(k) ? "down" : "up"),
      announce: (services) => {
        this.announced.push({ name, services });
        this.view = {
          ...this.view,
          version: this.view.version + 1,
          members: this.view.members.map((m) => (m.name === name ? { ...m, services } : m)),
        };
      },
      configured,
      logger: createLogger({ sink: () => {} }),
    }, {
      serviceLayer: { requestTimeoutMs: 200, announceIntervalMs: 60_000, ackTimeoutMs: 50 },
      ...opts,
    });
    s.start();
    this.nodes.set(name, s);
    return s;
  }

  async close(): Promise<void> {
    for (const s of this.nodes.values()) s.close();
    await this.lan.close();
  }
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 2));
}

Deno.test("mesh services: provide announces the service; calls from another node spread over instances", async () => {
  const f = new Fixture();
  try {
    const a = f.add("a", "10.7.0.1");
    const b = f.add("b", "10.7.0.2", {}, [{ name: "echo", port: 8080, protocol: "tcp" }]);
    const c = f.add("c", "10.7.0.3");
    a.provide("echo", { say: (p, ctx) => ({ from: "a", p, caller: ctx.callerName }) });
    b.provide("echo", { say: (p) => ({ from: "b", p }) });
    // a had none configured: added on the service port; b's configured entry is marked.
    assert.deepEqual(f.view.members.find((m) => m.name === "a")!.services, [
      { name: "echo", port: SERVICES_PORT, protocol: "udp", rpc: true },
    ]);
    assert.deepEqual(b.announced(), [{ name: "echo", port: 8080, protocol: "tcp", rpc: true }]);
    const from: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = (await c.request("echo/say", i)) as { from: string; p: number; caller?: string };
      assert.equal(r.p, i);
      if (r.from === "a") assert.equal(r.caller, "c");
      from.push(r.from);
    }
    assert.equal(from.filter((x) => x === "a").length, 5);
    assert.equal(from.filter((x) => x === "b").length, 5);
    // On a node that provides it, the call stays local.
    assert.equal(((await a.request("echo/say", 1)) as { from: string }).from, "a");
    const served = b.metrics().served.find((s) => s.service === "echo" && s.outcome === "ok");
    assert.equal(served?.histogram.count, 5);
    assert.deepEqual(c.list().map((s) => [s.name, s.instances.map((i) => i.node)]), [["echo", [
      "a",
      "b",
    ]]]);
  } finally {
    await f.close();
  }
});

Deno.test("mesh services: a node cut off: idempotent calls go on, the others say timeout", async () => {
  const f = new Fixture();
  try {
    const a = f.add("a", "10.7.0.1");
    const b = f.add("b", "10.7.0.2");
    const c = f.add("c", "10.7.0.3");
    a.provide("echo", { say: { handler: () => "a", idempotent: true } });
    b.provide("echo", { say: { handler: () => "b", idempotent: true }, once: () => "b" });
    f.lan.cut("10.7.0.2");
    for (let i = 0; i < 6; i++) assert.equal(await c.request("echo/say"), "a");
    // b is suspect now: a non-idempotent action goes to a first, which has no such action.
    await assert.rejects(
      c.request("echo/once"),
      (e) => e instanceof ServiceError && e.code === "bad-request",
    );
    assert.deepEqual(c.status().suspects, ["10.7.0.2"]);
    // Out of c's rotation, as c lists it, until b answers again.
    const b2 = () => c.instances("echo").find((i) => i.node === "b")!;
    assert.deepEqual([b2().healthy, b2().reason], [false, "unanswered"]);
    // Back on the LAN: c's next ping gets a pong, and b is in the rotation again.
    f.lan.cut("10.7.0.2", false);
    await until(() => c.status().suspects.length === 0);
    assert.deepEqual([b2().healthy, b2().reason], [true, undefined]);
    const from = new Set<unknown>();
    for (let i = 0; i < 4; i++) from.add(await c.request("echo/say"));
    assert.deepEqual([...from].sort(), ["a", "b"]);
  } finally {
    await f.close();
  }
});

Deno.test("mesh services: pongs go to members only, and at a bounded rate", async () => {
  const f = new Fixture();
  try {
    const a = f.add("a", "10.7.0.1");
    const got: number[] = [];
    const probe = (address: string) =>
      new ServiceSocket(f.lan.stack(address), (msg) => {
        if (msg.kind === "pong") got.push(msg.id);
      }, {});
    // A stranger on the LAN (not in the view) gets no pong.
    const stranger = probe("10.7.0.66");
    stranger.send("10.7.0.1", { kind: "ping", id: 1 });
    // A member flooding pings gets the burst back, not the flood.
    f.add("m", "10.7.0.5");
    f.nodes.get("m")!.close();
    const m = probe("10.7.0.5");
    for (let i = 100; i < 400; i++) m.send("10.7.0.1", { kind: "ping", id: i });
    await until(() => got.length + (a.metrics().drops["pong-limited"] ?? 0) === 300);
    assert.ok(got.every((id) => id >= 100), "none for the stranger");
    assert.ok(got.length >= 40 && got.length < 300, `${got.length} pongs for 300 pings`);
    stranger.close();
    m.close();
  } finally {
    await f.close();
  }
});

Deno.test("mesh services: a failing health check takes the instance out everywhere", async () => {
  const f = new Fixture();
  // A closed port: the TCP check fails.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  try {
    const a = f.add("a", "10.7.0.1");
    const b = f.add("b", "10.7.0.2", {
      serviceChecks: [{
        service: "echo",
        check: { target: { kind: "tcp", host: "127.0.0.1", port }, fall: 1 },
      }],
    });
    const c = f.add("c", "10.7.0.3");
    const heard: [string, boolean][] = [];
    b.onHealth((s, h) => heard.push([s, h]));
    a.provide("echo", { say: () => "a" });
    b.provide("echo", { say: () => "b" });
    // Failing from the start (the check has given no result yet), and still after its first.
    assert.equal(b.healthy("echo"), false);
    await until(() => b.list()[0]?.localHealthy === false);
    assert.deepEqual(heard, [], "no change: failing until a check passes");
    assert.deepEqual(b.announced(), [{
      name: "echo",
      port: SERVICES_PORT,
      protocol: "udp",
      rpc: true,
      healthy: false,
    }]);
    const inst = c.instances("echo");
    assert.deepEqual(inst.map((i) => [i.node, i.healthy, i.reason ?? null]), [["a", true, null], [
      "b",
      false,
      "check-failing",
    ]]);
    for (let i = 0; i < 4; i++) assert.equal(await c.request("echo/say"), "a");
    // On b itself the call does not stay local: its own instance fails the check.
    assert.equal(await b.request("echo/say"), "a");
    assert.equal(b.list()[0].localHealthy, false);
  } finally {
    await f.close();
  }
});

Deno.test("mesh services: a checked service is out of rotation until its first check passes", async () => {
  const f = new Fixture();
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const b = f.add("b", "10.7.0.2", {
      serviceChecks: [{
        service: "echo",
        check: { target: { kind: "tcp", host: "127.0.0.1", port: l.addr.port } },
      }],
    });
    const heard: [string, boolean][] = [];
    b.onHealth((s, h) => heard.push([s, h]));
    b.provide("echo", { say: () => "b" });
    // Before any result: announced failing, as a failed check would (main: healthy at once).
    assert.equal(b.healthy("echo"), false);
    assert.equal(b.announced()[0].healthy, false);
    await until(() => b.healthy("echo"));
    assert.deepEqual(heard, [["echo", true]]);
    assert.equal(b.announced()[0].healthy, undefined);
  } finally {
    l.close();
    await f.close();
  }
});

Deno.test("mesh services: publish reaches each subscriber on every node once", async () => {
  const f = new Fixture();
  try {
    const a = f.add("a", "10.7.0.1");
    const b = f.add("b", "10.7.0.2");
    const c = f.add("c", "10.7.0.3");
    const subs = [
      a.subscribe("status/*"),
      b.subscribe("status/*"),
      b.subscribe("status/>"),
      c.subscribe("status/up"),
    ];
    await until(() => c.status().remoteSubscriptions.length === 2);
    const r = await c.publish("status/up", { n: 1 });
    assert.deepEqual(r, { local: 1, nodes: 2, acked: 2, unacked: [] });
    for (const s of subs) {
      const ev = await s.next();
      assert.deepEqual(ev.value?.data, { n: 1 });
      assert.equal(ev.value?.publisher, "c");
      assert.equal(s.queued, 0);
    }
    const m = b.metrics();
    assert.equal(m.events.delivered, 2);
  } finally {
    await f.close();
  }
});

Deno.test("mesh services: too large, unknown and malformed input are clear errors", async () => {
  const f = new Fixture();
  try {
    // Every error here is an answer, not a timeout: the timeout is only a bound (a busy machine
    // took over 200 ms for a fragmented call).
    const a = f.add("a", "10.7.0.1", {
      serviceLayer: { maxMessageBytes: 20_000, requestTimeoutMs: 10_000 },
    });
    const b = f.add("b", "10.7.0.2", {
      serviceLayer: { maxMessageBytes: 20_000, requestTimeoutMs: 10_000 },
    });
    b.provide("echo", { say: (p) => p, big: () => "x".repeat(30_000) });
    const code = (code: string) => (e: unknown) => e instanceof ServiceError && e.code === code;
    await assert.rejects(a.request("nope/x"), code("no-instance"));
    await assert.rejects(a.request("echo/say", "x".repeat(30_000)), code("too-large"));
    await assert.rejects(a.request("echo/big"), code("too-large"));
    await assert.rejects(a.request("echo/missing"), code("bad-request"));
    assert.equal(
      await a.request("echo/say", "x".repeat(15_000)),
      "x".repeat(15_000),
      "fragmented both ways",
    );
    assert.throws(() => b.provide("echo", { other: () => 1 }), /already provided/);
  } finally {
    await f.close();
  }
});

Deno.test("mesh services: serviceCallerLimit sets the per-caller limit (over serviceLayer.callers)", async () => {
  const f = new Fixture();
  try {
    const a = f.add("a", "10.7.0.1", {
      serviceCallerLimit: { ratePerSecond: 0.001, burst: 2 },
      serviceLayer: { requestTimeoutMs: 200, callers: { ratePerSecond: 1000, burst: 1000 } },
    });
    const c = f.add("c", "10.7.0.3");
    a.provide("echo", { say: () => "a" });
    assert.equal(await c.request("echo/say", null, { retries: 0 }), "a");
    assert.equal(await c.request("echo/say", null, { retries: 0 }), "a");
    await assert.rejects(
      c.request("echo/say", null, { retries: 0 }),
      (e) => e instanceof ServiceError && e.code === "rate-limited" && /slow down/.test(e.message),
    );
    assert.throws(
      () => f.add("b", "10.7.0.2", { serviceCallerLimit: { maxConcurrent: 0 } }),
      /caller limits: maxConcurrent must be a positive integer, got 0/,
    );
  } finally {
    await f.close();
  }
});

Deno.test("mesh services: a bye from a member with no service sends it no pings; one with a service is pinged", async () => {
  const f = new Fixture();
  try {
    const a = f.add("a", "10.7.0.1");
    // Two members that stop (their byes): one announces nothing, one a service.
    f.add("plain", "10.7.0.5");
    f.add("svc", "10.7.0.6", {}, [{ name: "echo", port: 8080, protocol: "tcp" }]);
    f.nodes.get("plain")!.close();
    f.nodes.get("svc")!.close();
    const pings = new Map<string, number>([["10.7.0.5", 0], ["10.7.0.6", 0]]);
    const probes = [...pings.keys()].map((address) =>
      new ServiceSocket(f.lan.stack(address), (msg) => {
        if (msg.kind === "ping") pings.set(address, pings.get(address)! + 1);
      }, {})
    );
    // The serviceless one first: were it suspect, its ping would go out first in the same tick.
    a.memberLeft("10.7.0.5");
    a.memberLeft("10.7.0.6");
    await until(() => pings.get("10.7.0.6")! > 0);
    assert.equal(pings.get("10.7.0.5"), 0, "no ping to a member in no rotation");
    assert.deepEqual(a.status().suspects, ["10.7.0.6"]);
    for (const p of probes) p.close();
  } finally {
    await f.close();
  }
});

Deno.test("mesh services: a view change reads no member's address while this node subscribes to nothing", async () => {
  const f = new Fixture();
  try {
    const a = f.add("a", "10.7.0.1");
    // Views of 1,000 members whose addresses count their reads.
    let reads = 0;
    const viewOf = (n: number, version: number): MembershipView => ({
      network: "10.7.0.0/16",
      version,
      members: Array.from({ length: n }, (_, i) => {
        const m = member(`m${i}`, `10.7.${i >> 8}.${i & 255}`, { publicKey: `m${i}` });
        const address = m.address;
        return Object.defineProperty(m, "address", {
          get: () => (reads++, address),
          enumerable: true,
        });
      }),
    });
    a.viewChanged(viewOf(1000, 1), viewOf(1001, 2));
    assert.equal(reads, 0, "no subscription: nobody to tell who joined");
    // With a subscription, who joined is worked out (and told).
    const sub = a.subscribe("status/*");
    a.viewChanged(viewOf(1000, 3), viewOf(1001, 4));
    assert.ok(reads >= 2001, `${reads} reads`);
    sub.close();
  } finally {
    await f.close();
  }
});
