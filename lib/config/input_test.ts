import assert from "node:assert/strict";
import { ConfigError } from "./config_error.ts";
import { describe, fail, flagInput, type Input, MAX_VALUE_CHARS, tooLong } from "./input.ts";

Deno.test("input: flag values become trees named by the flag", () => {
  assert.deepEqual(flagInput("5", "--mtu"), {
    path: "--mtu",
    where: {},
    fromFlag: true,
    kind: "scalar",
    value: "5",
  });
  const seq = flagInput(["a", "b"], "--advertise");
  assert.equal(seq.kind, "seq");
  assert.deepEqual(seq.kind === "seq" && seq.items.map((i) => i.path), [
    "--advertise[0]",
    "--advertise[1]",
  ]);
  const map = flagInput({ role: "web", gone: undefined }, "--label");
  assert.equal(map.kind, "map");
  assert.deepEqual(map.kind === "map" && map.entries.map((e) => [e.key, e.value.path]), [
    ["role", "--label.role"],
  ]);
});

Deno.test("input: fail says the path and the place", () => {
  const input: Input = {
    path: "services[1].port",
    where: { file: "w.yaml", line: 7 },
    fromFlag: false,
    kind: "scalar",
    value: 0,
  };
  assert.throws(() => fail(input, "bad"), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.message, "w.yaml, line 7: services[1].port: bad");
    return true;
  });
});

Deno.test("input: describe quotes text and names other kinds", () => {
  const scalar = (value: unknown, fromFlag = false): Input => ({
    path: "x",
    where: {},
    fromFlag,
    kind: "scalar",
    value,
  });
  assert.equal(describe(scalar("a b")), '"a b"');
  assert.equal(describe(scalar("ab", true)), "ab");
  assert.equal(describe(scalar("a b", true)), '"a b"');
  assert.equal(describe(scalar(5)), "5");
  assert.equal(describe(scalar(null)), "no value");
  assert.equal(describe(scalar(new Uint8Array(1))), "binary data");
  assert.equal(describe(flagInput([], "x")), "a list");
  assert.equal(describe(flagInput({}, "x")), "a mapping");
  assert.ok(describe(scalar("z".repeat(1000))).length < 120);
});

Deno.test("input: a value over MAX_VALUE_CHARS is refused before anything reads it", () => {
  tooLong("a".repeat(MAX_VALUE_CHARS), "x", {});
  assert.throws(() => tooLong("a".repeat(MAX_VALUE_CHARS + 1), "x", {}), /at most 4096/);
  assert.throws(() => flagInput("a".repeat(MAX_VALUE_CHARS + 1), "--hostname"), /--hostname/);
});
