import assert from "node:assert/strict";
import {
  boolean,
  duration,
  integer,
  listOf,
  oneOf,
  type ParseContext,
  string,
  text,
  unknownKey,
} from "./combinators.ts";
import { flagInput, type Input } from "./input.ts";

const CTX: ParseContext = {
  baseDir: "/",
  sys: { uid: 1000, home: "/h", xdgStateHome: undefined, hostname: "h", cwd: "/" },
};

/** A value as YAML gives it. */
function yaml(value: unknown): Input {
  return {
    path: "key",
    where: { file: "w.yaml", line: 3 },
    fromFlag: false,
    kind: "scalar",
    value,
  };
}

Deno.test("combinators: boolean and string", () => {
  assert.equal(boolean(yaml(true)), true);
  assert.throws(() => boolean(yaml("true")), /key: expected true or false, got "true"/);
  assert.equal(string(yaml("x")), "x");
  assert.throws(() => string(yaml(5)), /put it in quotes/);
  assert.throws(() => string(flagInput(["x"], "--x")), /expected a string, got a list/);
});

Deno.test("combinators: integer takes YAML numbers and a flag's digits", () => {
  const port = integer(0, 65535);
  assert.equal(port(yaml(80), CTX), 80);
  assert.equal(port(flagInput(" 80 ", "--p"), CTX), 80);
  assert.throws(() => port(yaml("80"), CTX), /expected an integer from 0 to 65535, got "80"/);
  assert.throws(() => port(yaml(65536), CTX), /from 0 to 65535/);
  assert.throws(() => port(yaml(1.5), CTX), /integer/);
  assert.throws(() => port(flagInput("8e1", "--p"), CTX), /: --p: expected an integer/);
});

Deno.test("combinators: text turns a thrown Error into a located ConfigError", () => {
  const upper = text((s) => {
    if (s === "") throw new Error("is empty");
    return s.toUpperCase();
  });
  assert.equal(upper(yaml("a"), CTX), "A");
  assert.throws(() => upper(yaml(""), CTX), (e: unknown) => {
    assert.equal((e as Error).message, "w.yaml, line 3: key: is empty");
    return true;
  });
});

Deno.test("combinators: listOf and oneOf", () => {
  const levels = listOf(oneOf(["debug", "info"] as const));
  assert.deepEqual(levels(flagInput([" Debug", "INFO"], "--l"), CTX), ["debug", "info"]);
  assert.throws(() => levels(flagInput(["warn"], "--l"), CTX), /: --l\[0\]: expected one of/);
  assert.throws(() => levels(yaml("debug"), CTX), /expected a list/);
});

Deno.test("combinators: duration, with a range, and YAML numbers as seconds", () => {
  const d = duration(100, 3_600_000);
  assert.equal(d(yaml("1500ms"), CTX), 1500);
  assert.equal(d(yaml(3), CTX), 3000);
  assert.equal(d(yaml("0.5s"), CTX), 500);
  assert.throws(() => d(yaml("50ms"), CTX), /from 100 ms to 3600 s/);
  assert.throws(() => d(yaml("1d"), CTX), /got "1d"/);
  assert.throws(() => d(yaml("soon"), CTX), /got "soon"/);
  assert.throws(() => d(yaml(true), CTX), /expected a duration/);
});

Deno.test("combinators: unknownKey suggests the closest key", () => {
  assert.equal(
    unknownKey("services[0]", "protcol", ["port", "protocol"]),
    'services[0]: unknown key "protcol" (did you mean "protocol"?)',
  );
  assert.equal(unknownKey(undefined, "zzzz", ["mtu"]), 'unknown key "zzzz"');
});
