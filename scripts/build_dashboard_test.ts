import assert from "node:assert/strict";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { assemble, build, OUTPUT, recorded, SOURCE_DIR, staleness } from "./build_dashboard.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** A copy of what the build reads and writes, in a temp root of its own. */
async function copyRoot(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "weft-dashboard-build-" });
  await Deno.mkdir(join(root, SOURCE_DIR), { recursive: true });
  await Deno.mkdir(join(root, "scripts"));
  await Deno.copyFile(
    join(ROOT, "scripts/build_dashboard.ts"),
    join(root, "scripts/build_dashboard.ts"),
  );
  for await (const e of Deno.readDir(join(ROOT, SOURCE_DIR))) {
    if (e.isFile) {
      await Deno.copyFile(join(ROOT, SOURCE_DIR, e.name), join(root, SOURCE_DIR, e.name));
    }
  }
  await Deno.copyFile(join(ROOT, OUTPUT), join(root, OUTPUT));
  return root;
}

async function edit(path: string, fn: (text: string) => string): Promise<void> {
  const text = await Deno.readTextFile(path);
  const next = fn(text);
  assert.notEqual(next, text, `the edit changes ${path}`);
  await Deno.writeTextFile(path, next);
}

Deno.test("dashboard build: the committed page is the one its sources build", async () => {
  assert.deepEqual(await staleness(ROOT), []);
});

Deno.test("dashboard build: a changed source or a hand-edited page is reported", async () => {
  const root = await copyRoot();
  try {
    assert.deepEqual(await staleness(root), [], "the copy is fresh");
    const css = join(root, SOURCE_DIR, "style.css");
    const before = await Deno.readTextFile(css);
    await edit(css, (t) => t.replace("--up: #1f9d55;", "--up: #00ff00;"));
    assert.match((await staleness(root)).join("\n"), /is stale/);
    await Deno.writeTextFile(css, before);
    // A new source file counts too.
    await Deno.writeTextFile(join(root, SOURCE_DIR, "extra.ts"), "export const x = 1;\n");
    assert.match((await staleness(root)).join("\n"), /is stale/);
    await Deno.remove(join(root, SOURCE_DIR, "extra.ts"));
    // Its tests do not: they are not part of the page.
    await Deno.writeTextFile(join(root, SOURCE_DIR, "extra_test.ts"), "\n");
    assert.deepEqual(await staleness(root), []);
    await edit(
      join(root, OUTPUT),
      (t) => t.replace("<title>weft mesh</title>", "<title>x</title>"),
    );
    assert.match((await staleness(root)).join("\n"), /edited by hand/);
    await edit(join(root, OUTPUT), (t) => t.replace(/^\/\/ page sha256: .*\n/m, ""));
    assert.match((await staleness(root)).join("\n"), /records no digests/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("dashboard build: rebuilds the page after a change, stylesheet and script inline", async () => {
  const root = await copyRoot();
  try {
    await edit(
      join(root, SOURCE_DIR, "style.css"),
      (t) => t.replace("--up: #1f9d55;", "--up: #00ff00;"),
    );
    await edit(
      join(root, SOURCE_DIR, "format.ts"),
      (t) => t.replace('return "never";', 'return "not yet";'),
    );
    await build(root);
    assert.deepEqual(await staleness(root), []);
    const text = await Deno.readTextFile(join(root, OUTPUT));
    assert.ok(recorded(text));
    const { DASHBOARD_HTML: html } = await import(`${join(root, OUTPUT)}?${Date.now()}`);
    assert.match(html, /<style>\n[^<]*--up: #00ff00;[\s\S]*<\/style>/);
    assert.match(
      html,
      /<script>\n"use strict";\n\(\(\) => \{[\s\S]*"not yet"[\s\S]*\}\)\(\);\n<\/script>/,
    );
    assert.doesNotMatch(html, /\bimport\b.*\bfrom\b/, "the modules are bundled");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("dashboard build: a script or style that would end its element early is refused", () => {
  const page = "<head><style></style></head><body><script></script></body>";
  assert.equal(
    assemble(page, "a{}\n", "go();\n"),
    '<head><style>\na{}\n</style></head><body><script>\n"use strict";\ngo();\n</script></body>',
  );
  assert.throws(() => assemble(page, "a{}", 'x("</script>")'), /<\/script/);
  assert.throws(() => assemble(page, "</STYLE>", ""), /<\/style/);
  assert.throws(
    () => assemble("<style></style><script></script><script></script>", "", ""),
    /one empty/,
  );
  assert.throws(() => assemble("<script></script>", "", ""), /one empty <style>/);
});
