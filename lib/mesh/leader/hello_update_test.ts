import assert from "node:assert/strict";
import { createLogger } from "../../log/logger.ts";
import type { Member } from "../../members/member.ts";
import type { Hello } from "./hello_rate.ts";
import { HelloRefusals, helloUpdate } from "./hello_update.ts";

const hello = (more: Record<string, unknown> = {}) =>
  ({ t: "hello", v: 1, endpoints: ["198.51.100.7:51820"], ...more }) as Hello;

Deno.test("hello update: the observed endpoint first, labels split, no routes field offers none", () => {
  const { update, claimed } = helloUpdate(
    hello({ labels: { "node.weft/os": "linux", "team": "x" }, relay: true, tcpPort: 443 }),
    "203.0.113.9:40000",
  );
  assert.deepEqual(update.endpoints, ["203.0.113.9:40000", "198.51.100.7:51820"]);
  assert.equal(update.observed, "203.0.113.9:40000");
  assert.deepEqual(update.nodeLabels, { "node.weft/os": "linux" });
  assert.deepEqual(claimed, ["team"]);
  assert.equal(update.relay, true);
  assert.equal(update.tcpPort, 443);
  assert.deepEqual(update.advertisedRoutes, []);
  assert.equal(update.online, true);
});

Deno.test("hello update: malformed fields leave the record's; absent relay and TCP port are off", () => {
  const bad = helloUpdate(
    hello({ endpoints: "nope", relay: "yes", tcpPort: 70_000, routes: ["x"], lan: 5 }),
    null,
  );
  assert.deepEqual(bad.update.endpoints, []);
  assert.equal("relay" in bad.update, false);
  assert.equal("tcpPort" in bad.update, false);
  assert.equal("advertisedRoutes" in bad.update, false);
  assert.equal(bad.update.lan, undefined);
  assert.deepEqual(bad.claimed, []);
  const none = helloUpdate(hello(), null);
  assert.equal(none.update.relay, false);
  assert.equal(none.update.tcpPort, null);
});

Deno.test("hello refusals: claimed labels are counted, each node logged once a minute", () => {
  const lines: string[] = [];
  const refusals = new HelloRefusals(createLogger({ sink: (l) => lines.push(l) }));
  const m = { publicKey: "k1", name: "n1" } as Member;
  refusals.labels(m, []);
  refusals.labels(m, ["team", "tier"]);
  refusals.labels(m, ["team"]);
  assert.equal(refusals.labelsDropped, 3);
  assert.equal(lines.filter((l) => l.includes("labels a node claimed")).length, 1);
  refusals.services(m, ["ssh"], 1);
  refusals.services(m, ["ssh"], 2);
  assert.equal(lines.filter((l) => l.includes("without a grant")).length, 1);
});
