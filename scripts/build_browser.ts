/**
 * `deno task browser`: bundles the browser entry (`lib/browser/mod.ts`) into one ES module,
 * `dist/weft.browser.js` (or the path given), minified, for a web page to import: a mesh member
 * over the leader's WebSocket (docs/browser.md). Built on demand, not committed: unlike the
 * dashboard, nothing the agent serves needs it, and it is a build product of the sources.
 *
 * The library runs on Deno; a few modules on the browser entry's path ask the platform for what a
 * page has not (FFI, node:crypto, a resolver, TCP, unref'd timers), each in one module so that the
 * build swaps that module alone for its browser twin in `lib/browser/platform/` ({@link
 * PLATFORM_SWAPS}, given to the bundler as an import map). Deno runs the originals: nothing changes
 * there. The build then fails when the bundle still names `Deno` or imports a `node:` module
 * ({@link platformReferences}), so a new dependency on the platform is caught here, not in a page.
 *
 * @example
 * ```sh
 * deno task browser                                  # dist/weft.browser.js
 * deno run -A scripts/build_browser.ts out/weft.js   # elsewhere
 * ```
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The browser entry, relative to the repository root. */
export const ENTRY = "lib/browser/mod.ts";
/** Where `deno task browser` writes the bundle, relative to the root. */
export const OUTPUT = "dist/weft.browser.js";

/**
 * What the browser build swaps, and for what (paths relative to the root; `node:` modules by
 * name). Each original is the one place its platform question is asked.
 */
export const PLATFORM_SWAPS: Readonly<Record<string, string>> = {
  // Deno.unrefTimer: a page has no process to keep alive.
  "lib/io/timers.ts": "lib/browser/platform/timers.ts",
  // Deno.connect for a service's tcp:// health check: no raw TCP in a page.
  "lib/io/tcp_probe.ts": "lib/browser/platform/tcp_probe.ts",
  // OpenSSL's BLAKE2s through FFI: no FFI in a page (@noble/hashes instead).
  "lib/crypto/openssl_blake2s.ts": "lib/browser/platform/openssl_blake2s.ts",
  // libsodium's XChaCha20-Poly1305 through FFI for cookie replies: @noble/ciphers instead.
  "lib/crypto/xchacha_sodium.ts": "lib/browser/platform/xchacha_sodium.ts",
  // node:crypto's Ed25519 for carried pushes: @noble/curves instead.
  "lib/crypto/ed25519.ts": "lib/browser/platform/ed25519.ts",
  // node:crypto's BLAKE2s: none in a page (@noble/hashes instead).
  "node:crypto": "lib/browser/platform/node_crypto.ts",
  // The system resolver: a page looks no name up.
  "node:dns/promises": "lib/browser/platform/node_dns.ts",
  // node:zlib's raw DEFLATE for the leader's packed views: fflate instead.
  "node:zlib": "lib/browser/platform/node_zlib.ts",
};

/** The import map that makes the swaps, for the repository at `root`. */
export function importMap(root: string): { imports: Record<string, string> } {
  const url = (p: string) => pathToFileURL(join(root, p)).href;
  const imports: Record<string, string> = {};
  for (const [from, to] of Object.entries(PLATFORM_SWAPS)) {
    imports[from.startsWith("node:") ? from : url(from)] = url(to);
  }
  return { imports };
}

/**
 * What in a bundle still needs Deno or Node: each `Deno` identifier and each `node:` import, with
 * a little context; empty when the bundle is fit for a page.
 */
export function platformReferences(js: string): string[] {
  const found: string[] = [];
  for (const re of [/\bDeno\b/g, /["'`]node:[\w/]+["'`]/g]) {
    for (const m of js.matchAll(re)) {
      found.push(js.slice(Math.max(0, m.index - 40), m.index + m[0].length + 40));
    }
  }
  return found;
}

/**
 * Bundles the browser entry of the repository at `root` into `out`; returns the bundle's text.
 * `swaps: false` leaves the platform modules as they are (what the check must catch).
 */
export async function buildBrowser(
  root: string,
  out: string,
  opts: { swaps?: boolean } = {},
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "weft-browser-" });
  try {
    const map = join(dir, "import_map.json");
    const swaps = opts.swaps === false ? { imports: {} } : importMap(root);
    await Deno.writeTextFile(map, JSON.stringify(swaps));
    const args = [
      "bundle",
      "--quiet",
      "--platform",
      "browser",
      "--format",
      "esm",
      "--minify",
      "--import-map",
      map,
      "-o",
      out,
      join(root, ENTRY),
    ];
    const res = await new Deno.Command(Deno.execPath(), { args, cwd: root, stdin: "null" })
      .output();
    const dec = new TextDecoder();
    if (!res.success) {
      throw new Error(
        `deno ${args.join(" ")} failed:\n${dec.decode(res.stderr)}${dec.decode(res.stdout)}`,
      );
    }
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const out = resolve(Deno.args[0] ?? join(ROOT, OUTPUT));
  await Deno.mkdir(dirname(out), { recursive: true });
  const js = await buildBrowser(ROOT, out);
  const refs = platformReferences(js);
  if (refs.length) {
    console.error(`${out} still needs Deno or Node:\n${refs.map((r) => `  …${r}…`).join("\n")}`);
    Deno.exit(1);
  }
  console.log(`${out}: ${js.length} bytes`);
}
