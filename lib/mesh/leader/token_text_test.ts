/** Token texts: the defaults of a new token, and the leaders and TCP port a token names. */
import assert from "node:assert/strict";
import { decodeToken } from "../join/token.ts";
import { DEFAULT_TOKEN_TTL_MS, tokenRequest, tokenText } from "./token_text.ts";
import { nodeRecord } from "./testing/documents.ts";

Deno.test("token text: a token asked for with nothing is a day's, unlimited, granting nothing", () => {
  assert.deepEqual(tokenRequest({}), {
    ttlMs: DEFAULT_TOKEN_TTL_MS,
    uses: null,
    labels: {},
    services: [],
    relay: false,
    approveRoutes: [],
  });
  assert.equal(tokenRequest({ hostname: "bastion", uses: 1 }).hostname, "bastion");
});

Deno.test("token text: names this leader first, then the other leaders online with endpoints", () => {
  const self = nodeRecord("l1", "10.77.0.1", { role: "leader", endpoints: ["192.0.2.1:51820"] });
  const other = nodeRecord("l2", "10.77.0.2", {
    role: "leader",
    endpoints: ["192.0.2.2:51820"],
    tcpPort: 443,
  });
  const offline = nodeRecord("l3", "10.77.0.3", {
    role: "leader",
    endpoints: ["192.0.2.3:51820"],
    offline: true,
  });
  const silent = nodeRecord("l4", "10.77.0.4", { role: "leader" });
  const t = { id: "0123456789ab", secret: "c2VjcmV0" };
  const text = tokenText(t, self, [other, self, offline, silent], "10.77.0.0/24", {
    listenPort: 51820,
    tcpPort: 51820,
  });
  const d = decodeToken(text);
  assert.equal(d.leaderKey, self.publicKey);
  assert.deepEqual(d.endpoints, self.endpoints);
  assert.equal(d.network, "10.77.0.0/24");
  assert.equal(d.tcpPort, undefined, "the same number as the UDP port: not carried");
  assert.deepEqual(d.leaders?.map((l) => [l.key, l.tcpPort]), [
    [self.publicKey, undefined],
    [other.publicKey, 443],
  ]);
  const apart = decodeToken(tokenText(t, self, [self], "10.77.0.0/24", {
    listenPort: 51820,
    tcpPort: 8443,
  }));
  assert.equal(apart.tcpPort, 8443);
});
