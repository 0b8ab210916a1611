import assert from "node:assert/strict";
import { ServiceError } from "./errors.ts";
import { MAX_STRANGER_ANNOUNCERS, PubSub, type PubSubOptions } from "./pubsub.ts";
import { ServiceStats } from "./stats.ts";
import type { ServiceEvent, Subscription } from "./subscription.ts";
import { decodeMessage, type ServiceMessage } from "./wire.ts";

/** Pub/sub nodes joined by a memory bus (a macrotask per message), with a filter to lose some. */
class Bus {
  readonly nodes = new Map<string, { ps: PubSub; stats: ServiceStats; name: string }>();
  /** Returns false to lose a message. */
  filter: (msg: ServiceMessage, from: string, to: string) => boolean = () => true;

  add(address: string, name: string, opts: PubSubOptions = {}): PubSub {
    const stats = new ServiceStats();
    const ps = new PubSub({
      self: () => address,
      sendEncoded: (to, bytes) => {
        const msg = decodeMessage(bytes)!;
        if (!this.filter(msg, address, to)) return;
        setTimeout(() => {
          const dst = this.nodes.get(to);
          if (
            dst &&
            (msg.kind === "event" || msg.kind === "event-ack" || msg.kind === "subscriptions" ||
              msg.kind === "subscriptions-ack")
          ) {
            dst.ps.handle(msg, address);
          }
        }, 0);
      },
      maxMessageBytes: 10_000,
      peers: () => [...this.nodes.keys()].filter((a) => a !== address),
      eligible: (a) => this.nodes.has(a),
      nameOf: (a) => this.nodes.get(a)?.name ?? null,
      stats,
    }, { announceIntervalMs: 60_000, ackTimeoutMs: 20, ...opts });
    this.nodes.set(address, { ps, stats, name });
    return ps;
  }

  start(): void {
    for (const n of this.nodes.values()) n.ps.start();
  }

  close(): void {
    for (const n of this.nodes.values()) n.ps.close();
  }
}

/** Waits until `check` holds, a macrotask at a time. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 1));
}

/** Waits until `publisher` knows `n` nodes' subscriptions. */
const knows = (publisher: PubSub, n: number) =>
  until(() => publisher.table.remote().filter((r) => r.entries.length > 0).length >= n);

/** Reads what a subscription holds now, without waiting. */
function drain(s: Subscription): ServiceEvent[] {
  const out: ServiceEvent[] = [];
  while (s.queued > 0) {
    s.next().then((r) => r.value && out.push(r.value));
  }
  return out;
}

async function take(s: Subscription): Promise<ServiceEvent[]> {
  const out = drain(s);
  await Promise.resolve();
  return out;
}

Deno.test("pubsub: mode all reaches every subscriber on every node once", async () => {
  const bus = new Bus();
  const a = bus.add("10.0.0.1", "a");
  const b = bus.add("10.0.0.2", "b");
  const c = bus.add("10.0.0.3", "c");
  bus.start();
  try {
    const sa = a.subscribe("status/*");
    const sb1 = b.subscribe("status/>");
    const sb2 = b.subscribe("status/updated", { group: "audit" });
    const sc = c.subscribe("other");
    await knows(c, 2);
    const r = await c.publish("status/updated", { v: 1 });
    assert.deepEqual(r, { local: 0, nodes: 2, acked: 2, unacked: [] });
    for (const s of [sa, sb1, sb2]) {
      const got = await take(s);
      assert.equal(got.length, 1);
      assert.deepEqual(got[0].data, { v: 1 });
      assert.equal(got[0].publisher, "c");
      assert.equal(got[0].topic, "status/updated");
    }
    assert.equal(sc.queued, 0);
    // The publisher's own subscribers get it too, without the network.
    const own = c.subscribe("status/*");
    const r2 = await c.publish("status/x", 2);
    assert.equal(r2.local, 1);
    assert.equal((await take(own))[0].data, 2);
    // b: both its subscribers the first event, status/> the second.
    assert.equal(bus.nodes.get("10.0.0.2")!.stats.snapshot().events.delivered, 3);
  } finally {
    bus.close();
  }
});

Deno.test("pubsub: a lost ack means a resend, and the resend is not delivered twice", async () => {
  const bus = new Bus();
  const a = bus.add("10.0.0.1", "a");
  const p = bus.add("10.0.0.2", "p");
  bus.start();
  try {
    const sa = a.subscribe("t");
    await knows(p, 1);
    let lost = 0;
    bus.filter = (m) => !(m.kind === "event-ack" && lost++ < 2);
    const r = await p.publish("t", "once");
    assert.equal(r.acked, 1);
    assert.equal(lost, 3, "two acks lost, the third got through");
    assert.deepEqual((await take(sa)).map((e) => e.data), ["once"]);
    assert.equal(bus.nodes.get("10.0.0.1")!.stats.snapshot().eventDrops.duplicate, 2);
  } finally {
    bus.close();
  }
});

Deno.test("pubsub: a node that never acknowledges is reported after the resends", async () => {
  const bus = new Bus();
  const a = bus.add("10.0.0.1", "a");
  const p = bus.add("10.0.0.2", "p", { resends: 2 });
  bus.start();
  try {
    a.subscribe("t");
    await knows(p, 1);
    let events = 0;
    bus.filter = (m) => !(m.kind === "event" && ++events > 0);
    const r = await p.publish("t", 1);
    assert.deepEqual(r, { local: 0, nodes: 1, acked: 0, unacked: ["a"] });
    assert.equal(events, 3, "sent once and resent twice");
    assert.equal(bus.nodes.get("10.0.0.2")!.stats.snapshot().eventDrops.unacked, 1);
  } finally {
    bus.close();
  }
});

Deno.test("pubsub: one-per-service gives each event to one subscriber of each group", async () => {
  const bus = new Bus();
  const nodes = ["10.0.0.1", "10.0.0.2", "10.0.0.3"].map((a, i) => bus.add(a, `n${i}`));
  const p = bus.add("10.0.0.9", "p");
  bus.start();
  try {
    const workers = [
      nodes[0].subscribe("jobs/*", { group: "worker" }),
      nodes[1].subscribe("jobs/*", { group: "worker" }),
      nodes[1].subscribe("jobs/>", { group: "worker" }),
      nodes[2].subscribe("jobs/*", { group: "worker" }),
    ];
    const audit = nodes[2].subscribe("jobs/*", { group: "audit" });
    const everyone = nodes[0].subscribe("jobs/*");
    await knows(p, 3);
    const n = 12;
    for (let i = 0; i < n; i++) await p.publish(`jobs/j${i}`, i, { mode: "one-per-service" });
    const got = await Promise.all(workers.map(take));
    const all = got.flat().map((e) => e.data as number).sort((x, y) => x - y);
    assert.deepEqual(all, [...Array(n).keys()], "each event to exactly one worker");
    assert.ok(got.every((g) => g.length > 0), "spread over the workers");
    assert.equal((await take(audit)).length, n, "the only audit subscriber gets all");
    assert.equal((await take(everyone)).length, n, "an ungrouped subscriber gets all");
  } finally {
    bus.close();
  }
});

Deno.test("pubsub: local-only stays on this node", async () => {
  const bus = new Bus();
  const a = bus.add("10.0.0.1", "a");
  const p = bus.add("10.0.0.2", "p");
  bus.start();
  try {
    const remote = a.subscribe("t");
    const own = p.subscribe("t");
    await knows(p, 1);
    let sent = 0;
    bus.filter = (m) => !(m.kind === "event" && ++sent > 0);
    assert.deepEqual(await p.publish("t", 1, { mode: "local-only" }), {
      local: 1,
      nodes: 0,
      acked: 0,
      unacked: [],
    });
    assert.equal(sent, 0);
    assert.equal(own.queued, 1);
    assert.equal(remote.queued, 0);
  } finally {
    bus.close();
  }
});

Deno.test("pubsub: a slow subscriber drops what does not fit, counted", async () => {
  const bus = new Bus();
  const p = bus.add("10.0.0.2", "p");
  bus.start();
  try {
    const slow = p.subscribe("t", { maxQueue: 2 });
    for (let i = 0; i < 5; i++) await p.publish("t", i, { mode: "local-only" });
    assert.equal(slow.queued, 2);
    assert.equal(slow.dropped, 3);
    assert.equal(bus.nodes.get("10.0.0.2")!.stats.snapshot().eventDrops["slow-subscriber"], 3);
  } finally {
    bus.close();
  }
});

Deno.test("pubsub: a closed subscription is announced, and events stop going there", async () => {
  const bus = new Bus();
  const a = bus.add("10.0.0.1", "a");
  const p = bus.add("10.0.0.2", "p");
  bus.start();
  try {
    const s = a.subscribe("t");
    await knows(p, 1);
    s.close();
    await until(() => p.table.remote().every((r) => r.entries.length === 0));
    assert.deepEqual(await p.publish("t", 1), { local: 0, nodes: 0, acked: 0, unacked: [] });
  } finally {
    bus.close();
  }
});

Deno.test("pubsub: nodes that leave the membership, or fall silent, are forgotten", async () => {
  const bus = new Bus();
  const a = bus.add("10.0.0.1", "a");
  const p = bus.add("10.0.0.2", "p", { announceIntervalMs: 10 });
  bus.start();
  try {
    a.subscribe("t");
    await knows(p, 1);
    a.close();
    bus.nodes.delete("10.0.0.1");
    await until(() => p.table.remote().length === 0);
  } finally {
    bus.close();
  }
});

Deno.test("pubsub: bad topics, data, modes and sizes are refused before anything is sent", async () => {
  const bus = new Bus();
  const a = bus.add("10.0.0.1", "a");
  const p = bus.add("10.0.0.2", "p");
  bus.start();
  try {
    const own = p.subscribe("t");
    a.subscribe("t");
    await knows(p, 1);
    const bad: [Promise<unknown>, string, RegExp][] = [
      [p.publish("t/*", 1), "bad-request", /wildcard/],
      [p.publish("", 1), "bad-request", /empty/],
      [p.publish("t", new Date()), "bad-request", /is a Date/],
      [p.publish("t", 1, { mode: "some" as never }), "bad-request", /bad mode/],
      [p.publish("t", "x".repeat(20_000)), "too-large", /over the limit of 10000/],
    ];
    for (const [promise, code, why] of bad) {
      await assert.rejects(
        promise,
        (e) => e instanceof ServiceError && e.code === code && why.test(e.message),
      );
    }
    assert.equal(own.queued, 0, "the too-large event was not delivered locally either");
    assert.throws(() => p.subscribe("a//b"), /empty segment/);
    assert.throws(() => p.subscribe("t", { group: "Bad Group" }), /bad group/);
  } finally {
    bus.close();
  }
});

Deno.test("pubsub: closing ends the subscriptions' loops", async () => {
  const bus = new Bus();
  const p = bus.add("10.0.0.2", "p");
  bus.start();
  const s = p.subscribe("t");
  const loop = (async () => {
    let n = 0;
    for await (const _ of s) n++;
    return n;
  })();
  await p.publish("t", 1, { mode: "local-only" });
  bus.close();
  assert.equal(await loop, 1);
  assert.throws(() => p.subscribe("t"), /closed/);
});

Deno.test("pubsub: a subscription's announced resolves once every member holds it; a publish then reaches it", async () => {
  const bus = new Bus();
  const a = bus.add("10.0.0.1", "a");
  const b = bus.add("10.0.0.2", "b");
  bus.add("10.0.0.3", "c");
  bus.start();
  try {
    // c's first announcement of the subscription is lost; its resend is not.
    let lost = 0;
    bus.filter = (msg, from) => {
      if (msg.kind === "subscriptions" && from === "10.0.0.3" && msg.entries.length && !lost) {
        lost++;
        return false;
      }
      return true;
    };
    const sub = bus.nodes.get("10.0.0.3")!.ps.subscribe("news/*");
    const r = await sub.announced;
    assert.equal(lost, 1);
    assert.deepEqual(r, { nodes: 2, acked: 2, unacked: [] });
    // Held by a and b now: their publishes reach c at once, no waiting for the table.
    await a.publish("news/x", 1);
    await b.publish("news/y", 2);
    assert.deepEqual((await take(sub)).map((e) => e.data), [1, 2]);
  } finally {
    bus.close();
  }
});

Deno.test("pubsub: announced names the members that never acknowledged, after the resends", async () => {
  const bus = new Bus();
  bus.add("10.0.0.1", "a");
  bus.add("10.0.0.2", "b");
  bus.start();
  try {
    // b never hears a's announcements.
    let sent = 0;
    bus.filter = (msg, from, to) => {
      if (msg.kind !== "subscriptions" || from !== "10.0.0.1" || to !== "10.0.0.2") return true;
      if (msg.entries.length) sent++;
      return false;
    };
    const sub = bus.nodes.get("10.0.0.1")!.ps.subscribe("jobs/>");
    assert.deepEqual(await sub.announced, { nodes: 1, acked: 0, unacked: ["b"] });
    // The first announcement and 3 resends (the default); a's answer to b's own announcement may
    // add one.
    assert.ok(sent >= 4 && sent <= 5, `${sent} announcements`);
  } finally {
    bus.close();
  }
});

Deno.test("pubsub: acks of non-members are not kept; close ends the waits", async () => {
  const bus = new Bus();
  const a = bus.add("10.0.0.1", "a");
  bus.add("10.0.0.2", "b");
  bus.start();
  // Nothing reaches b: a's announced waits; close resolves it at once.
  bus.filter = (_m, _f, to) => to !== "10.0.0.2";
  const sub = a.subscribe("x/*");
  a.handle({ kind: "subscriptions-ack", version: Number.MAX_SAFE_INTEGER }, "10.9.9.9");
  bus.close();
  const r = await sub.announced;
  assert.deepEqual(r.unacked, ["b"]);
});

Deno.test("pubsub: announcements from addresses no member holds are held only so many until the tick", () => {
  const bus = new Bus();
  const b = bus.add("10.0.0.2", "b");
  bus.filter = () => false;
  try {
    // A flood from made-up addresses (a host behind a subnet router may send from any).
    for (let i = 0; i < 1000; i++) {
      b.handle(
        { kind: "subscriptions", version: 1, entries: [{ pattern: "t" }] },
        `198.18.${i >> 8}.${i & 255}`,
      );
    }
    assert.equal(b.table.remote().length, MAX_STRANGER_ANNOUNCERS);
    assert.equal(b.strangersRefused, 1000 - MAX_STRANGER_ANNOUNCERS);
    // A member's is taken all the same, and a stranger already held may announce again.
    bus.add("10.0.0.1", "a");
    b.handle({ kind: "subscriptions", version: 1, entries: [{ pattern: "t" }] }, "10.0.0.1");
    b.handle({ kind: "subscriptions", version: 2, entries: [] }, "198.18.0.0");
    assert.equal(b.table.remote().length, MAX_STRANGER_ANNOUNCERS + 1);
    assert.equal(b.strangersRefused, 1000 - MAX_STRANGER_ANNOUNCERS);
  } finally {
    bus.close();
  }
});

Deno.test("pubsub: one member's flood of events cannot make another's late resend new; a restarted publisher's are", async () => {
  const bus = new Bus();
  bus.add("10.0.0.1", "a");
  const b = bus.add("10.0.0.2", "b");
  bus.add("10.0.0.3", "c");
  bus.filter = () => false;
  const event = (id: number, topic: string) => ({
    kind: "event" as const,
    id,
    topic,
    data: null,
    mode: "all" as const,
    groups: [],
    loose: true,
  });
  try {
    const sub = b.subscribe("c/x");
    const stats = bus.nodes.get("10.0.0.2")!.stats;
    const duplicates = () => stats.snapshot().eventDrops.duplicate;
    b.handle(event(5_000_000, "c/x"), "10.0.0.3");
    // a publishes 20,000 events (more than the shared dedupe set holds) while c's ack is lost.
    for (let i = 0; i < 20_000; i++) b.handle(event(1_000 + i, "flood"), "10.0.0.1");
    b.handle(event(5_000_000, "c/x"), "10.0.0.3");
    assert.equal((await take(sub)).length, 1, "c's resend is known as one");
    assert.equal(duplicates(), 1);
    // c restarted: its ids start elsewhere (far below), and are new.
    b.handle(event(7, "c/x"), "10.0.0.3");
    b.handle(event(8, "c/x"), "10.0.0.3");
    b.handle(event(7, "c/x"), "10.0.0.3");
    assert.equal((await take(sub)).length, 2);
    assert.equal(duplicates(), 2);
    sub.close();
  } finally {
    bus.close();
  }
});

Deno.test("pubsub: an announcement older than the one held is not acknowledged; a resend is", () => {
  const bus = new Bus();
  bus.add("10.0.0.1", "a");
  const b = bus.add("10.0.0.2", "b");
  const acks: number[] = [];
  bus.filter = (m, from) => {
    if (m.kind === "subscriptions-ack" && from === "10.0.0.2") acks.push(m.version);
    return false;
  };
  try {
    b.handle({ kind: "subscriptions", version: 100, entries: [{ pattern: "t" }] }, "10.0.0.1");
    // Older than what b holds (reordered, or a's clock went back): b keeps 100 and says nothing.
    b.handle({ kind: "subscriptions", version: 50, entries: [] }, "10.0.0.1");
    b.handle({ kind: "subscriptions", version: 100, entries: [{ pattern: "t" }] }, "10.0.0.1");
    assert.deepEqual(acks, [100, 100]);
    assert.deepEqual(b.table.remote()[0].entries.map((e) => e.pattern), ["t"]);
  } finally {
    bus.close();
  }
});

Deno.test("pubsub: the acks of a member that left are forgotten: back, it must acknowledge again", async () => {
  const bus = new Bus();
  const a = bus.add("10.0.0.1", "a", { announceIntervalMs: 10 });
  bus.add("10.0.0.2", "b");
  bus.start();
  try {
    const first = a.subscribe("t");
    assert.deepEqual((await first.announced).unacked, []);
    // b leaves; a's ticks run while it is away.
    const b = bus.nodes.get("10.0.0.2")!;
    bus.nodes.delete("10.0.0.2");
    await new Promise((r) => setTimeout(r, 50));
    // b is back (a restarted node: it holds nothing) and its acks are lost.
    bus.nodes.set("10.0.0.2", b);
    bus.filter = (m) => m.kind !== "subscriptions-ack";
    // The same pattern again: the local version does not move, so only forgetting b's old ack
    // keeps announced from answering at once.
    const second = a.subscribe("t");
    assert.deepEqual((await second.announced).unacked, ["b"]);
  } finally {
    bus.close();
  }
});

Deno.test("pubsub: a node that subscribes to nothing tells its start's none only to the members in session", async () => {
  const sent: [string, ServiceMessage][] = [];
  const ps = new PubSub({
    self: () => "10.0.0.1",
    sendEncoded: (to, bytes) => sent.push([to, decodeMessage(bytes)!]),
    maxMessageBytes: 10_000,
    peers: () => ["10.0.0.2", "10.0.0.3", "10.0.0.4"],
    eligible: () => true,
    nameOf: () => null,
    // Sessions on demand: 10.0.0.3 is idle, a handshake away.
    inSession: (a) => a !== "10.0.0.3",
    stats: new ServiceStats(),
    // The clock stands still: every tick falls within the start's window for "none".
    now: () => 0,
  }, { announceIntervalMs: 5 });
  ps.start();
  try {
    await until(() => sent.length >= 2);
    assert.ok(sent.every(([, m]) => m.kind === "subscriptions" && m.entries.length === 0));
    assert.deepEqual([...new Set(sent.map(([a]) => a))].sort(), ["10.0.0.2", "10.0.0.4"]);
    // A subscription is announced to every member, in session or not.
    sent.length = 0;
    const sub = ps.subscribe("t");
    assert.deepEqual(sent.map(([a]) => a).sort(), ["10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    sub.close();
  } finally {
    ps.close();
  }
});
