import assert from "node:assert/strict";
import type { Member } from "../members/member.ts";
import { parsePolicy } from "../policy/parse.ts";
import type { CallRule } from "../policy/model.ts";
import { CallAuthorizer } from "./authorize.ts";
import { CallerLimits } from "./caller_limits.ts";
import { LocalServices, serviceOf } from "./local.ts";
import { servicesCollector } from "./metrics.ts";
import { ServiceServer } from "./server.ts";
import { ServiceStats } from "./stats.ts";
import type { ResponseMessage } from "./wire.ts";
import { MetricsRegistry } from "../metrics/registry.ts";

function member(name: string, address: string, labels: Record<string, string> = {}): Member {
  return {
    name,
    address,
    publicKey: name,
    endpoints: [],
    labels,
    role: "node",
    services: [],
    joinedAt: 0,
  };
}

const members = [
  member("web1", "10.200.0.2", { role: "web" }),
  member("db1", "10.200.0.3", { role: "db" }),
];
const self = member("bill1", "10.200.0.4");

/** A server providing billing/charge, with call rules read from `rules` at each call. */
function setup(rules: () => CallRule[] | undefined) {
  const local = new LocalServices();
  let ran = 0;
  local.add(serviceOf("billing", { charge: () => ++ran }));
  const authorizer = new CallAuthorizer({
    rules,
    member: (a) => members.find((m) => m.address === a),
    self: () => self,
  });
  const sent: ResponseMessage[] = [];
  let wake = () => {};
  const stats = new ServiceStats();
  const server = new ServiceServer({
    local,
    limits: new CallerLimits({}),
    stats,
    self: "bill1",
    nameOf: () => null,
    authorize: (c, s, a) => authorizer.check(c, s, a),
    send: (_to, msg) => {
      sent.push(msg);
      wake();
    },
  });
  const call = async (from: string, id: number, action = "charge") => {
    const n = sent.length;
    server.handle(
      { kind: "request", id, service: "billing", action, params: null, ttlMs: 5000 },
      from,
    );
    while (sent.length === n) await new Promise<void>((r) => wake = r);
    return sent[n];
  };
  return { server, call, authorizer, stats, ran: () => ran };
}

const WEB_ONLY = parsePolicy(
  "calls:\n  - { name: web-bills, action: allow, from: role=web, service: billing }\n",
).calls;

Deno.test("authorize: the caller with the granted label is answered, another is refused by name", async () => {
  const t = setup(() => WEB_ONLY);
  const ok = await t.call("10.200.0.2", 1);
  assert.deepEqual(ok, { kind: "response", id: 1, ok: true, result: 1, idempotent: false });
  const no = await t.call("10.200.0.3", 2);
  assert.deepEqual(no, {
    kind: "response",
    id: 2,
    ok: false,
    code: "forbidden",
    message: "call to billing/charge refused on bill1: denied by default: call rules name " +
      "billing and none lets db1 call billing/charge",
    idempotent: false,
  });
  // An address no member has (a plain WireGuard peer) is no member: refused too.
  assert.equal((await t.call("10.200.0.99", 3)).ok, false);
  // The action never ran for a refused call, and action names it does not have are not leaked.
  assert.equal(t.ran(), 1);
  const unknown = await t.call("10.200.0.3", 4, "nosuch");
  assert.equal(unknown.ok === false && unknown.code, "forbidden");
  assert.deepEqual(t.authorizer.denied(), [{ service: "billing", rule: "(default)", count: 3 }]);
  const served = t.stats.snapshot({}).served.map((s) => `${s.action}:${s.outcome}`).sort();
  assert.deepEqual(served, ["charge:forbidden", "charge:ok", "unknown:forbidden"]);
});

Deno.test("authorize: a deny rule names itself; local calls are this node's own", async () => {
  const rules = parsePolicy(
    "calls:\n  - { name: no-bill1, action: deny, from: { names: [bill1] }, service: billing }\n" +
      "  - { name: rest, action: allow, service: billing }\n",
  ).calls;
  const t = setup(() => rules);
  const local = await t.server.callLocal("billing", "charge", null, 5000);
  assert.equal(local.ok, false);
  assert.match(!local.ok ? local.message : "", /refused: denied by call rule no-bill1$/);
  assert.equal((await t.call("10.200.0.3", 1)).ok, true);
  assert.deepEqual(t.authorizer.denied(), [{ service: "billing", rule: "no-bill1", count: 1 }]);
});

Deno.test("authorize: no call rules (no policy, or none in it) lets every call through", async () => {
  let rules: CallRule[] | undefined = undefined;
  const t = setup(() => rules);
  assert.equal((await t.call("10.200.0.3", 1)).ok, true);
  rules = parsePolicy("policies: [{ name: x, action: allow }]").calls;
  assert.equal((await t.call("10.200.0.99", 2)).ok, true);
  // The policy is read at each call: a change applies to the next one.
  rules = WEB_ONLY;
  assert.equal((await t.call("10.200.0.3", 3)).ok, false);
  assert.deepEqual(t.authorizer.denied(), [{ service: "billing", rule: "(default)", count: 1 }]);
});

Deno.test("authorize: refusals are a /metrics counter by service and rule", async () => {
  const t = setup(() => WEB_ONLY);
  await t.call("10.200.0.3", 1);
  const registry = new MetricsRegistry();
  registry.register(servicesCollector(() => ({
    ...t.stats.snapshot({}),
    denied: t.authorizer.denied(),
  })));
  const text = registry.render();
  assert.match(
    text,
    /^weft_service_calls_denied_total\{service="billing",rule="\(default\)"\} 1$/m,
  );
});
