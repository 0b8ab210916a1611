/**
 * The documentation check: runs `deno doc --lint` on every entry deno.json exports, together, as
 * JSR documents the package (a type one entry uses may be exported by another), and fails on any
 * problem: an export without JSDoc, a public type that refers to one no entry exports, a missing
 * explicit return type. Then checks the examples: every TypeScript block of the Markdown docs
 * (README.md, CONTRIBUTING.md, docs/*.md) is marked `ts run` (a complete program, which
 * tests/docs/docs_test.ts runs) or `ts check: <reason>` (why it cannot run there), and those
 * blocks and the JSDoc examples of the entries type-check (`deno check --doc-only`, where
 * `@weft/weft` is this package), so an example cannot fall behind the API. Run by
 * `deno task check` and by its own test; the docs test reads the blocks with it.
 *
 * @example
 * ```sh
 * deno run -A scripts/check_docs.ts   # exit 1 and deno doc's report, if any problem
 * ```
 * @module
 */

import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The files deno.json at `root` exports, as given there (`./mod.ts`, `./lib/mesh/mod.ts`). */
export async function exportPaths(root: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${root}/deno.json`)) as {
    exports?: string | Record<string, string>;
  };
  if (typeof config.exports === "string") return [config.exports];
  return Object.values(config.exports ?? {});
}

/** What `deno doc --lint` said of some entries: how many problems, and its report. */
export interface DocLint {
  /** The number of problems (0 when clean). */
  problems: number;
  /** deno doc's report, uncoloured. */
  report: string;
}

/** Runs `deno doc --lint` on `entries` (paths relative to `root`) together. */
export async function lintDocs(root: string, entries: readonly string[]): Promise<DocLint> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", ...entries],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const report = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  const problems = [...report.matchAll(/^error\[[a-z-]+\]/gm)].length;
  if (!out.success && problems === 0) throw new Error(`deno doc --lint failed:\n${report}`);
  return { problems, report };
}

/**
 * Type-checks the examples of `files` (paths relative to `root`): the JSDoc examples of modules,
 * the code blocks of Markdown files. The compiler's report when they fail, else null.
 */
export async function checkExamples(
  root: string,
  files: readonly string[],
): Promise<string | null> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--doc-only", ...files],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return out.success ? null : new TextDecoder().decode(out.stderr);
}

/** The Markdown files whose code blocks are documentation, relative to `root`, sorted. */
export function docFiles(root: string): string[] {
  const files = ["README.md", "CONTRIBUTING.md"];
  for (const e of Deno.readDirSync(`${root}/docs`)) {
    if (e.isFile && e.name.endsWith(".md")) files.push(`docs/${e.name}`);
  }
  return files.sort();
}

/** A fenced code block of a Markdown file. */
export interface Block {
  /** The file, as given to {@link fencedBlocks}. */
  file: string;
  /** The 1-based line of the opening fence. */
  line: number;
  /** The language: the info string's first word. */
  lang: string;
  /** The info string after the language, trimmed. */
  info: string;
  /** The lines between the fences. */
  body: string;
}

/** The fenced code blocks of a Markdown text (``` or ~~~ fences, indented up to 3 spaces). */
export function fencedBlocks(file: string, text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)\s*(.*)$/.exec(lines[i]);
    if (open === null) continue;
    const fence = open[1];
    const body: string[] = [];
    let j = i + 1;
    while (
      j < lines.length && !new RegExp(`^ {0,3}${fence[0]}{${fence.length},}\\s*$`).test(lines[j])
    ) {
      body.push(lines[j]);
      j++;
    }
    blocks.push({ file, line: i + 1, lang: open[2], info: open[3].trim(), body: body.join("\n") });
    i = j;
  }
  return blocks;
}

/** The languages of program blocks: each must be a `ts` block marked run or check. */
const SCRIPT_LANGS = new Set(["ts", "typescript", "tsx", "mts", "js", "javascript", "jsx", "mjs"]);

/** What a program block's mark says: run it, or only type-check it and why. */
export type ExampleMark = { run: true } | { run: false; reason: string };

/**
 * The mark of a block: `ts run` or `ts check: <reason>`; null for a program block marked
 * otherwise (or in another language than `ts`), undefined for a block that is no program.
 */
export function exampleMark(b: Block): ExampleMark | null | undefined {
  if (!SCRIPT_LANGS.has(b.lang)) return undefined;
  if (b.lang !== "ts") return null;
  if (b.info === "run") return { run: true };
  const m = /^check:\s*(\S.*)$/.exec(b.info);
  return m === null ? null : { run: false, reason: m[1] };
}

/** The program blocks of the docs at `root` that are neither `ts run` nor `ts check: <reason>`. */
export function unmarkedExamples(root: string): string[] {
  return docFiles(root).flatMap((f) =>
    fencedBlocks(f, Deno.readTextFileSync(`${root}/${f}`))
      .filter((b) => exampleMark(b) === null)
      .map((b) => `${b.file}:${b.line}: \`\`\`${b.lang} ${b.info}`.trimEnd())
  );
}

if (import.meta.main) {
  const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
  const entries = await exportPaths(root);
  const { problems, report } = await lintDocs(root, entries);
  if (problems > 0) {
    console.error(report);
    console.error(`docs: ${problems} problems in the ${entries.length} exported entries`);
    Deno.exit(1);
  }
  const unmarked = unmarkedExamples(root);
  if (unmarked.length > 0) {
    console.error(unmarked.join("\n"));
    console.error(
      "docs: program blocks must be `ts run` (a complete program the docs test runs) or " +
        "`ts check: <why it cannot run>` (CONTRIBUTING.md, The docs test)",
    );
    Deno.exit(1);
  }
  const docs = docFiles(root);
  const failed = await checkExamples(root, [...entries, ...docs]);
  if (failed !== null) {
    console.error(failed);
    console.error("docs: the examples (JSDoc of the exported entries, Markdown blocks) fail");
    Deno.exit(1);
  }
  console.error(
    `docs: the ${entries.length} exported entries pass deno doc --lint; their examples and the ` +
      `program blocks of the ${docs.length} Markdown files type-check`,
  );
}
