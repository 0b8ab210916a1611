import assert from "node:assert/strict";
import { envNumber, envText } from "./env_number.ts";

const NAME = "WEFT_ENV_NUMBER_TEST";

/** `envNumber` with the variable set to `text` (undefined: unset). */
function read(text: string | undefined, ...rest: [number, Parameters<typeof envNumber>[2]?]) {
  if (text === undefined) Deno.env.delete(NAME);
  else Deno.env.set(NAME, text);
  try {
    return envNumber(NAME, ...rest);
  } finally {
    Deno.env.delete(NAME);
  }
}

Deno.test("envNumber: the number set, else the default: unset, blank, no number, out of range", () => {
  assert.equal(read(undefined, 7), 7);
  assert.equal(read("", 7), 7);
  assert.equal(read("  ", 7), 7, "blank is unset, not 0");
  assert.equal(read("12", 7), 12);
  assert.equal(read(" 12 ", 7), 12);
  assert.equal(read("1.5", 7), 1.5);
  assert.equal(read("1e3", 7), 1000);
  assert.equal(read("0", 7), 0);
  assert.equal(read("-3", 7), -3, "no range: any finite number");
  for (const bad of ["fast", "12ms", "Infinity", "NaN", "-Infinity"]) {
    assert.equal(read(bad, 7), 7, bad);
  }
  const range = { min: 0, max: 19, integer: true };
  for (const [text, want] of [["0", 0], ["19", 19], ["-1", 7], ["20", 7], ["2.5", 7]] as const) {
    assert.equal(read(text, 7, range), want, text);
  }
  assert.equal(read("-0.5", 7, { min: 0 }), 7);
  assert.equal(read("100000", 7, { min: 0 }), 100_000);
});

Deno.test("envNumber: a default of another kind is given back as it is", () => {
  Deno.env.set(NAME, "x");
  try {
    assert.equal(envNumber(NAME, "idle" as const), "idle");
    assert.equal(envText(NAME), "x");
  } finally {
    Deno.env.delete(NAME);
  }
  assert.equal(envText(NAME), undefined);
});

Deno.test("envNumber: without the env permission, the default and no prompt", async () => {
  Deno.env.set(NAME, "12");
  const url = new URL("./env_number.ts", import.meta.url).href;
  const code = `import { envNumber, envText } from ${JSON.stringify(url)};
    postMessage([envNumber(${JSON.stringify(NAME)}, 7), envText(${
    JSON.stringify(NAME)
  }) ?? null]);`;
  const worker = new Worker(`data:text/javascript,${encodeURIComponent(code)}`, {
    type: "module",
    deno: { permissions: { env: false, read: true, net: false, run: false, ffi: false } },
  });
  try {
    const got = await new Promise((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(e.error ?? new Error(e.message));
    });
    assert.deepEqual(got, [7, null]);
  } finally {
    worker.terminate();
    Deno.env.delete(NAME);
  }
});
