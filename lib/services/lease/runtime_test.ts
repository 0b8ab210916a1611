import assert from "node:assert/strict";
import { generateKeyPair } from "../../crypto/keys.ts";
import { nullLogger } from "../../log/logger.ts";
import type { Member } from "../../members/member.ts";
import { member } from "../../../tests/fixtures/members.ts";
import type { LeaseRecord } from "./arbiter.ts";
import { parseLeaseMessage } from "./protocol.ts";
import { LeaseRuntime, type ServiceLeaderChange } from "./runtime.ts";
import { MemoryKv } from "../../store/memory_kv.ts";

/** Runtimes joined by an in-memory control channel (JSON through, as on the wire). */
class Net {
  readonly handlers = new Map<string, (msg: { t: string }, from: string) => void>();
  readonly cut = new Set<string>();

  port(address: string) {
    return {
      send: (to: string, msg: unknown) => {
        if (this.cut.has(address) || this.cut.has(to)) return;
        const parsed = parseLeaseMessage(JSON.parse(JSON.stringify(msg)));
        if (parsed === null) throw new Error(`sent a malformed message: ${JSON.stringify(msg)}`);
        setTimeout(() => this.handlers.get(to)?.(parsed, address), 1);
      },
      listen: (h: (msg: { t: string }, from: string) => void) => {
        this.handlers.set(address, h);
        return () => this.handlers.delete(address);
      },
    };
  }
}

const TIMING = { ttlMs: 900, renewMs: 300, marginMs: 100 };

function waitFor<T>(
  runtime: LeaseRuntime,
  test: (c: ServiceLeaderChange) => T | undefined,
): Promise<T> {
  return new Promise((resolve) => {
    const stop = runtime.subscribe((c) => {
      const v = test(c);
      if (v !== undefined) {
        stop();
        resolve(v);
      }
    });
  });
}

Deno.test("lease runtime: one leader among the instances, failover when it stops, every view agrees", async () => {
  const net = new Net();
  const keys = [0, 1, 2].map(() => generateKeyPair().publicKey);
  const members: Member[] = [
    member("leader", "10.9.0.1", { publicKey: keys[0], role: "leader" }),
    member("n1", "10.9.0.2", {
      publicKey: keys[1],
      services: [{ name: "svc", port: 1, protocol: "tcp" }],
    }),
    member("n2", "10.9.0.3", {
      publicKey: keys[2],
      services: [{ name: "svc", port: 1, protocol: "tcp" }],
    }),
  ];
  const disk: LeaseRecord[] = [];
  const runtimes = members.map((m, i) =>
    new LeaseRuntime({
      port: net.port(m.address),
      self: { publicKey: m.publicKey, address: m.address },
      members: () => members,
      leaderAddress: () => "10.9.0.1",
      logger: nullLogger,
      timing: TIMING,
      tickMs: 20,
      ...(i === 0
        ? {
          arbiter: {
            persist: (r: LeaseRecord) => {
              disk.push(r);
              return Promise.resolve();
            },
            restored: null,
            healthy: () => true,
          },
        }
        : {}),
    })
  );
  try {
    const [leader, n1, n2] = runtimes;
    let heard = 0;
    leader.subscribe(() => heard++);
    // Every view (the leader's, which offers nothing, included) hears of the first leader.
    const first = Promise.all(runtimes.map((r) => waitFor(r, (c) => c.leader ?? undefined)));
    for (const r of runtimes) r.start();
    n1.offer(["svc"]);
    n2.offer(["svc"]);
    const seen = await first;
    const holder = seen[0].member;
    assert.ok(holder === "n1" || holder === "n2");
    for (const s of seen) assert.deepEqual([s.member, s.token], [holder, 1]);
    assert.deepEqual(disk.at(-1)!.held.svc.token, 1);
    const [winner, other] = holder === "n1" ? [n1, n2] : [n2, n1];
    assert.ok(winner.lease("svc"));
    assert.equal(other.lease("svc"), null);
    assert.equal(leader.leaderMember("svc")!.name, holder);
    // The holder's node is cut off: the others see the lease end and the other instance take it.
    const next = Promise.all(
      [leader, other].map((r) => waitFor(r, (c) => c.leader?.token === 2 ? c.leader : undefined)),
    );
    const stepDown = waitFor(winner, (c) => c.leader === null ? true : undefined);
    net.cut.add(holder === "n1" ? "10.9.0.2" : "10.9.0.3");
    const [a, b] = await next;
    await stepDown;
    assert.notEqual(a.member, holder);
    assert.equal(b.member, a.member);
    assert.ok(other.lease("svc"));
    assert.equal(winner.lease("svc"), null, "the cut-off holder stepped down");
    assert.equal(winner.stats().client.lapsed, 1);
    assert.equal(leader.stats().arbiter!.expired, 1);
    // Every change the subscribers heard is counted: the first leader and the failover at least.
    assert.ok(heard >= 2);
    assert.deepEqual(leader.stats().leaderChanges, { svc: heard });
    assert.equal(leader.stats().arbiter!.granted, 2);
  } finally {
    for (const r of runtimes) r.close();
  }
});

Deno.test("lease runtime: asks from an address that is no member are refused and counted", async () => {
  const net = new Net();
  const key = generateKeyPair().publicKey;
  const members = [member("leader", "10.9.0.1", { publicKey: key, role: "leader" })];
  const leader = new LeaseRuntime({
    port: net.port("10.9.0.1"),
    self: { publicKey: key, address: "10.9.0.1" },
    members: () => members,
    leaderAddress: () => "10.9.0.1",
    logger: nullLogger,
    arbiter: { persist: () => Promise.resolve(), restored: null, healthy: () => true },
  });
  leader.start();
  try {
    net.port("10.9.0.77").send("10.9.0.1", { t: "lease-ask", s: "svc", n: 1 });
    // Delivered after a timer: wait for it (the bound only guards against a hang).
    for (let i = 0; i < 2000 && leader.stats().arbiter!.refused.notMember === 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(leader.stats().arbiter!.refused.notMember, 1);
    assert.equal(leader.leader("svc"), null);
  } finally {
    leader.close();
  }
});

Deno.test("lease runtime: the mesh leader may lead a service itself (client and arbiter in one)", async () => {
  const net = new Net();
  const key = generateKeyPair().publicKey;
  const members = [
    member("leader", "10.9.0.1", {
      publicKey: key,
      role: "leader",
      services: [{ name: "solo", port: 1, protocol: "udp" }],
    }),
  ];
  const leader = new LeaseRuntime({
    port: net.port("10.9.0.1"),
    self: { publicKey: key, address: "10.9.0.1" },
    members: () => members,
    leaderAddress: () => "10.9.0.1",
    logger: nullLogger,
    timing: TIMING,
    tickMs: 20,
    arbiter: { persist: () => Promise.resolve(), restored: null, healthy: () => false },
  });
  try {
    const led = waitFor(leader, (c) => c.leader ?? undefined);
    leader.start();
    leader.offer(["solo"]);
    const l = await led;
    assert.deepEqual([l.name, l.member, l.address, l.token], ["solo", "leader", "10.9.0.1", 1]);
    assert.equal(leader.lease("solo")!.token, 1);
    assert.deepEqual(leader.leaders().map((x) => x.name), ["solo"]);
  } finally {
    leader.close();
  }
});

Deno.test("lease runtime: a node asks the leader in use and takes announcements from any mesh leader", async () => {
  const net = new Net();
  const [me, holder] = [0, 1].map(() => generateKeyPair().publicKey);
  const members = [
    member("me", "10.9.0.5", { publicKey: me }),
    member("h", "10.9.0.6", { publicKey: holder }),
  ];
  const leaders = new Set(["10.9.0.1", "10.9.0.2"]);
  let inUse = "10.9.0.1";
  const asked: string[] = [];
  for (const a of leaders) {
    net.handlers.set(a, (msg) => {
      if (msg.t === "lease-ask") asked.push(a);
    });
  }
  const node = new LeaseRuntime({
    port: net.port("10.9.0.5"),
    self: { publicKey: me, address: "10.9.0.5" },
    members: () => members,
    leaderAddress: () => inUse,
    isLeader: (a) => leaders.has(a),
    logger: nullLogger,
    timing: TIMING,
    tickMs: 20,
  });
  try {
    node.start();
    node.offer(["svc"]);
    const deadline = Date.now() + 60_000;
    while (!asked.includes("10.9.0.1") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    inUse = "10.9.0.2";
    while (!asked.includes("10.9.0.2") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(asked.includes("10.9.0.2"), "asks follow the leader in use");
    // A table of live leases from a member that is no leader: ignored.
    const table = { t: "leases", l: [["web", holder, 7, 800]] };
    net.port("10.9.0.77").send("10.9.0.5", table);
    // The same from the leader not in use: taken.
    const heard = waitFor(node, (c) => c.name === "web" ? c : undefined);
    net.port("10.9.0.1").send("10.9.0.5", table);
    let guard: ReturnType<typeof setTimeout> | undefined;
    const c = await Promise.race([
      heard,
      new Promise<null>((r) => guard = setTimeout(() => r(null), 60_000)),
    ]);
    clearTimeout(guard);
    assert.equal(c?.leader?.token, 7, "the other leader's table was taken");
    assert.equal(node.stats().leaderChanges.web, 1, "the non-leader's table changed nothing");
  } finally {
    node.close();
  }
});

Deno.test("lease runtime: two leaders on one shared store arbitrate together; failover across them", async () => {
  const net = new Net();
  const kv = new MemoryKv();
  // The store's clock runs on its own: its leases end without anyone calling it.
  const sweep = setInterval(() => kv.expire(), 20);
  const keys = [0, 1, 2, 3].map(() => generateKeyPair().publicKey);
  const svc = [{ name: "svc", port: 1, protocol: "tcp" as const }];
  const members: Member[] = [
    member("l1", "10.9.0.1", { publicKey: keys[0], role: "leader" }),
    member("l2", "10.9.0.2", { publicKey: keys[1], role: "leader" }),
    member("n1", "10.9.0.3", { publicKey: keys[2], services: svc }),
    member("n2", "10.9.0.4", { publicKey: keys[3], services: svc }),
  ];
  // n1 uses the first leader, n2 the second.
  const uses = ["10.9.0.1", "10.9.0.2", "10.9.0.1", "10.9.0.2"];
  const runtimes = members.map((m, i) =>
    new LeaseRuntime({
      port: net.port(m.address),
      self: { publicKey: m.publicKey, address: m.address },
      members: () => members,
      leaderAddress: () => uses[i],
      logger: nullLogger,
      timing: TIMING,
      tickMs: 20,
      ...(i < 2
        ? {
          arbiter: {
            persist: () => Promise.reject(new Error("not the document: the store")),
            restored: null,
            healthy: () => true,
            kv: { store: kv, prefix: "/weft/" },
          },
        }
        : {}),
    })
  );
  try {
    const [l1, l2, n1, n2] = runtimes;
    const first = Promise.all(runtimes.map((r) => waitFor(r, (c) => c.leader ?? undefined)));
    for (const r of runtimes) r.start();
    n1.offer(["svc"]);
    n2.offer(["svc"]);
    const seen = await first;
    const holder = seen[0].member;
    for (const s of seen) assert.deepEqual([s.member, s.token], [holder, seen[0].token]);
    const [winner, other] = holder === "n1" ? [n1, n2] : [n2, n1];
    assert.ok(winner.lease("svc"));
    assert.equal(other.lease("svc"), null);
    assert.equal(l1.stats().arbiter!.granted + l2.stats().arbiter!.granted, 1);
    const { kv: key } = await kv.get("/weft/service-leases/svc");
    assert.equal(key!.createRevision, seen[0].token);
    // The holder is cut off: its store lease runs out, and the other gets the next token.
    const next = Promise.all(
      [l1, l2, other].map((r) =>
        waitFor(r, (c) => c.leader && c.leader.token > seen[0].token ? c.leader : undefined)
      ),
    );
    net.cut.add(holder === "n1" ? "10.9.0.3" : "10.9.0.4");
    const after = await next;
    for (const a of after) assert.notEqual(a.member, holder);
    assert.ok(other.lease("svc"));
    assert.equal(winner.lease("svc"), null, "the cut-off holder stepped down");
  } finally {
    clearInterval(sweep);
    for (const r of runtimes) r.close();
  }
});

Deno.test("lease runtime: with scoped views a member is told only of the holders it may see, each table encoded once per class", async () => {
  const [lk, hk, i1k, i2k, ok] = [0, 1, 2, 3, 4].map(() => generateKeyPair().publicKey);
  const svc = (name: string) => [{ name, port: 1, protocol: "tcp" as const }];
  const all: Member[] = [
    member("lead", "10.9.0.1", { publicKey: lk, role: "leader" }),
    member("h", "10.9.0.2", { publicKey: hk, services: svc("svc") }),
    member("i1", "10.9.0.3", { publicKey: i1k }),
    member("i2", "10.9.0.4", { publicKey: i2k }),
    member("o", "10.9.0.5", { publicKey: ok, services: svc("solo") }),
  ];
  // Classes: the leader (0) sees and is seen by all; h (1) and i1, i2 (2) see each other; o (3)
  // sees no member but the leader, not even its own class.
  const classes = new Map([[lk, 0], [hk, 1], [i1k, 2], [i2k, 2], [ok, 3]]);
  const scope = {
    classOf: (k: string) => classes.get(k),
    sees: (a: number, b: number) =>
      a === 0 || b === 0 || (a !== b && a + b === 3) || (a === b && a !== 3),
  };
  // Each member's own scoped view, as the leader told it.
  const viewOf = (k: string) =>
    k === lk
      ? all
      : all.filter((m) =>
        m.publicKey === k || scope.sees(classes.get(k)!, classes.get(m.publicKey)!)
      );
  const net = new Net();
  const sent: { to: string; bytes: Uint8Array }[] = [];
  const heardBy = new Map<string, string[]>();
  const leaderPort = {
    ...net.port("10.9.0.1"),
    sendEncoded: (to: string, bytes: Uint8Array) => {
      sent.push({ to, bytes });
      const text = new TextDecoder().decode(bytes);
      heardBy.set(to, [...(heardBy.get(to) ?? []), text]);
      net.port("10.9.0.1").send(to, JSON.parse(text));
    },
  };
  const runtimes = all.map((m) =>
    new LeaseRuntime({
      port: m.publicKey === lk ? leaderPort : net.port(m.address),
      self: { publicKey: m.publicKey, address: m.address },
      members: () => viewOf(m.publicKey),
      leaderAddress: () => "10.9.0.1",
      logger: nullLogger,
      timing: TIMING,
      tickMs: 20,
      ...(m.publicKey === lk
        ? {
          arbiter: { persist: () => Promise.resolve(), restored: null, healthy: () => true, scope },
        }
        : {}),
    })
  );
  const [, h, i1, , o] = runtimes;
  const until = async (what: () => boolean) => {
    for (let i = 0; i < 12_000 && !what(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(what());
  };
  try {
    const led = waitFor(i1, (c) => c.leader ?? undefined);
    for (const r of runtimes) r.start();
    h.offer(["svc"]);
    o.offer(["solo"]);
    assert.equal((await led).member, "h");
    // Two more tables reach o (its own lease is in each), each holding svc's row for others.
    const tablesTo = (a: string) =>
      (heardBy.get(a) ?? []).filter((t) => t.includes('"leases"')).length;
    const from = tablesTo("10.9.0.5");
    await until(() => tablesTo("10.9.0.5") >= from + 2);
    assert.ok(o.stats().holdersHeard.inView >= 2);
    assert.equal(o.stats().holdersHeard.outOfView, 0);
    assert.equal(o.leader("svc"), null);
    const toO = (heardBy.get("10.9.0.5") ?? []).join("\n");
    assert.ok(!toO.includes(hk), "o never hears h's key");
    assert.ok(!toO.includes('"svc"'), "nor of the service it leads");
    assert.ok(toO.includes('"solo"'), "o hears of its own lease");
    // i1 and i2 (one class) got the very same bytes for the table: encoded once.
    const tables = sent.filter((s) => new TextDecoder().decode(s.bytes).includes('"leases"'));
    const shared = tables.some((a) =>
      a.to === "10.9.0.3" && tables.some((b) => b.to === "10.9.0.4" && b.bytes === a.bytes)
    );
    assert.ok(shared, "one encoding for the class");
    assert.equal(i1.stats().holdersHeard.outOfView, 0);
    // h stops: its lease ends; i1 hears it, o hears nothing of it.
    const ended = waitFor(i1, (c) => c.name === "svc" && c.leader === null ? c : undefined);
    h.close();
    await ended;
    const later = (heardBy.get("10.9.0.5") ?? []).join("\n");
    assert.ok(!later.includes('"svc"'), "the end of a lease o never knew is not told to it");
  } finally {
    for (const r of runtimes) r.close();
  }
});
