import assert from "node:assert/strict";
import { routeCollector } from "./metrics.ts";
import { SubnetRouter } from "./router.ts";
import { MetricsRegistry } from "../../metrics/registry.ts";
import type { ForwardingConfig, HostForwarding, RouteCounters } from "../../routes/forwarding.ts";
import { nullLogger } from "../../log/logger.ts";

Deno.test("route metrics: a router's forwarded packets and bytes per route, read off the scrape's path", async () => {
  let reads = 0;
  const figures: RouteCounters[] = [{
    prefix: "198.51.100.0/24",
    outPackets: 5,
    outBytes: 420,
    inPackets: 4,
    inBytes: 336,
  }];
  const forwarding: HostForwarding = {
    apply: (_: ForwardingConfig) => Promise.resolve(),
    close: () => Promise.resolve(),
    sweep: () => Promise.resolve(),
    counters: () => {
      reads++;
      return Promise.resolve(figures);
    },
  };
  const router = new SubnetRouter({
    forwarding,
    iface: "weft0",
    self: "ME",
    view: () => ({
      network: "10.9.0.0/24",
      version: 1,
      members: [{
        name: "me",
        publicKey: "ME",
        address: "10.9.0.2",
        endpoints: [],
        labels: {},
        role: "node",
        services: [],
        joinedAt: 1,
        advertisedRoutes: ["198.51.100.0/24"],
        grants: { routes: ["198.51.100.0/24"] },
      }],
    }),
    prefixes: ["198.51.100.0/24"],
    logger: nullLogger,
  });
  const registry = new MetricsRegistry();
  registry.register(routeCollector(() => router.counters()));
  assert.equal(registry.render().includes("weft_route_forwarded_packets_total{"), false);
  assert.equal(reads, 0, "not a router until started: nothing read");
  await router.start();
  router.counters(); // the first scrape starts a read
  await router.readCounters();
  const text = registry.render();
  assert.match(
    text,
    /weft_route_forwarded_packets_total\{route="198\.51\.100\.0\/24",dir="out"\} 5/,
  );
  assert.match(
    text,
    /weft_route_forwarded_bytes_total\{route="198\.51\.100\.0\/24",dir="in"\} 336/,
  );
  await router.close();
});
