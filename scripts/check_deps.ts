/**
 * The dependency check: every import of a package names it in full (`npm:hono@^4.13.19/...`), and
 * every file names the same version range for the same package. weft has no import map: a bare
 * specifier (`"hono"`) resolves only inside this repository, so a program that imports weft's
 * `mod.ts` by path or URL, or from JSR, would fail on it; and with the ranges written in each file,
 * this check is what keeps them one. `@weft/weft` (the package's own name) is allowed in doc
 * comments, where examples show what a user writes. Run by `deno task check` and by its own test.
 *
 * @example
 * ```sh
 * deno run -A scripts/check_deps.ts   # exit 1 and the problems, if any
 * ```
 * @module
 */

import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The folders scanned (with `mod.ts` and `main.ts`); every `.ts` file under them. */
export const SCANNED = ["lib", "drivers", "cli", "scripts", "tests"] as const;

// Specifiers that name where the module is: relative or absolute paths and URLs with a scheme.
const FULL = /^(\.{1,2}\/|\/|(node|npm|jsr|https?|file|data):)/;
// `import ... from "x"`, `export ... from "x"` (the clause may span lines) and `import "x"`, at the
// start of a line or of a doc-comment line; a dynamic import anywhere.
const STATIC =
  /^[ \t]*(\*[ \t]*)?(?:(?:import|export)\b[\w$\s,{}*]*?(?<![.\w$])from|import)[ \t]*(["'])([^"'\n]+)\2/gm;
const DYNAMIC = /\bimport\(\s*(["'])([^"'\n]+)\1\s*\)/g;
// The package of an `npm:` or `jsr:` specifier and its version range, if any.
const PACKAGE = /^(npm|jsr):\/?((?:@[\w.-]+\/)?[\w.-]+)(?:@([^/]+))?/;

/** One import specifier in a file. */
export interface Specifier {
  /** 1-based line number. */
  line: number;
  /** The specifier as written. */
  specifier: string;
  /** In a doc comment (a line starting with `*`): an example, not code. */
  inComment: boolean;
}

/** The import specifiers written in `text` (template-literal ones, with `${`, left out). */
export function specifiers(text: string): Specifier[] {
  const lineOf = (i: number) => text.slice(0, i).split("\n").length;
  const out: Specifier[] = [];
  for (const m of text.matchAll(STATIC)) {
    const at = m.index + m[0].lastIndexOf(m[3]);
    out.push({ line: lineOf(at), specifier: m[3], inComment: m[1] !== undefined });
  }
  for (const m of text.matchAll(DYNAMIC)) {
    const start = text.lastIndexOf("\n", m.index) + 1;
    const inComment = /^[ \t]*\*/.test(text.slice(start, m.index));
    out.push({ line: lineOf(m.index), specifier: m[2], inComment });
  }
  return out.filter((s) => !s.specifier.includes("${"));
}

/**
 * Every problem in `files` (path to text), as lines: bare specifiers, packages without a version
 * range, and packages named with more than one range.
 */
export function checkDeps(files: ReadonlyMap<string, string>, ownName: string): string[] {
  const problems: string[] = [];
  const ranges = new Map<string, Map<string, string>>(); // package -> range -> first place
  for (const [path, text] of files) {
    for (const s of specifiers(text)) {
      const own = s.specifier === ownName || s.specifier.startsWith(`${ownName}/`);
      if (!FULL.test(s.specifier)) {
        if (own && s.inComment) continue;
        problems.push(
          `${path}:${s.line}: bare specifier "${s.specifier}": write it in full ` +
            `(npm:<package>@<range>/<path>, or a relative path)`,
        );
        continue;
      }
      const m = PACKAGE.exec(s.specifier);
      if (m === null) continue;
      const [, scheme, name, range] = m;
      if (range === undefined) {
        problems.push(`${path}:${s.line}: ${scheme}:${name} has no version range`);
        continue;
      }
      const key = `${scheme}:${name}`;
      const seen = ranges.get(key) ?? new Map<string, string>();
      ranges.set(key, seen);
      if (!seen.has(range)) seen.set(range, `${path}:${s.line}`);
    }
  }
  for (const [key, seen] of ranges) {
    if (seen.size < 2) continue;
    const list = [...seen].map(([range, where]) => `${range} (${where})`).join(", ");
    problems.push(`${key} is named with ${seen.size} version ranges: ${list}`);
  }
  return problems;
}

/** The scanned files of the repository at `root`, by relative path. */
export async function projectFiles(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const add = async (path: string) =>
    files.set(relative(root, path), await Deno.readTextFile(path));
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory && e.name !== "node_modules") await walk(path);
      else if (e.isFile && e.name.endsWith(".ts")) await add(path);
    }
  };
  await add(`${root}/mod.ts`);
  await add(`${root}/main.ts`);
  for (const dir of SCANNED) await walk(`${root}/${dir}`);
  return files;
}

if (import.meta.main) {
  const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
  const name = JSON.parse(await Deno.readTextFile(`${root}/deno.json`)).name as string;
  const files = await projectFiles(root);
  const problems = checkDeps(files, name);
  for (const p of problems) console.error(p);
  if (problems.length) Deno.exit(1);
  console.error(`deps: ${files.size} files name their packages in full, one version range each`);
}
