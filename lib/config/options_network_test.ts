import assert from "node:assert/strict";
import { NETWORK_OPTIONS } from "./options_network.ts";
import type { ParseContext } from "./combinators.ts";
import { flagInput } from "./input.ts";
import { ConfigError } from "./config_error.ts";
import type { SystemInfo } from "./system.ts";

function sys(env: Record<string, string> = {}): SystemInfo {
  return {
    uid: 0,
    home: "/root",
    xdgStateHome: undefined,
    hostname: "h",
    cwd: "/",
    env: (n) => env[n],
  };
}
const ctx = (env: Record<string, string> = {}): ParseContext => ({
  baseDir: "/etc/weft",
  sys: sys(env),
});

Deno.test("network options: the proxy comes from the flag, else the environment; none is none", () => {
  const p = NETWORK_OPTIONS.proxy;
  assert.equal(p.parse!(flagInput("none", "--proxy"), ctx({ HTTPS_PROXY: "http://p:3128" })), null);
  const set = p.parse!(
    flagInput("http://proxy.example:3128", "--proxy"),
    ctx({ NO_PROXY: "lan.example" }),
  );
  assert.equal(set?.from, "proxy");
  assert.equal(set?.bypass.length, 1);
  assert.equal(p.defaultValue(sys()), null);
  assert.notEqual(p.defaultValue(sys({ HTTPS_PROXY: "http://proxy.example:3128" })), null);
  assert.throws(() => p.defaultValue(sys({ HTTPS_PROXY: "ftp://x" })), ConfigError);
});

Deno.test("network options: a token is trimmed and never empty; routes split at commas from a flag", () => {
  assert.equal(NETWORK_OPTIONS.join.parse!(flagInput("  tok  ", "--join"), ctx()), "tok");
  assert.throws(() => NETWORK_OPTIONS.join.parse!(flagInput(" ", "--join"), ctx()), /empty/);
  const routes = NETWORK_OPTIONS.advertiseRoutes;
  const v = routes.fromFlag!(
    ["192.0.2.0/24,198.51.100.0/24", "203.0.113.0/24"],
    "--advertise-routes",
  );
  assert.deepEqual(v, ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"]);
  assert.throws(
    () => NETWORK_OPTIONS.cidr.parse!(flagInput("10.0.0.0/31", "--cidr"), ctx()),
    ConfigError,
  );
  assert.equal(NETWORK_OPTIONS.listenPort.defaultValue(sys()), 51820);
});
