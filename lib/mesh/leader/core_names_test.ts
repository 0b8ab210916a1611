/**
 * LeaderCore names members (./names.ts): a joiner's name never takes another member's, a
 * service's, an address name or a reserved label; a token pins its node's name; a removed
 * member's name is held for a grace period unless the operator frees it.
 */
import assert from "node:assert/strict";
import type { JoinResult } from "../join/request.ts";
import { LeaderCore, LeaderError, LeaderNotFoundError } from "./core.ts";
import { joinRequest as request } from "./testing/cores.ts";
import { generateKeyPair } from "../../crypto/keys.ts";
import { MemoryStore } from "../store/memory_store.ts";

const DAY = 86_400_000;
const YEAR = 365 * DAY;

function open(store = new MemoryStore(), nameHoldMs?: number): Promise<LeaderCore> {
  return LeaderCore.open(store, {
    network: "10.77.0.0/24",
    hostname: "lead",
    publicKey: generateKeyPair().publicKey,
    endpoints: ["192.0.2.1:51820"],
    ...(nameHoldMs !== undefined ? { nameHoldMs } : {}),
  });
}

function name(r: JoinResult): string {
  assert.ok(r.ok, JSON.stringify(r));
  return r.member.name;
}

function plain(core: LeaderCore, opts: { services?: string[] } = {}) {
  return core.createToken({ ttlMs: YEAR, uses: null, labels: {}, ...opts });
}

Deno.test("names: a joiner asking for a service's name, an address name or `leader` gets a suffix", async () => {
  const core = await open();
  const t = await plain(core);
  const granted = await plain(core, { services: ["db"] });
  const db = { name: "db", port: 5432, protocol: "tcp" as const };
  assert.equal(name(await core.join(request(granted, "pg1", { services: [db] }), null)), "pg1");
  assert.deepEqual(core.member("pg1")?.services.map((s) => s.name), ["db"]);
  assert.equal(name(await core.join(request(t, "db"), null)), "db-2");
  // Offered without any grant (an open service) counts as much.
  const web = { name: "web", port: 80, protocol: "tcp" as const };
  assert.equal(name(await core.join(request(t, "w1", { services: [web] }), null)), "w1");
  assert.equal(name(await core.join(request(t, "web"), null)), "web-2");
  // A name only a token grants, that no member offers yet.
  await plain(core, { services: ["vault"] });
  assert.equal(name(await core.join(request(t, "vault"), null)), "vault-2");
  // The members' address names, and the zone's own labels.
  assert.equal(core.member("10.77.0.2")?.name, "pg1");
  assert.equal(name(await core.join(request(t, "node-0-2"), null)), "node-0-2-2");
  assert.equal(name(await core.join(request(t, "node-9-9"), null)), "node-9-9-2");
  assert.equal(name(await core.join(request(t, "leader"), null)), "leader-2");
  assert.equal(name(await core.join(request(t, "ns"), null)), "ns-2");
  // The member's own name, and a removed node's previous one, follow the same rules.
  assert.equal(name(await core.join(request(t, "x", { previousName: "db" }), null)), "x");
});

Deno.test("names: a token pins its node's name; other joiners never get it", async () => {
  const core = await open();
  const t = await plain(core);
  const pin = await core.createToken({ ttlMs: YEAR, uses: 2, labels: {}, hostname: "bastion" });
  assert.equal(core.listTokens().find((x) => x.id === pin.id)?.hostname, "bastion");
  // Before the pinned node joins: the name is the token's.
  assert.equal(name(await core.join(request(t, "bastion"), null)), "bastion-2");
  // The joiner cannot override it.
  const key = generateKeyPair().publicKey;
  assert.equal(name(await core.join(request(pin, "evil", { publicKey: key }), null)), "bastion");
  // A retransmission (proven to be the key holder's) gets the same answer; another node with the
  // token is refused, clearly.
  const resent = await core.join(
    request(pin, "evil", { publicKey: key }),
    null,
    undefined,
    () => true,
  );
  assert.equal(name(resent), "bastion");
  const second = await core.join(request(pin, "bastion"), null);
  assert.deepEqual(second, {
    ok: false,
    error: `the name this token gives, "bastion", is another member's`,
    usage: true,
  });
  assert.equal(name(await core.join(request(t, "bastion"), null)), "bastion-3");
  // Token creation refuses a name it could not give.
  const refusals: [string, RegExp][] = [
    ["bastion", /hostname "bastion" is another member's/],
    ["leader", /reserved/],
    ["node-1-2", /address names/],
    ["Bad_Name", /not a valid DNS label/],
  ];
  for (const [n, error] of refusals) {
    await assert.rejects(
      core.createToken({ ttlMs: YEAR, uses: 1, labels: {}, hostname: n }),
      (e: Error) => e instanceof LeaderError && error.test(e.message),
    );
  }
  await assert.rejects(
    core.createToken({ ttlMs: YEAR, uses: 1, labels: {}, services: ["api"], hostname: "api" }),
    /"api" is a service's name/,
  );
  // One name, one usable token.
  await core.createToken({ ttlMs: YEAR, uses: 1, labels: {}, hostname: "gw" });
  await assert.rejects(
    core.createToken({ ttlMs: YEAR, uses: 1, labels: {}, hostname: "gw" }),
    /is pinned by join token/,
  );
});

Deno.test("names: a removed member's name is held for the grace period unless freed", async () => {
  const core = await open(new MemoryStore(), DAY);
  const t = await plain(core);
  const key = generateKeyPair().publicKey;
  assert.equal(name(await core.join(request(t, "web", { publicKey: key }), null)), "web");
  await core.removeNode("web");
  const now = Date.now();
  assert.equal(name(await core.join(request(t, "web"), null, now)), "web-2");
  // A token pinning it is refused too, saying how to free it.
  await assert.rejects(
    core.createToken({ ttlMs: YEAR, uses: 1, labels: {}, hostname: "web" }),
    /"web" was a removed member's and is held until .* \(free it with weft node free-name\)/,
  );
  // The removed node itself, back with a new token, has it again.
  const again = await plain(core);
  const back = request(again, "machine", { publicKey: key, previousName: "web", time: 2_000 });
  assert.equal(name(await core.join(back, null, now)), "web");
  await core.removeNode("web");
  // After the grace period, free again.
  assert.equal(name(await core.join(request(t, "web"), null, Date.now() + DAY + 1)), "web");
  await core.removeNode("web");
  // Freed by the operator: the next joiner has it at once.
  await assert.rejects(core.freeName("nobody"), LeaderNotFoundError);
  await core.freeName("web");
  assert.equal(name(await core.join(request(t, "web"), null, now)), "web");
  await assert.rejects(core.freeName("web"), LeaderNotFoundError, "nothing held any more");
});

Deno.test("names: held names survive the leader's restart; a zero grace period holds none", async () => {
  const store = new MemoryStore();
  const core = await open(store);
  const t = await plain(core);
  assert.equal(name(await core.join(request(t, "db1"), null)), "db1");
  await core.removeNode("db1");
  core.close();
  const reopened = await LeaderCore.open(store, {
    network: "10.77.0.0/24",
    hostname: "lead",
    publicKey: core.leader.publicKey,
    endpoints: ["192.0.2.1:51820"],
  });
  assert.equal(name(await reopened.join(request(t, "db1"), null)), "db1-2");
  reopened.close();
  const none = await LeaderCore.open(store, {
    network: "10.77.0.0/24",
    hostname: "lead",
    publicKey: core.leader.publicKey,
    endpoints: ["192.0.2.1:51820"],
    nameHoldMs: 0,
  });
  const t2 = await plain(none);
  await none.removeNode("db1-2");
  assert.equal(name(await none.join(request(t2, "db1"), null)), "db1");
  none.close();
});

Deno.test("names: an open service may not take a name the zone answers otherwise", async () => {
  const core = await open();
  const t = await plain(core);
  const svc = (name: string) => ({ name, port: 80, protocol: "tcp" as const });
  const pg = name(await core.join(request(t, "pg"), null));
  const pin = await core.createToken({ ttlMs: YEAR, uses: 1, labels: {}, hostname: "bastion" });
  assert.ok(pin.id);
  const refusedBefore = core.servicesRefused;
  // At the join: another member's name, an address name, `leader` and a pinned name are left
  // out of the offer; the joiner's own name and a free one are kept.
  const key = generateKeyPair().publicKey;
  const offers = [pg, "node-0-2", "leader", "bastion", "sh", "web"].map(svc);
  const sh = await core.join(request(t, "sh", { publicKey: key, services: offers }), null);
  assert.ok(sh.ok);
  assert.deepEqual(core.member("sh")!.services.map((s) => s.name), ["sh", "web"]);
  assert.equal(core.servicesRefused - refusedBefore, 4);
  assert.deepEqual(core.ungrantedServices(key, offers), [pg, "node-0-2", "leader", "bastion"]);
  // In a later hello: the same.
  await core.updateMember(key, { services: [svc("web"), svc(pg)] });
  assert.deepEqual(core.member("sh")!.services.map((s) => s.name), ["web"]);
  // A removed member's name, while it is held.
  const gone = name(await core.join(request(t, "gone"), null));
  await core.removeNode(gone);
  await core.updateMember(key, { services: [svc("web"), svc(gone)] });
  assert.deepEqual(core.member("sh")!.services.map((s) => s.name), ["web"]);
  // Granted by the operator (a token naming the service), it is the operator's choice.
  const granted = await plain(core, { services: [pg] });
  const g = await core.join(request(granted, "g1", { services: [svc(pg)] }), null);
  assert.ok(g.ok);
  assert.deepEqual(core.member("g1")!.services.map((s) => s.name), [pg]);
});
