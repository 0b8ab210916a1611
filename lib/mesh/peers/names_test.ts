/**
 * Endpoint names: splitting, bounded lookups, and peers whose name is resolved when set up,
 * retried while it fails and resolved again when the peer stops answering.
 */
import assert from "node:assert/strict";
import {
  EndpointResolver,
  isIpEndpoint,
  type NameLookup,
  ResolveTimeout,
  splitEndpoint,
  systemLookup,
} from "../../net/resolve.ts";
import { PeerNames, type PeerPort } from "./names.ts";
import { createLogger } from "../../log/logger.ts";

Deno.test("endpoints split into host and port; names are told from addresses", () => {
  assert.deepEqual(splitEndpoint("192.0.2.1:51820"), { host: "192.0.2.1", port: 51820, ip: true });
  assert.deepEqual(splitEndpoint("[2001:db8::1]:7"), { host: "2001:db8::1", port: 7, ip: true });
  assert.deepEqual(splitEndpoint("leader.example.com:51820"), {
    host: "leader.example.com",
    port: 51820,
    ip: false,
  });
  // Not an address, so a name (the resolver will say it has none).
  assert.equal(splitEndpoint("999.1.1.1:5")?.ip, false);
  for (const bad of ["leader", "a:0", "a:65536", "[nope]:1", "a b:1", ":1", "[::1]"]) {
    assert.equal(splitEndpoint(bad), null, bad);
  }
  assert.ok(isIpEndpoint("10.0.0.1:1"));
  assert.ok(!isIpEndpoint("host:1"));
});

Deno.test("the system lookup reads the hosts file", async () => {
  // localhost comes from /etc/hosts on every Linux system; a DNS-only client would not know it.
  const addrs = await systemLookup("localhost");
  assert.ok(addrs.some((a) => a === "127.0.0.1" || a === "::1"), addrs.join(","));
});

Deno.test("the resolver maps names to endpoints, addresses to themselves", async () => {
  const seen: string[] = [];
  const r = new EndpointResolver({
    lookup: (host) => {
      seen.push(host);
      return Promise.resolve(host === "v6.test" ? ["2001:db8::5", "192.0.2.5"] : ["192.0.2.9"]);
    },
  });
  assert.deepEqual(await r.resolve("a.test:1000"), ["192.0.2.9:1000"]);
  assert.deepEqual(await r.resolve("v6.test:7"), ["[2001:db8::5]:7", "192.0.2.5:7"]);
  assert.deepEqual(await r.resolve("192.0.2.1:51820"), ["192.0.2.1:51820"]);
  assert.deepEqual(seen, ["a.test", "v6.test"], "addresses are not looked up");
  await assert.rejects(r.resolve("nonsense"), /not HOST:PORT/);
  const empty = new EndpointResolver({ lookup: () => Promise.resolve(["garbage"]) });
  await assert.rejects(empty.resolve("x.test:1"), /no address/);
  const failing = new EndpointResolver({
    lookup: () => Promise.reject(Object.assign(new Error("x"), { code: "ENOTFOUND" })),
  });
  await assert.rejects(failing.resolve("x.test:1"), /cannot resolve x\.test: ENOTFOUND/);
});

Deno.test("lookups are bounded in time and in number at once", async () => {
  const pending: ((a: string[]) => void)[] = [];
  const lookup: NameLookup = () => new Promise((r) => pending.push(r));
  const r = new EndpointResolver({ lookup, timeoutMs: 50, maxInFlight: 2 });
  const calls = [1, 2, 3].map((i) => r.resolve(`h${i}.test:1`));
  assert.equal(pending.length, 2, "the third waits for a turn");
  for (const c of calls) await assert.rejects(c, ResolveTimeout);
  // The hung lookups still hold their turns; once they finish, the next one runs.
  const next = r.resolve("h4.test:1");
  assert.equal(pending.length, 2);
  pending[0](["192.0.2.1"]);
  await new Promise((res) => setTimeout(res, 0));
  assert.equal(pending.length, 3, "a freed turn goes to the waiting lookup");
  pending[2](["192.0.2.4"]);
  assert.deepEqual(await next, ["192.0.2.4:1"]);
  pending[1]([]);
});

/** A device stand-in: endpoints set, and per-peer handshake progress the test moves. */
class FakePort implements PeerPort {
  endpoints = new Map<string, string>();
  sets: string[] = [];
  progressOf = new Map<string, { initiations: number; lastHandshake: number }>();
  progress(key: string) {
    return this.progressOf.get(key) ?? null;
  }
  setEndpoint(key: string, endpoint: string): boolean {
    if (this.endpoints.get(key) === endpoint) return false;
    this.endpoints.set(key, endpoint);
    this.sets.push(`${key}=${endpoint}`);
    return true;
  }
}

function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

function names(hosts: Map<string, string>, port: FakePort, clock: { t: number }) {
  const lines: string[] = [];
  let lookups = 0;
  const tracker = new PeerNames({
    resolver: new EndpointResolver({
      lookup: (host) => {
        lookups++;
        const a = hosts.get(host);
        return a
          ? Promise.resolve([a])
          : Promise.reject(Object.assign(new Error("no"), { code: "ENOTFOUND" }));
      },
    }),
    port,
    logger: createLogger({ level: "debug", sink: (l) => lines.push(l) }),
    now: () => clock.t,
    checkMs: 0,
    retryMs: 1000,
    maxRetryMs: 8000,
  });
  return { tracker, lines, lookups: () => lookups };
}

Deno.test("a peer's name is resolved when tracked and again when the peer stops answering", async () => {
  const hosts = new Map([["p.test", "192.0.2.10"]]);
  const port = new FakePort();
  port.progressOf.set("P", { initiations: 0, lastHandshake: 0 });
  const clock = { t: 1_000_000 };
  const { tracker, lines, lookups } = names(hosts, port, clock);
  try {
    tracker.track("P", "p.test:51820");
    await settle();
    assert.deepEqual(port.sets, ["P=192.0.2.10:51820"]);
    assert.match(lines.join("\n"), /endpoint resolved.*name=p\.test:51820/);
    // Tracking the same name again changes nothing.
    tracker.track("P", "p.test:51820");
    await settle();
    assert.equal(lookups(), 1);

    // Handshakes complete: checks look nothing up.
    port.progressOf.set("P", { initiations: 3, lastHandshake: 5 });
    tracker.check();
    port.progressOf.set("P", { initiations: 5, lastHandshake: 6 });
    tracker.check();
    await settle();
    assert.equal(lookups(), 1, "an answering peer is not re-resolved");

    // The peer moved behind its name and stops answering: two initiations go unanswered.
    hosts.set("p.test", "192.0.2.110");
    port.progressOf.set("P", { initiations: 6, lastHandshake: 6 });
    tracker.check();
    await settle();
    assert.equal(lookups(), 1, "one unanswered initiation is not yet a stall");
    port.progressOf.set("P", { initiations: 7, lastHandshake: 6 });
    tracker.check();
    await settle();
    assert.equal(lookups(), 2);
    assert.deepEqual(port.sets, ["P=192.0.2.10:51820", "P=192.0.2.110:51820"]);
    assert.match(lines.at(-1)!, /endpoint re-resolved.*endpoint=192\.0\.2\.110:51820.*was=/);
  } finally {
    tracker.close();
  }
});

Deno.test("a name that does not resolve is retried with backoff, warned about once a while", async () => {
  const hosts = new Map<string, string>();
  const port = new FakePort();
  port.progressOf.set("P", { initiations: 0, lastHandshake: 0 });
  const clock = { t: 1_000_000 };
  const { tracker, lines, lookups } = names(hosts, port, clock);
  try {
    tracker.track("P", "late.test:1");
    await settle();
    assert.equal(lookups(), 1);
    const warnings = () => lines.filter((l) => l.includes("endpoint name not resolved")).length;
    assert.equal(warnings(), 1);
    tracker.check();
    await settle();
    assert.equal(lookups(), 1, "not before the retry time");
    // Retries at +1 s, +2 s, +4 s, +8 s, +8 s...: each one after its wait, not before.
    for (const wait of [1000, 2000, 4000, 8000, 8000]) {
      clock.t += wait - 1;
      tracker.check();
      await settle();
      const before = lookups();
      clock.t += 1;
      tracker.check();
      await settle();
      assert.equal(lookups(), before + 1, `retry after ${wait} ms`);
    }
    assert.ok(warnings() < lookups(), `${warnings()} warnings for ${lookups()} failures`);
    // The name appears: the next retry sets the endpoint.
    hosts.set("late.test", "192.0.2.20");
    clock.t += 8000;
    tracker.check();
    await settle();
    assert.deepEqual(port.sets, ["P=192.0.2.20:1"]);
  } finally {
    tracker.close();
  }
});

Deno.test("an untracked peer's late lookup result is dropped", async () => {
  let answer: (a: string[]) => void = () => {};
  const port = new FakePort();
  const tracker = new PeerNames({
    resolver: new EndpointResolver({ lookup: () => new Promise((r) => answer = r) }),
    port,
    logger: createLogger({ sink: () => {} }),
    checkMs: 0,
  });
  try {
    tracker.track("P", "p.test:1");
    tracker.untrack("P");
    answer(["192.0.2.1"]);
    await settle();
    assert.deepEqual(port.sets, []);
    assert.equal(tracker.size, 0);
  } finally {
    tracker.close();
  }
});

Deno.test("an address the device cannot use is logged, not thrown", async () => {
  const lines: string[] = [];
  const tracker = new PeerNames({
    resolver: new EndpointResolver({ lookup: () => Promise.resolve(["2001:db8::1"]) }),
    port: {
      progress: () => null,
      setEndpoint: () => {
        throw new Error("IPv6 endpoint on an IPv4 socket");
      },
    },
    logger: createLogger({ sink: (l) => lines.push(l) }),
    checkMs: 0,
  });
  try {
    tracker.track("P", "v6only.test:1");
    await settle();
    assert.match(lines.join("\n"), /resolved endpoint not usable.*IPv6 endpoint on an IPv4/);
  } finally {
    tracker.close();
  }
});
