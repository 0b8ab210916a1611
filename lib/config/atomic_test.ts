import assert from "node:assert/strict";
import { JsonFileError, readJsonFile, writeFileAtomic } from "./atomic.ts";
import { tempDirs } from "../../tests/fixtures/temp_dir.ts";

const ATOMIC_URL = new URL("./atomic.ts", import.meta.url).href;

const withTempDir = tempDirs("weft-atomic-");

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

/** A payload that is recognisably whole: `len` copies of one byte. */
function payload(byte: number, len: number): Uint8Array {
  return new Uint8Array(len).fill(byte);
}

function isWhole(data: Uint8Array, len: number): boolean {
  return data.length === len && data.every((b) => b === data[0]);
}

Deno.test("mode 0o600 is applied exactly, whatever the umask", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/key.json`;
    const old = Deno.umask(0o077);
    try {
      await writeFileAtomic(path, '{"secret":1}', { mode: 0o600 });
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      // A mode wider than the umask allows is still set as asked.
      await writeFileAtomic(path, "{}", { mode: 0o644 });
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o644);
      await writeFileAtomic(path, "{}", { mode: 0o600 });
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    } finally {
      Deno.umask(old);
    }
  });
});

Deno.test("the target is replaced by a new file; its mode is kept when none is given", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/state.json`;
    await Deno.writeTextFile(path, "old content that is longer than the new one");
    await Deno.chmod(path, 0o640);
    const before = await Deno.stat(path);
    await writeFileAtomic(path, new TextEncoder().encode("new"));
    const after = await Deno.stat(path);
    assert.equal(await Deno.readTextFile(path), "new");
    assert.notEqual(after.ino, before.ino, "replaced by rename, not rewritten in place");
    assert.equal(after.mode! & 0o777, 0o640);
    assert.deepEqual(await names(dir), ["state.json"]);
  });
});

Deno.test("no temporary files are left, after success or failure", async () => {
  await withTempDir(async (dir) => {
    for (let i = 0; i < 5; i++) await writeFileAtomic(`${dir}/a.conf`, `v${i}`, { mode: 0o600 });
    assert.deepEqual(await names(dir), ["a.conf"]);
    // Renaming a file over a non-empty directory fails: the temp file must be cleaned up.
    await Deno.mkdir(`${dir}/sub`);
    await Deno.writeTextFile(`${dir}/sub/x`, "x");
    await assert.rejects(() => writeFileAtomic(`${dir}/sub`, "data"));
    assert.deepEqual(await names(dir), ["a.conf", "sub"]);
    assert.equal(await Deno.readTextFile(`${dir}/a.conf`), "v4");
    // A missing directory fails without creating anything.
    await assert.rejects(() => writeFileAtomic(`${dir}/missing/x`, "data"), Deno.errors.NotFound);
  });
});

Deno.test("concurrent writers in one process leave one whole file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/peers.json`;
    const len = 256 * 1024;
    await Promise.all(
      Array.from({ length: 16 }, (_, i) => writeFileAtomic(path, payload(65 + i, len))),
    );
    const data = await Deno.readFile(path);
    assert.ok(isWhole(data, len), "file is one writer's complete payload");
    assert.ok(data[0] >= 65 && data[0] < 65 + 16);
    assert.deepEqual(await names(dir), ["peers.json"]);
  });
});

Deno.test("concurrent writer processes: every read sees a whole file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/shared.bin`;
    const len = 512 * 1024;
    const rounds = 25;
    await writeFileAtomic(path, payload(1, len));
    const writers = [2, 3, 4].map((byte) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import { writeFileAtomic } from ${JSON.stringify(ATOMIC_URL)};
           const data = new Uint8Array(${len}).fill(${byte});
           for (let i = 0; i < ${rounds}; i++) await writeFileAtomic(${
            JSON.stringify(path)
          }, data, { mode: 0o600 });`,
        ],
        stdout: "null",
        stderr: "piped",
      }).spawn()
    );
    let done = false;
    const finished = Promise.all(writers.map((w) => w.output())).finally(() => done = true);
    let reads = 0;
    const seen = new Set<number>();
    while (!done) {
      const data = await Deno.readFile(path);
      assert.ok(isWhole(data, len), `torn read: ${data.length} bytes`);
      seen.add(data[0]);
      reads++;
    }
    for (const out of await finished) {
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    }
    const last = await Deno.readFile(path);
    assert.ok(isWhole(last, len) && [2, 3, 4].includes(last[0]));
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual(await names(dir), ["shared.bin"]);
    // The reader ran while the writers were replacing the file, not only before or after.
    assert.ok(seen.size >= 2 && reads > 1, `reads ${reads}, contents seen ${[...seen]}`);
  });
});

Deno.test("readJsonFile parses JSON and names the file when it is corrupt", async () => {
  await withTempDir(async (dir) => {
    const good = `${dir}/good.json`;
    await writeFileAtomic(good, JSON.stringify({ peers: [1, 2] }));
    assert.deepEqual(await readJsonFile(good), { peers: [1, 2] });

    const bad = `${dir}/bad.json`;
    await Deno.writeTextFile(bad, '{"peers": [1, 2');
    await assert.rejects(() => readJsonFile(bad), (err: unknown) => {
      assert.ok(err instanceof JsonFileError);
      assert.equal(err.path, bad);
      assert.ok(err.message.startsWith(`${bad}: invalid JSON (`), err.message);
      assert.ok(err.cause instanceof SyntaxError);
      return true;
    });

    await Deno.writeTextFile(bad, "");
    await assert.rejects(() => readJsonFile(bad), JsonFileError);
    await assert.rejects(() => readJsonFile(`${dir}/absent.json`), Deno.errors.NotFound);
  });
});
