import assert from "node:assert/strict";
import { StoreError } from "../../lib/store/kv.ts";
import { jsonLines } from "./lines.ts";

function stream(chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const s of chunks) c.enqueue(enc.encode(s));
      c.close();
    },
  });
}

async function all(body: ReadableStream<Uint8Array>, max: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const v of jsonLines(body, max)) out.push(v);
  return out;
}

Deno.test("jsonLines joins lines split across chunks and skips blank ones", async () => {
  const got = await all(stream(['{"a":', '1}\n\n{"b"', ":2}\n", '{"c":3}']), 64);
  assert.deepEqual(got, [{ a: 1 }, { b: 2 }, { c: 3 }]);
});

Deno.test("jsonLines refuses a line over the bound, whole or growing across chunks", async () => {
  const isProtocol = (e: unknown) => e instanceof StoreError && e.kind === "protocol";
  await assert.rejects(all(stream([`{"a":"${"x".repeat(100)}"}\n`]), 64), isProtocol);
  // Never a newline: the bound holds while it grows, not only when a line ends.
  const endless = new ReadableStream<Uint8Array>({
    pull(c) {
      c.enqueue(new Uint8Array(32).fill(0x78));
    },
  });
  await assert.rejects(all(endless, 1024), isProtocol);
  await assert.rejects(all(stream(["not json\n"]), 64), isProtocol);
});
