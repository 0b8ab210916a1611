import assert from "node:assert/strict";
import { join } from "node:path";
import { buildBrowser, importMap, PLATFORM_SWAPS, platformReferences } from "./build_browser.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("build_browser: the bundle is an ES module with no Deno and no node: import", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-browser-build-" });
  try {
    const js = await buildBrowser(ROOT, join(dir, "weft.browser.js"));
    assert.deepEqual(platformReferences(js), []);
    // What a page imports from it.
    const mod = await import(`file://${join(dir, "weft.browser.js")}`);
    assert.equal(typeof mod.joinMesh, "function");
    assert.equal(mod.WEBSOCKET_PATH, "/weft/ws");
    assert.equal(mod.WEBSOCKET_PROTOCOL, "weft.v1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build_browser: without the swaps the bundle needs Deno and Node, and the check says so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-browser-build-" });
  try {
    const js = await buildBrowser(ROOT, join(dir, "unswapped.js"), { swaps: false });
    const refs = platformReferences(js).join("\n");
    assert.match(refs, /Deno\.dlopen/, "OpenSSL through FFI");
    assert.match(refs, /Deno\.unrefTimer/);
    assert.match(refs, /"node:crypto"/);
    assert.match(refs, /"node:dns\/promises"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(platformReferences('import { x } from "node:crypto"; Deno.exit(1);').length, 2);
  assert.deepEqual(platformReferences("const DenoLike = 1;"), []);
});

Deno.test("build_browser: every swap names files that exist, under lib/browser/platform/", async () => {
  for (const [from, to] of Object.entries(PLATFORM_SWAPS)) {
    assert.match(to, /^lib\/browser\/platform\//);
    await Deno.stat(join(ROOT, to));
    if (!from.startsWith("node:")) await Deno.stat(join(ROOT, from));
  }
  const map = importMap("/r");
  assert.equal(
    map.imports["file:///r/lib/io/timers.ts"],
    "file:///r/lib/browser/platform/timers.ts",
  );
  assert.equal(map.imports["node:crypto"], "file:///r/lib/browser/platform/node_crypto.ts");
});
