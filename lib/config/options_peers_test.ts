import assert from "node:assert/strict";
import { PEER_OPTIONS } from "./options_peers.ts";
import type { ParseContext } from "./combinators.ts";
import { flagInput } from "./input.ts";
import { ConfigError } from "./config_error.ts";

const CTX: ParseContext = {
  baseDir: "/etc/weft",
  sys: { uid: 0, home: "/root", xdgStateHome: undefined, hostname: "h", cwd: "/" },
};

Deno.test("peer options: the post-quantum rotation is 1 s to 120 s, before WireGuard's rekey", () => {
  const rotate = PEER_OPTIONS.pqRotate;
  assert.equal(rotate.parse!(flagInput("2m", "--pq-rotate"), CTX), 120_000);
  assert.equal(rotate.parse!(flagInput("5", "--pq-rotate"), CTX), 5000);
  assert.throws(() => rotate.parse!(flagInput("121s", "--pq-rotate"), CTX), ConfigError);
  assert.equal(rotate.defaultValue(CTX.sys), 110_000);
});

Deno.test("peer options: switches on by default, the MTU's floor, the policy from the file only", () => {
  for (const k of ["natTraversal", "lanDiscovery", "pq"] as const) {
    assert.equal(PEER_OPTIONS[k].defaultValue(CTX.sys), true, k);
  }
  assert.throws(() => PEER_OPTIONS.mtu.parse!(flagInput("575", "--mtu"), CTX), ConfigError);
  assert.equal(PEER_OPTIONS.policy.flag, undefined);
  assert.equal(typeof PEER_OPTIONS.policy.parseNode, "function");
});
