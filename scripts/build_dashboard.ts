/**
 * `deno task dashboard`: builds the dashboard page from its sources in `lib/status/dashboard/`
 * (`page.html`, `style.css` and the TypeScript modules, `main.ts` the entry) into one HTML
 * document with the stylesheet and the bundled script inline, and writes it as a string constant
 * to `lib/status/dashboard_page.ts`, which is committed. The agent serves that constant: one
 * `deno compile`d binary, or the library imported by URL, needs no build step and no file beside
 * it, and the page needs nothing from anywhere else.
 *
 * The generated file records a digest of the sources it was built from and one of the page. With
 * `--check` (run by `deno task check`, and by this script's test) it fails when the sources have
 * changed since (a stale page), when the page is not what was built (an edit by hand), or when the
 * browser modules do not type-check against the DOM. Digests, not a second build compared byte
 * for byte, because the bundler's output may differ between Deno versions.
 *
 * @example
 * ```sh
 * deno task dashboard                          # rebuild lib/status/dashboard_page.ts
 * deno run -A scripts/build_dashboard.ts --check   # exit 1 when it is stale
 * ```
 * @module
 */

import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The folder of the page's sources, relative to the repository root. */
export const SOURCE_DIR = "lib/status/dashboard";
/** The generated module, relative to the repository root. */
export const OUTPUT = "lib/status/dashboard_page.ts";
/** This script, relative to the repository root: a change to how the page is built is a change. */
const BUILDER = "scripts/build_dashboard.ts";

/** The files a build reads, relative to the root, sorted: the sources (not tests) and this script. */
export async function sourceFiles(root: string): Promise<string[]> {
  const files = [BUILDER];
  for await (const e of Deno.readDir(join(root, SOURCE_DIR))) {
    if (e.isFile && !e.name.endsWith("_test.ts")) files.push(`${SOURCE_DIR}/${e.name}`);
  }
  return files.sort();
}

async function sha256(data: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(data));
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The digest of the sources: each file's path and text (line ends as LF, so that a checkout with
 * CRLF agrees).
 */
export async function sourcesDigest(root: string): Promise<string> {
  const parts: string[] = [];
  for (const f of await sourceFiles(root)) {
    const text = (await Deno.readTextFile(join(root, f))).replaceAll("\r\n", "\n");
    parts.push(`${f}\n${text.length}\n${text}`);
  }
  return await sha256(parts.join("\n"));
}

/** The digest of a built page. */
export function pageDigest(html: string): Promise<string> {
  return sha256(html);
}

async function run(root: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args, cwd: root, stdin: "null" }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`deno ${args.join(" ")} failed:\n${text}`);
  return text;
}

/** Type-checks the browser modules (each names the DOM library it runs against). */
export async function checkSources(root: string): Promise<void> {
  await run(root, ["check", "--quiet", SOURCE_DIR]);
}

/** Bundles `main.ts` and what it imports into one script for the browser, type-checked. */
async function bundle(root: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "weft-dashboard-" });
  try {
    const out = join(dir, "page.js");
    await run(root, [
      "bundle",
      "--quiet",
      "--check",
      "--platform",
      "browser",
      "--format",
      "iife",
      "-o",
      out,
      `${SOURCE_DIR}/main.ts`,
    ]);
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Puts the stylesheet and the script into the page's empty `<style>` and `<script>` elements. */
export function assemble(html: string, css: string, js: string): string {
  // Inline text ends at the first closing tag: neither may hold one.
  if (/<\/style/i.test(css)) throw new Error("style.css holds </style");
  if (/<\/script/i.test(js)) throw new Error("the bundled script holds </script");
  const fill = (page: string, tag: string, text: string) => {
    const empty = `<${tag}></${tag}>`;
    const at = page.indexOf(empty);
    if (at < 0 || page.indexOf(empty, at + 1) >= 0) {
      throw new Error(`page.html must hold exactly one empty ${empty}`);
    }
    return page.slice(0, at) + `<${tag}>\n${text}</${tag}>` + page.slice(at + empty.length);
  };
  // The page's script ran in strict mode; a bundle of modules says so itself.
  return fill(fill(html, "style", css), "script", `"use strict";\n${js}`);
}

/** The generated module's text for a page built from sources with this digest. */
export async function generated(html: string, sources: string): Promise<string> {
  return `// Generated by ${BUILDER} from ${SOURCE_DIR}/: do not edit. Edit those and run
// \`deno task dashboard\`; \`deno task check\` fails while this file is stale.
// sources sha256: ${sources}
// page sha256: ${await pageDigest(html)}
/**
 * The dashboard page: one HTML document with inline CSS and JS and no external assets, built from
 * \`${SOURCE_DIR}/\` (see \`main.ts\` there for what the page does).
 * @module
 */

/** The dashboard's HTML. */
export const DASHBOARD_HTML: string = ${JSON.stringify(html)};
`;
}

/** Builds the page from the sources under `root` and writes the generated module. */
export async function build(root: string): Promise<void> {
  const src = join(root, SOURCE_DIR);
  const html = assemble(
    await Deno.readTextFile(join(src, "page.html")),
    await Deno.readTextFile(join(src, "style.css")),
    await bundle(root),
  );
  const out = join(root, OUTPUT);
  await Deno.writeTextFile(out, await generated(html, await sourcesDigest(root)));
  await run(root, ["fmt", "--quiet", OUTPUT]);
}

/** The digests a generated module records, or null when it records none. */
export function recorded(text: string): { sources: string; page: string } | null {
  const sources = /^\/\/ sources sha256: ([0-9a-f]{64})$/m.exec(text)?.[1];
  const page = /^\/\/ page sha256: ([0-9a-f]{64})$/m.exec(text)?.[1];
  return sources && page ? { sources, page } : null;
}

/** What is wrong with the generated module under `root`: empty when it is fresh. */
export async function staleness(root: string): Promise<string[]> {
  const out = join(root, OUTPUT);
  const rec = recorded(await Deno.readTextFile(out));
  if (!rec) return [`${OUTPUT} records no digests: run deno task dashboard`];
  const problems: string[] = [];
  if (rec.sources !== await sourcesDigest(root)) {
    problems.push(`${OUTPUT} is stale: ${SOURCE_DIR}/ changed since; run deno task dashboard`);
  }
  const { DASHBOARD_HTML } = await import(`${pathToFileURL(out).href}?${Date.now()}`);
  if (rec.page !== await pageDigest(DASHBOARD_HTML)) {
    problems.push(`${OUTPUT} was edited by hand: run deno task dashboard`);
  }
  return problems;
}

if (import.meta.main) {
  try {
    if (Deno.args.includes("--check")) {
      await checkSources(ROOT);
      const problems = await staleness(ROOT);
      for (const p of problems) console.error(p);
      if (problems.length) Deno.exit(1);
    } else {
      await build(ROOT);
      console.log(`wrote ${relative(Deno.cwd(), join(ROOT, OUTPUT))}`);
    }
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(1);
  }
}
