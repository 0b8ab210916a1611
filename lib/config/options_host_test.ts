import assert from "node:assert/strict";
import { HOST_OPTIONS } from "./options_host.ts";
import type { ParseContext } from "./combinators.ts";
import { flagInput } from "./input.ts";
import { ConfigError } from "./config_error.ts";
import type { SystemInfo } from "./system.ts";

const SYS: SystemInfo = {
  uid: 1000,
  home: "/home/ada",
  xdgStateHome: undefined,
  hostname: "Box.Example",
  cwd: "/",
};
const CTX: ParseContext = { baseDir: "/etc/weft", sys: SYS };
const parse = <K extends keyof typeof HOST_OPTIONS>(k: K, v: unknown) =>
  HOST_OPTIONS[k].parse!(flagInput(v, k), CTX);

Deno.test("host options: the store is etcd:// and its prefix ends with /", () => {
  assert.equal(parse("store", " etcd://10.0.0.1:2379 "), "etcd://10.0.0.1:2379");
  assert.throws(() => parse("store", "http://10.0.0.1:2379"), ConfigError);
  assert.equal(parse("storePrefix", "/mesh-a/"), "/mesh-a/");
  assert.throws(() => parse("storePrefix", "/mesh a/"), ConfigError);
  assert.throws(() => parse("storePrefix", "/mesh"), ConfigError);
});

Deno.test("host options: names, the interface, levels and defaults from the machine", () => {
  assert.equal(HOST_OPTIONS.hostname.defaultValue(SYS), "box");
  assert.equal(HOST_OPTIONS.stateDir.defaultValue(SYS), "/home/ada/.local/state/weft");
  assert.equal(parse("interface", "wg7"), "wg7");
  assert.throws(() => parse("interface", "a/b"), ConfigError);
  assert.equal(parse("logLevel", "warn"), "warn");
  assert.throws(() => parse("logLevel", "loud"), ConfigError);
  assert.equal(parse("onRemoved", "wait"), "wait");
  assert.equal(parse("cryptoWorkers", "auto"), "auto");
  assert.match(HOST_OPTIONS.crypto.validation, / or [^,]+$/);
});
