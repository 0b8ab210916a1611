import assert from "node:assert/strict";
import { checkJoinToken, JoinError, joinFromConfig, requestJoin } from "./join_client.ts";
import { encodeToken } from "./token.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { encodeKey, generateKeyPair } from "../crypto/keys.ts";
import { selectSuite } from "../crypto/select.ts";
import { nullLogger } from "../log/logger.ts";
import type { AgentConfig } from "../config/agent_config.ts";
import type { NameLookup } from "../net/resolve.ts";

const dh = selectSuite().dh;
const leader = generateKeyPair();

function token(extra: Partial<Parameters<typeof encodeToken>[0]> = {}): string {
  return encodeToken({
    leaderKey: leader.publicKey,
    endpoints: ["192.0.2.1:51820"],
    network: "10.7.0.0/24",
    id: "0123456789ab",
    secret: "c2VjcmV0c2VjcmV0",
    ...extra,
  });
}

Deno.test("join client: a usable token is checked and its request parts derived", () => {
  const checked = checkJoinToken(token(), dh);
  assert.equal(checked.token.network, "10.7.0.0/24");
  assert.equal(encodeKey(checked.leaderKey), leader.publicKey);
  assert.deepEqual([...checked.tokenId], [0x01, 0x23, 0x45, 0x67, 0x89, 0xab]);
  assert.equal(checked.mac1Key.length, 32);
});

Deno.test("join client: a token that cannot be used is a JoinError saying why", () => {
  const refused = (text: string, why: RegExp) =>
    assert.throws(
      () => checkJoinToken(text, dh),
      (e) => e instanceof JoinError && why.test(e.message),
    );
  refused("weft1_nonsense", /./);
  refused("not a token", /not a weft join token/);
  // A low-order point: every shared secret with it would be zero.
  refused(token({ leaderKey: encodeKey(new Uint8Array(32)) }), /unusable join token/);
  refused(token({ id: "zz" }), /bad id or secret/);
  refused(token({ network: "nonsense" }), /bad network/);
  refused(token({ endpoints: ["no port here"] }), /no usable leader endpoint/);
});

Deno.test("join client: no answer from the leader fails after the timeout, naming it", async () => {
  const net = new MemoryNetwork();
  await assert.rejects(
    requestJoin(
      {
        role: "node",
        stateDir: "/nonexistent",
        hostname: "n1",
        joinTimeoutMs: 600,
        openTransport: () => Promise.resolve(net.bind("192.0.2.2", 51820)),
      },
      checkJoinToken(token(), dh),
      generateKeyPair().privateKey,
      nullLogger,
    ),
    (e) =>
      !(e instanceof JoinError) &&
      /no answer from the leader at 192\.0\.2\.1:51820/.test(String(e)),
  );
  // Resent four times a second at first: several tries in 600 ms.
  assert.ok(net.sent >= 3, `sent ${net.sent}`);
});

Deno.test("join client: a leader name that never resolves fails with the lookup's cause", async () => {
  const net = new MemoryNetwork();
  const lookup: NameLookup = () => Promise.reject(new Error("no such host"));
  await assert.rejects(
    requestJoin(
      {
        role: "node",
        stateDir: "/nonexistent",
        hostname: "n1",
        joinTimeoutMs: 500,
        lookup,
        openTransport: () => Promise.resolve(net.bind("192.0.2.2", 51820)),
      },
      checkJoinToken(token({ endpoints: ["leader.invalid:51820"] }), dh),
      generateKeyPair().privateKey,
      nullLogger,
    ),
    /could not resolve the leader's endpoint leader\.invalid:51820: .*no such host/,
  );
  assert.equal(net.sent, 0);
});

Deno.test("join client: the join section of a configuration is its token", () => {
  assert.deepEqual(joinFromConfig({ join: "weft1_x" } as AgentConfig), { token: "weft1_x" });
  assert.deepEqual(joinFromConfig({} as AgentConfig), { token: undefined });
});
