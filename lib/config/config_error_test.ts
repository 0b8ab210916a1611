import assert from "node:assert/strict";
import { ConfigError } from "./config_error.ts";

Deno.test("ConfigError: the message is the place, then the reason", () => {
  const err = new ConfigError("bad port", { file: "a.conf", line: 7 });
  assert.equal(err.message, "a.conf, line 7: bad port");
  assert.equal(err.reason, "bad port");
  assert.equal(err.file, "a.conf");
  assert.equal(err.line, 7);
  assert.equal(err.name, "ConfigError");
  assert.equal(new ConfigError("oops", { line: 2 }).message, "line 2: oops");
  assert.equal(new ConfigError("oops", { file: "w.yaml" }).message, "w.yaml: oops");
  assert.equal(new ConfigError("oops").message, "oops");
  assert.ok(new ConfigError("x") instanceof Error);
});
