import assert from "node:assert/strict";
import { findExecutable } from "./commands.ts";

Deno.test("findExecutable: the first executable file of that name along the path", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-cmds-" });
  try {
    for (const d of ["a", "b", "c"]) await Deno.mkdir(`${dir}/${d}`);
    // a: a file that cannot be run, b: a directory of the name, c: the program.
    await Deno.writeTextFile(`${dir}/a/tool`, "");
    await Deno.chmod(`${dir}/a/tool`, 0o644);
    await Deno.mkdir(`${dir}/b/tool`);
    await Deno.writeTextFile(`${dir}/c/tool`, "#!/bin/sh\n");
    await Deno.chmod(`${dir}/c/tool`, 0o755);
    const path = `${dir}/missing::${dir}/a:${dir}/b:${dir}/c`;
    assert.equal(findExecutable("tool", path), `${dir}/c/tool`);
    assert.equal(findExecutable("other", path), null);
    assert.equal(findExecutable("tool", ""), null);
    // Executable by anyone counts (the owner's bit, or only the group's or others').
    await Deno.chmod(`${dir}/a/tool`, 0o601);
    assert.equal(findExecutable("tool", path), `${dir}/a/tool`);
    // A name with a slash is a path: checked, not searched.
    assert.equal(findExecutable(`${dir}/c/tool`, "/nonexistent"), `${dir}/c/tool`);
    assert.equal(findExecutable("c/tool", dir), null, "not searched along the path");
    assert.equal(findExecutable(`${dir}/b/tool`), null, "a directory is not a program");
    // A symlink to the program is found by its own name.
    await Deno.symlink(`${dir}/c/tool`, `${dir}/b/link`);
    assert.equal(findExecutable("link", `${dir}/b`), `${dir}/b/link`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findExecutable: $PATH by default", () => {
  const sh = findExecutable("sh");
  if (Deno.build.os !== "linux") return;
  assert.ok(sh !== null && sh.endsWith("/sh"), String(sh));
  const fromEnv = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
  assert.ok(fromEnv.some((d) => `${d}/sh` === sh), `${sh} is on $PATH`);
  assert.equal(findExecutable("weft-no-such-program-xyz"), null);
});
