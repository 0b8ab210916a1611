import assert from "node:assert/strict";
import { join } from "node:path";
import { exists } from "./files.ts";
import { tempDirs } from "../../tests/fixtures/temp_dir.ts";

const inTempDir = tempDirs("weft-exists-");

Deno.test("exists: a file and a folder are there, a missing name is not", () =>
  inTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "f"), "x");
    assert.equal(await exists(dir), true);
    assert.equal(await exists(join(dir, "f")), true);
    assert.equal(await exists(join(dir, "missing")), false);
    assert.equal(await exists(join(dir, "missing"), { link: true }), false);
  }));

Deno.test("exists: a dangling link is there only when the link itself is asked about", () =>
  inTempDir(async (dir) => {
    await Deno.symlink(join(dir, "nowhere"), join(dir, "link"));
    assert.equal(await exists(join(dir, "link")), false);
    assert.equal(await exists(join(dir, "link"), { link: true }), true);
  }));

Deno.test("exists: an error other than not-found is thrown, not taken for no", () =>
  inTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "f"), "x");
    // A path through a file: ENOTDIR, which says nothing about whether the name is there.
    await assert.rejects(exists(join(dir, "f", "g")), (e) => !(e instanceof Deno.errors.NotFound));
  }));
