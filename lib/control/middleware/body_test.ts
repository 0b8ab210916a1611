import assert from "node:assert/strict";
import { Hono } from "npm:hono@^4.13.19";
import {
  intField,
  jsonBody,
  jsonDepth,
  limitBody,
  MAX_BODY_BYTES,
  MAX_JSON_DEPTH,
  stringField,
} from "./body.ts";
import { errorHandler, HttpError } from "./errors.ts";

function app(): Hono {
  const a = new Hono();
  a.onError(errorHandler());
  a.use(limitBody());
  a.post("/echo", async (c) => c.json(await jsonBody(c)));
  return a;
}

const stream = (bytes: Uint8Array) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < bytes.length; i += 65536) c.enqueue(bytes.subarray(i, i + 65536));
      c.close();
    },
  });

Deno.test("body: over the limit is 413, by its length or as it streams", async () => {
  const big = new Uint8Array(MAX_BODY_BYTES + 1).fill(0x20);
  const sized = await app().request("/echo", {
    method: "POST",
    body: big,
    headers: { "content-length": String(big.length) },
  });
  assert.equal(sized.status, 413);
  assert.deepEqual(await sized.json(), { error: `request body over ${MAX_BODY_BYTES} bytes` });
  const streamed = await app().request("/echo", {
    method: "POST",
    body: stream(big),
    headers: { "transfer-encoding": "chunked" },
  });
  assert.equal(streamed.status, 413);
  await streamed.body?.cancel();
  // At the limit it is read.
  const at = new TextEncoder().encode(JSON.stringify({ pad: "x".repeat(MAX_BODY_BYTES - 10) }));
  assert.equal(at.length, MAX_BODY_BYTES);
  assert.equal((await app().request("/echo", { method: "POST", body: at })).status, 200);
});

Deno.test("body: JSON nested too deep is refused unparsed; bad JSON and non-objects too", async () => {
  const post = (body: string) => app().request("/echo", { method: "POST", body });
  const deep = await post("[".repeat(500_000));
  assert.equal(deep.status, 400);
  assert.deepEqual(await deep.json(), {
    error: `JSON nested deeper than ${MAX_JSON_DEPTH} levels`,
  });
  for (const body of ["{not json", "[1]", "null", "3", ""]) {
    const r = await post(body);
    assert.equal(r.status, 400, body);
    assert.deepEqual(await r.json(), { error: "body must be a JSON object" }, body);
  }
  const nested = `{"a":${"[".repeat(MAX_JSON_DEPTH - 1)}${"]".repeat(MAX_JSON_DEPTH - 1)}}`;
  assert.equal((await post(nested)).status, 200);
});

Deno.test("body: jsonDepth counts arrays and objects, not brackets in strings", () => {
  assert.equal(jsonDepth("{}", 32), 1);
  assert.equal(jsonDepth('{"a":[{"b":1}]}', 32), 3);
  assert.equal(jsonDepth('{"a":"[[[[\\"[["}', 32), 1);
  assert.equal(jsonDepth("[[[[[[", 3), 4, "stops once past max");
  assert.equal(jsonDepth("1", 32), 0);
});

Deno.test("body: intField and stringField check type and range, naming the field", () => {
  const body = { n: 5, f: 1.5, s: "x", e: "" };
  assert.equal(intField(body, "n", 1, 10), 5);
  assert.equal(intField(body, "missing", 1, 10, 3), 3);
  for (const [name, min, max] of [["n", 6, 10], ["f", 0, 10], ["s", 0, 10], ["missing", 0, 1]]) {
    assert.throws(
      () => intField(body, name as string, min as number, max as number),
      (e: unknown) =>
        e instanceof HttpError && e.status === 400 &&
        e.message === `${name} must be an integer from ${min} to ${max}`,
    );
  }
  assert.equal(stringField(body, "s"), "x");
  for (const name of ["e", "n", "missing"]) {
    assert.throws(
      () => stringField(body, name),
      (e: unknown) => e instanceof HttpError && e.message === `${name} must be a non-empty string`,
    );
  }
});
