import assert from "node:assert/strict";
import {
  InputTooLargeError,
  readFileBounded,
  readTextFileBounded,
  readUpTo,
} from "./bounded_read.ts";

/** A reader over `data` handing out at most `step` bytes a call, counting what it gave. */
function chunked(data: Uint8Array, step: number) {
  let off = 0;
  const r = {
    given: 0,
    calls: 0,
    read(p: Uint8Array): Promise<number | null> {
      r.calls++;
      if (off >= data.length) return Promise.resolve(null);
      const n = Math.min(step, p.length, data.length - off);
      p.set(data.subarray(off, off + n));
      off += n;
      r.given += n;
      return Promise.resolve(n);
    },
  };
  return r;
}

/** An endless reader, as /dev/zero or a pipe that never ends. */
function endless() {
  const r = {
    given: 0,
    read(p: Uint8Array): Promise<number | null> {
      p.fill(0x61);
      r.given += p.length;
      return Promise.resolve(p.length);
    },
  };
  return r;
}

Deno.test("readUpTo: short reads are joined; exactly max bytes is accepted", async () => {
  const data = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
  for (const step of [1, 7, 999, 1000, 5000]) {
    assert.deepEqual(await readUpTo(chunked(data, step), 1000), data, `step ${step}`);
    assert.deepEqual(await readUpTo(chunked(data, step), 5000), data, `step ${step}`);
  }
  assert.deepEqual(await readUpTo(chunked(new Uint8Array(0), 10), 0), new Uint8Array(0));
});

Deno.test("readUpTo: one byte over max is refused, reading no further than that byte", async () => {
  const data = new Uint8Array(1001);
  const r = chunked(data, 3);
  await assert.rejects(readUpTo(r, 1000), InputTooLargeError);
  assert.equal(r.given, 1001);
  const z = endless();
  await assert.rejects(readUpTo(z, 4096), (err: unknown) => {
    assert.ok(err instanceof InputTooLargeError);
    assert.ok(err instanceof RangeError);
    assert.equal(err.max, 4096);
    assert.equal(err.name, "InputTooLargeError");
    assert.equal(err.message, "larger than 4096 bytes");
    return true;
  });
  assert.equal(z.given, 4097, "an endless input costs max + 1 bytes");
  await assert.rejects(readUpTo(endless(), 0), InputTooLargeError);
});

Deno.test("readFileBounded: files up to the bound; /dev/zero refused at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-bounded-" });
  try {
    const path = `${dir}/f`;
    const text = "héllo ✓\n";
    await Deno.writeTextFile(path, text);
    const size = new TextEncoder().encode(text).length;
    assert.deepEqual(await readFileBounded(path, size), new TextEncoder().encode(text));
    assert.equal(await readTextFileBounded(path, size), text);
    await assert.rejects(readTextFileBounded(path, size - 1), InputTooLargeError);
    await assert.rejects(readFileBounded(`${dir}/missing`, 10), Deno.errors.NotFound);
    await assert.rejects(readFileBounded(dir, 10));
    // The file is closed after reading (the sanitizer would report a leak otherwise).
    // Bad UTF-8 decodes as Deno.readTextFile does it: replacement characters, no exception.
    await Deno.writeFile(path, Uint8Array.of(0x61, 0xff, 0x62));
    assert.equal(await readTextFileBounded(path, 3), await Deno.readTextFile(path));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  if (Deno.build.os === "linux") {
    await assert.rejects(readFileBounded("/dev/zero", 1 << 20), InputTooLargeError);
  }
});
