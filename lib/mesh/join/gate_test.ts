/**
 * The join gate: what a request must carry before the leader spends a DH on it, and what each
 * refusal is counted as.
 */
import assert from "node:assert/strict";
import { JoinGate } from "./gate.ts";
import { joinMac1Key, openJoinCookie, sealJoinRequest, setJoinMac2 } from "./crypto.ts";
import { hashSecret, newTokenSecret } from "./token.ts";
import { decodeBase64 } from "../../crypto/base64.ts";
import { selectSuite } from "../../crypto/select.ts";
import type { Endpoint } from "../../io/driver.ts";

const suite = selectSuite();
const leaderPriv = suite.dh.generatePrivate();
const leaderKey = suite.dh.publicKey(leaderPriv);

function endpoint(address: string, port = 51820): Endpoint {
  return { address, port, family: 4, toString: () => `${address}:${port}` };
}

/** A gate on a fake clock with one token, and a request made with that token. */
function setup() {
  let now = 0;
  const gate = new JoinGate(leaderKey, { now: () => now });
  const t = newTokenSecret();
  gate.setTokens([{ id: t.id, secretHash: hashSecret(t.secret) }]);
  const tokenId = Uint8Array.from(t.id.match(/../g)!.map((h) => parseInt(h, 16)));
  const key = joinMac1Key(leaderKey, decodeBase64(hashSecret(t.secret))!);
  const make = (mac1Key = key) =>
    sealJoinRequest(suite.dh, suite.aead, leaderKey, tokenId, mac1Key, new Uint8Array(40)).message;
  return { gate, make, tick: (ms: number) => now += ms };
}

Deno.test("join gate: junk, unknown tokens and wrong MACs are counted drops", () => {
  const { gate, make } = setup();
  const from = endpoint("192.0.2.9");
  assert.equal(gate.check(new Uint8Array([0x10, 0, 0, 0, 1]), from), "drop");
  const macless = crypto.getRandomValues(new Uint8Array(200));
  macless.set([0x10, 0, 0, 0]);
  assert.equal(gate.check(macless, from), "drop");
  assert.equal(gate.check(make(new Uint8Array(32)), from), "drop");
  const d = gate.drops();
  assert.deepEqual([d.short, d["unknown-token"], d.mac1], [1, 1, 1]);
  assert.equal(gate.check(make(), from), "open");
});

Deno.test("join gate: each source gets a burst, then its rate", () => {
  const { gate, make, tick } = setup();
  const msg = make();
  const results = Array.from({ length: 8 }, () => gate.check(msg, endpoint("192.0.2.9")));
  assert.deepEqual(results.filter((r) => r === "open").length, 5);
  assert.equal(gate.drops()["rate-limited"], 3);
  assert.equal(gate.check(msg, endpoint("192.0.2.10")), "open", "another source");
  tick(1000);
  assert.equal(gate.check(msg, endpoint("192.0.2.9")), "open");
});

Deno.test("join gate: an IPv6 source is limited by its /64, not per address", () => {
  const { gate, make } = setup();
  const msg = make();
  const v6 = (address: string) => ({ ...endpoint(address), family: 6 as const });
  // Eight addresses of one /64, each new: one burst between them.
  const results = Array.from(
    { length: 8 },
    (_, i) => gate.check(msg, v6(`2001:db8:0:1::${i + 1}`)),
  );
  assert.equal(results.filter((r) => r === "open").length, 5);
  assert.equal(gate.drops()["rate-limited"], 3);
  assert.equal(gate.check(msg, v6("2001:db8:0:2::1")), "open", "another /64");
});

Deno.test("join gate: under load a request needs a cookie for its source address", () => {
  const { gate, make } = setup();
  // Many requests in a second: the gate is under load.
  for (let i = 0; i < 20; i++) gate.check(make(), endpoint(`198.51.100.${i + 1}`));
  assert.ok(gate.underLoad);
  const msg = make();
  const me = endpoint("192.0.2.9", 40000);
  assert.equal(gate.check(msg, me), "cookie");
  const cookie = openJoinCookie(leaderKey, msg, gate.reply.slice());
  assert.ok(cookie, "the joiner opens the cookie");
  setJoinMac2(msg, cookie);
  assert.equal(gate.check(msg, me), "open");
  // The cookie is bound to the address: the same request from elsewhere needs its own.
  assert.equal(gate.check(msg, endpoint("192.0.2.66", 40000)), "cookie");
});

Deno.test("join gate: under load, replays without a cookie past the cookie budget cost no MAC", () => {
  const { gate, make } = setup();
  for (let i = 0; i < 20; i++) gate.check(make(), endpoint(`198.51.100.${i + 1}`));
  const bad = make(new Uint8Array(32)); // wrong mac1, no mac2
  const from = endpoint("203.0.113.5");
  const before = gate.drops();
  for (let i = 0; i < 1000; i++) gate.check(bad, from);
  const d = gate.drops();
  // Only the source's cookie budget (burst 5) got as far as the mac1 check.
  assert.equal(d.mac1 - before.mac1, 5);
  assert.equal(d["cookie-required"] - before["cookie-required"], 995);
});
