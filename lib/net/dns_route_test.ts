import assert from "node:assert/strict";
import { dnsRouteFor, parseDnsRoute } from "./dns_route.ts";

Deno.test("dns routes: DOMAIN=RESOLVER[,RESOLVER], canonical", () => {
  assert.deepEqual(parseDnsRoute("Example.Internal=198.51.100.53"), {
    domain: "example.internal.",
    upstreams: ["198.51.100.53:53"],
  });
  assert.deepEqual(parseDnsRoute("corp.=198.51.100.53:5353, 2001:db8::53,[2001:db8::54]:54"), {
    domain: "corp.",
    upstreams: ["198.51.100.53:5353", "[2001:db8::53]:53", "[2001:db8::54]:54"],
  });
  assert.throws(() => parseDnsRoute("example.internal"), /DOMAIN=RESOLVER/);
  assert.throws(() => parseDnsRoute("=198.51.100.53"), /domain/);
  assert.throws(() => parseDnsRoute("a..b=198.51.100.53"), /empty label/);
  assert.throws(() => parseDnsRoute("example.internal="), /names no resolver/);
  assert.throws(() => parseDnsRoute("example.internal=ns.example"), /not an IP address/);
});

Deno.test("dns routes: the longest domain holding the name", () => {
  const routes = [{ domain: "internal." }, { domain: "a.internal." }];
  assert.equal(dnsRouteFor(routes, "x.a.internal.")?.domain, "a.internal.");
  assert.equal(dnsRouteFor(routes, "a.internal.")?.domain, "a.internal.");
  assert.equal(dnsRouteFor(routes, "b.internal.")?.domain, "internal.");
  assert.equal(dnsRouteFor(routes, "xinternal."), null);
  assert.equal(dnsRouteFor(routes, "example.com."), null);
});
