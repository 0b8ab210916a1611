import assert from "node:assert/strict";
import { createLogger } from "../../log/logger.ts";
import type { Member } from "../../members/member.ts";
import type { Hello } from "./hello_rate.ts";
import { HelloRefusals, helloUpdate } from "./hello_update.ts";
import { LeaderCore } from "./core.ts";
import { generateKeyPair } from "../../crypto/keys.ts";
import { shows, type Told, TOLD_FIELDS, toldOf } from "../sync/tell_again.ts";

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

Deno.test("hello update: the record the leader writes from a hello shows what the node told (tell_again.ts)", async () => {
  const core = await LeaderCore.open(null, {
    network: "10.7.0.0/24",
    hostname: "lead",
    publicKey: generateKeyPair().publicKey,
    endpoints: ["192.0.2.1:51820"],
  });
  const token = await core.createToken({ ttlMs: 60_000, uses: null, labels: { team: "a" } });
  const key = generateKeyPair().publicKey;
  const joined = await core.join({
    tokenId: token.id,
    secret: token.secret,
    publicKey: key,
    hostname: "n1",
    labels: {},
    services: [],
    endpoints: [],
    time: Date.now(),
  }, null);
  assert.ok(joined.ok);
  const hellos: Hello[] = [
    hello({
      // Keys in another order than the leader writes them; labels it drops; relaying ungranted.
      services: [{ protocol: "tcp", port: 80, name: "web", weight: 2 }],
      labels: { "node.weft/os": "linux", team: "x" },
      lan: ["192.168.1.5:51820", "[fd00::5]:51820"],
      routes: ["198.51.100.0/24", "10.1.0.0/16"],
      relay: true,
      tcpPort: 443,
    }),
    hello({ services: [], labels: {}, lan: ["198.18.0.7:51820"] }),
    hello({ services: [{ name: "db", port: 5432, protocol: "tcp" }], lan: [] }),
  ];
  let before: Told | null = null;
  for (const [i, msg] of hellos.entries()) {
    await core.updateMember(key, helloUpdate(msg, "203.0.113.9:40000").update);
    const own = core.memberByKey(key)!;
    const told = toldOf(msg);
    for (const f of TOLD_FIELDS) {
      assert.ok(shows(own, told, f), `hello ${i}: ${f}: ${JSON.stringify(own)}`);
      // What the hello before told, where it differs, is not shown (relaying ungranted is
      // never taken: off either way).
      if (before && before[f] !== told[f] && f !== "relay") {
        assert.ok(!shows(own, before, f), `hello ${i}: ${f}`);
      }
    }
    before = told;
  }
});
