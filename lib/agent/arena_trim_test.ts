import assert from "node:assert/strict";
import { ArenaTrim, glibcArenaCalls, startArenaTrim, TRIM_FREE_BYTES } from "./arena_trim.ts";

Deno.test("arena trim: trims once the arenas hold TRIM_FREE_BYTES free, not below", () => {
  let free = 0;
  let trims = 0;
  const t = new ArenaTrim({ free: () => free, trim: () => void trims++ });
  assert.equal(t.check(), false);
  free = TRIM_FREE_BYTES - 1;
  assert.equal(t.check(), false);
  assert.equal(trims, 0);
  free = TRIM_FREE_BYTES;
  assert.equal(t.check(), true);
  assert.equal(trims, 1);
  assert.equal(t.trims, 1);
});

Deno.test("arena trim: after a trim, only what is freed since counts (a trim leaves its chunks free)", () => {
  let free = 100 * 1024 * 1024;
  let trims = 0;
  const t = new ArenaTrim({ free: () => free, trim: () => void trims++ });
  assert.equal(t.check(), true);
  // The same free count again: the pages went back already.
  assert.equal(t.check(), false);
  free += TRIM_FREE_BYTES - 1;
  assert.equal(t.check(), false);
  // Used again (the floor falls with it), then freed: that is news.
  free = 60 * 1024 * 1024;
  assert.equal(t.check(), false);
  free = 60 * 1024 * 1024 + TRIM_FREE_BYTES;
  assert.equal(t.check(), true);
  assert.equal(trims, 2);
});

/** The process's resident memory now, bytes. */
function rss(): number {
  const m = Deno.readTextFileSync("/proc/self/status").match(/VmRSS:\s+(\d+) kB/);
  return Number(m![1]) * 1024;
}

Deno.test({
  name:
    "arena trim: glibc's calls count chunks freed below one in use, and trimming gives their pages back",
  ignore: glibcArenaCalls() === null,
  fn() {
    const c = glibcArenaCalls()!;
    const libc = Deno.dlopen(
      "libc.so.6",
      {
        malloc: { parameters: ["usize"], result: "pointer" },
        realloc: { parameters: ["pointer", "usize"], result: "pointer" },
        free: { parameters: ["pointer"], result: "void" },
      } as const,
    );
    try {
      // 64 MiB in chunks under malloc's mmap threshold, each then shrunk in place to its first
      // 64 bytes: the freed tail lies right below a chunk still in use (its own head), so it
      // cannot go back from the arena's top, as a leader's freed buffers cannot. (Small chunks
      // malloc'd after each big one do not do it: in a process that ran other tests they come
      // from malloc's bins, anywhere, and the big chunks, freed, merged into the top and went.)
      const kept: Deno.PointerValue[] = [];
      for (let i = 0; i < 1024; i++) {
        const p = libc.symbols.malloc(64n * 1024n + 64n);
        assert.ok(p !== null);
        new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, 64 * 1024 + 64)).fill(1); // resident
        kept.push(p);
      }
      const before = c.free();
      for (const p of kept) {
        // glibc shrinks a chunk in place (the same address back) and frees the rest.
        assert.equal(
          Deno.UnsafePointer.value(libc.symbols.realloc(p, 64n)),
          Deno.UnsafePointer.value(p),
        );
      }
      assert.ok(
        c.free() - before >= 60 * 1024 * 1024,
        `free grew by ${c.free() - before} bytes`,
      );
      const resident = rss();
      c.trim();
      const back = resident - rss();
      assert.ok(back >= 32 * 1024 * 1024, `trimming gave back ${back} bytes`);
      for (const p of kept) libc.symbols.free(p);
    } finally {
      libc.close();
    }
  },
});

Deno.test("arena trim: one per process, stopped when its last user stops", () => {
  const a = startArenaTrim();
  const b = startArenaTrim();
  a();
  a(); // twice is once
  b();
  // Nothing left running: the test's sanitizer finds no interval behind.
});
