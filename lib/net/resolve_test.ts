/**
 * EndpointResolver through an injected lookup: the default cap of 4 lookups at once, turns
 * freed by success and failure alike, lookups that time out while waiting never starting, late
 * answers ignored, IP literals never looked up. (Splitting and the basics are in
 * lib/mesh/peers/names_test.ts; retry backoff belongs to PeerNames, tested there.)
 */
import assert from "node:assert/strict";
import { EndpointResolver, type NameLookup, ResolveTimeout } from "./resolve.ts";

/** A lookup whose answers the test gives, one call at a time. */
function controlled() {
  const calls: { host: string; answer: (a: string[]) => void; fail: (e: unknown) => void }[] = [];
  const lookup: NameLookup = (host) =>
    new Promise((answer, fail) => calls.push({ host, answer, fail }));
  return { calls, lookup };
}

/** Lets settled promises run their callbacks (a macrotask turn; no time passes on purpose). */
function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

Deno.test("resolver: at most 4 lookups run at once by default; the rest wait in order", async () => {
  const { calls, lookup } = controlled();
  const r = new EndpointResolver({ lookup });
  const results = Array.from({ length: 7 }, (_, i) => r.resolve(`h${i}.test:${1000 + i}`));
  assert.deepEqual(calls.map((c) => c.host), ["h0.test", "h1.test", "h2.test", "h3.test"]);
  // Finishing one (out of order) starts exactly one more, the longest waiting.
  calls[2].answer(["192.0.2.2"]);
  assert.deepEqual(await results[2], ["192.0.2.2:1002"]);
  await settle();
  assert.deepEqual(calls.map((c) => c.host).slice(4), ["h4.test"]);
  // A failure frees its turn too.
  calls[0].fail(new Error("refused"));
  await assert.rejects(results[0], /cannot resolve h0\.test: refused/);
  await settle();
  assert.deepEqual(calls.map((c) => c.host).slice(4), ["h4.test", "h5.test"]);
  // So does an answer with no usable address.
  calls[1].answer(["not-an-ip"]);
  await assert.rejects(results[1], /h1\.test has no address/);
  await settle();
  assert.equal(calls.length, 7);
  for (const [i, c] of calls.entries()) if (![0, 1, 2].includes(i)) c.answer(["10.0.0." + i]);
  assert.deepEqual(await Promise.all(results.slice(3)), [
    ["10.0.0.3:1003"],
    ["10.0.0.4:1004"],
    ["10.0.0.5:1005"],
    ["10.0.0.6:1006"],
  ]);
});

Deno.test("resolver: IP literals answer at once, even with every turn taken", async () => {
  const { calls, lookup } = controlled();
  const r = new EndpointResolver({ lookup, maxInFlight: 1 });
  const busy = r.resolve("slow.test:1");
  assert.equal(calls.length, 1);
  assert.deepEqual(await r.resolve("203.0.113.7:51820"), ["203.0.113.7:51820"]);
  assert.deepEqual(await r.resolve("[2001:db8::7]:51820"), ["[2001:db8::7]:51820"]);
  assert.equal(calls.length, 1, "no lookup for a literal");
  calls[0].answer(["192.0.2.1"]);
  assert.deepEqual(await busy, ["192.0.2.1:1"]);
});

Deno.test("resolver: a lookup that timed out while waiting never starts", async () => {
  const { calls, lookup } = controlled();
  const r = new EndpointResolver({ lookup, maxInFlight: 1, timeoutMs: 1 });
  const first = r.resolve("first.test:1");
  const second = r.resolve("second.test:1");
  await assert.rejects(first, ResolveTimeout);
  const err = await second.then(() => null, (e) => e);
  assert.ok(err instanceof ResolveTimeout && err instanceof Error);
  assert.equal(err.message, "looking up second.test took longer than 1 ms");
  // The hung first lookup still holds the only turn; when it ends, nobody is waiting.
  assert.deepEqual(calls.map((c) => c.host), ["first.test"]);
  calls[0].answer(["192.0.2.1"]);
  await settle();
  assert.deepEqual(calls.map((c) => c.host), ["first.test"], "the timed-out waiter was dropped");
  // And the turn is free again.
  const third = r.resolve("third.test:1");
  assert.equal(calls.length, 2);
  calls[1].answer(["192.0.2.3"]);
  assert.deepEqual(await third, ["192.0.2.3:1"]);
});

Deno.test("resolver: an answer or failure after the timeout changes nothing", async () => {
  const { calls, lookup } = controlled();
  const r = new EndpointResolver({ lookup, timeoutMs: 1 });
  const a = r.resolve("a.test:1");
  const b = r.resolve("b.test:1");
  await assert.rejects(a, ResolveTimeout);
  await assert.rejects(b, ResolveTimeout);
  // Late outcomes must not surface as unhandled rejections or change the settled promises.
  calls[0].answer(["192.0.2.1"]);
  calls[1].fail(new Error("late"));
  await settle();
  await assert.rejects(a, ResolveTimeout);
  await assert.rejects(b, ResolveTimeout);
});

Deno.test("resolver: a prompt answer clears its timer (the test would leak it otherwise)", async () => {
  // The default 5 s bound: if its timer outlived the lookup, Deno's sanitizer fails this test.
  const r = new EndpointResolver({ lookup: () => Promise.resolve(["192.0.2.9", "fd00::9"]) });
  assert.deepEqual(await r.resolve("both.test:53"), ["192.0.2.9:53", "[fd00::9]:53"]);
  const failing = new EndpointResolver({ lookup: () => Promise.reject("plain string") });
  await assert.rejects(failing.resolve("x.test:1"), /cannot resolve x\.test: plain string/);
});

Deno.test("resolver: usable addresses keep the lookup's order; junk among them is dropped", async () => {
  const r = new EndpointResolver({
    lookup: () => Promise.resolve(["fd00::2", "", "192.0.2.300", "198.51.100.1", "host"]),
  });
  assert.deepEqual(await r.resolve("mixed.test:9"), ["[fd00::2]:9", "198.51.100.1:9"]);
  // A malformed endpoint is refused before any lookup.
  let looked = 0;
  const counting = new EndpointResolver({
    lookup: () => (looked++, Promise.resolve(["192.0.2.1"])),
  });
  for (const bad of ["mixed.test", "mixed.test:0", "[::1]", ""]) {
    await assert.rejects(counting.resolve(bad), /is not HOST:PORT/, bad);
  }
  assert.equal(looked, 0);
});
