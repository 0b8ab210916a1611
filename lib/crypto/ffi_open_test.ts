import assert from "node:assert/strict";
import { openFirstLibrary } from "./ffi_open.ts";

const SYMBOLS = { getpid: { parameters: [], result: "i32" } } as const;

Deno.test({
  name: "openFirstLibrary: skips missing files and libraries that fail the check",
  ignore: Deno.build.os !== "linux",
  fn() {
    const tried: number[] = [];
    assert.equal(openFirstLibrary(["libnothing-here.so.9"], SYMBOLS, () => true), null);
    assert.equal(
      openFirstLibrary(["libc.so.6"], SYMBOLS, (l) => (tried.push(l.symbols.getpid()), false)),
      null,
    );
    assert.deepEqual(tried, [Deno.pid]);
    const lib = openFirstLibrary(["libnothing-here.so.9", "libc.so.6"], SYMBOLS, () => true);
    assert.notEqual(lib, null);
    assert.equal(lib!.symbols.getpid(), Deno.pid);
    lib!.close();
  },
});
