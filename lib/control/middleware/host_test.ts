import assert from "node:assert/strict";
import { Hono } from "npm:hono@^4.13.19";
import { hostCheck, hostOfHeader, isLoopback, loopbackNames } from "./host.ts";

function app(): Hono {
  const a = new Hono();
  a.use(hostCheck((h) => isLoopback(h) || h === "10.0.0.5"));
  a.get("/status", (c) => c.json({ secret: "publicKey" }));
  return a;
}

Deno.test("host: a DNS-rebound Host gets 421 and reads nothing", async () => {
  for (
    const host of [
      "rebind.attacker.example:51880",
      "rebind.attacker.example",
      "10.0.0.6",
      // A name that only starts like a loopback address.
      "127.0.0.1.rebind.attacker.example",
      "127.0.0.1.rebind.attacker.example:51880",
    ]
  ) {
    const r = await app().request("/status", { headers: { host } });
    assert.equal(r.status, 421, host);
    const text = await r.text();
    assert.doesNotMatch(text, /publicKey/);
    assert.deepEqual(JSON.parse(text), { error: "this server answers only to its loopback names" });
  }
});

Deno.test("host: loopback names, the listen address and no Host at all are served", async () => {
  for (const host of ["127.0.0.1:51880", "LOCALHOST", "localhost.", "[::1]:80", "10.0.0.5"]) {
    assert.equal((await app().request("/status", { headers: { host } })).status, 200, host);
  }
  assert.equal((await app().request("/status")).status, 200);
});

Deno.test("host: a Host that cannot be read is refused", async () => {
  for (const host of ["bad host", "a:b:c", "[::1", "127.0.0.1:123456"]) {
    assert.equal((await app().request("/status", { headers: { host } })).status, 421, host);
  }
});

Deno.test("host: hostOfHeader takes off brackets, port and a final dot, in lower case", () => {
  assert.equal(hostOfHeader("Example.COM.:80"), "example.com");
  assert.equal(hostOfHeader("[::1]:51880"), "::1");
  assert.equal(hostOfHeader("[::1]"), "::1");
  assert.equal(hostOfHeader("127.0.0.1"), "127.0.0.1");
  assert.equal(hostOfHeader("::1"), null);
  assert.equal(hostOfHeader(""), null);
});

Deno.test("host: isLoopback", () => {
  for (const h of ["localhost", "::1", "127.0.0.1", "127.9.8.7"]) assert.ok(isLoopback(h), h);
  for (
    const h of ["0.0.0.0", "10.0.0.1", "localhost.example", "::", "127.0.0.1.evil.example", "127.x"]
  ) assert.ok(!isLoopback(h), h);
});

Deno.test("loopbackNames: the listen host and loopback names, nothing else", () => {
  const allow = loopbackNames("127.0.0.2");
  for (const h of ["127.0.0.2", "127.0.0.1", "localhost", "::1", "[::1]"]) assert.ok(allow(h), h);
  for (const h of ["evil.example", "127.0.0.1.rebind.example", "192.0.2.1"]) {
    assert.ok(!allow(h), h);
  }
});
