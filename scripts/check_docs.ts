/**
 * The documentation check: runs `deno doc --lint` on every entry deno.json exports, each alone
 * (an entry must document itself: a type it refers to is one it exports, since a reader who
 * imports only `@weft/weft/dns` sees only that entry), and fails on any problem: an export
 * without JSDoc, a public type that refers to one the entry does not export, a missing explicit
 * return type. Then checks the examples: every TypeScript block of the Markdown docs
 * (README.md, CONTRIBUTING.md, docs/*.md) is marked `ts run` (a complete program, which
 * tests/docs/docs_test.ts runs) or `ts check: <reason>` (why it cannot run there), and so is
 * every JSDoc example JSR shows (of the entries' module docs and of every symbol they export,
 * wherever it is defined; tests/docs/jsdoc_test.ts runs them); those blocks and examples
 * type-check (`deno check --doc-only`, where `@weft/weft` is this package), so an example cannot
 * fall behind the API. Run by
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

/** Runs `deno doc --lint` on `entries` (paths relative to `root`) together; one entry: alone. */
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

/** What `deno doc --lint` said of one entry linted alone. */
export interface EntryLint extends DocLint {
  /** The entry, as deno.json exports it. */
  entry: string;
}

/** Runs `deno doc --lint` on each of `entries` alone, a few at a time. */
export async function lintEachAlone(
  root: string,
  entries: readonly string[],
): Promise<EntryLint[]> {
  const out: EntryLint[] = [];
  const queue = [...entries];
  const worker = async () => {
    for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
      out.push({ entry: e, ...await lintDocs(root, [e]) });
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return out.sort((a, b) => entries.indexOf(a.entry) - entries.indexOf(b.entry));
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

/** A JSDoc comment as `deno doc --json` gives it: its `@example` tags among its tags. */
interface JsDocJson {
  tags?: { kind: string; doc?: string }[];
}

/**
 * The code blocks of the JSDoc examples JSR shows for `entries` (paths relative to `root`, as
 * deno.json exports them): the examples of their module docs and of every symbol they export,
 * wherever it is defined, each once. A block's `file` is the file that holds it (relative to
 * `root`) and `line` the line of its opening fence there.
 */
export async function jsdocExamples(root: string, entries: readonly string[]): Promise<Block[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", ...entries],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`deno doc --json failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
  const doc = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    nodes: Record<string, { module_doc?: JsDocJson }>;
  };
  // Each example, with the file that holds it and the line it is near (0: the module's doc).
  const found: { url: string; near: number; text: string }[] = [];
  const examples = (d: JsDocJson | undefined) =>
    (d?.tags ?? []).filter((t) => t.kind === "example").map((t) => t.doc ?? "");
  for (const [url, node] of Object.entries(doc.nodes)) {
    for (const text of examples(node.module_doc)) found.push({ url, near: 0, text });
  }
  // Symbols, their members and their declarations: every object with a jsDoc and a location.
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (v === null || typeof v !== "object") return;
    const o = v as { jsDoc?: JsDocJson; location?: { filename: string; line: number } };
    if (o.location !== undefined) {
      for (const text of examples(o.jsDoc)) {
        found.push({ url: o.location.filename, near: o.location.line, text });
      }
    }
    for (const [k, child] of Object.entries(o)) if (k !== "jsDoc") walk(child);
  };
  walk(Object.values(doc.nodes).map((n) => (n as { symbols?: unknown }).symbols));
  const base = new URL(`file://${root.replace(/\/?$/, "/")}`).href;
  const blocks = new Map<string, Block>();
  const sources = new Map<string, string[]>();
  for (const { url, near, text } of found) {
    if (!url.startsWith(base)) continue;
    const file = url.slice(base.length);
    let lines = sources.get(file);
    if (lines === undefined) {
      // The comment's lines as deno doc gives them: without the leading ` * `.
      lines = Deno.readTextFileSync(`${root}/${file}`).split("\n")
        .map((l) => l.replace(/^\s*\*( |$)/, ""));
      sources.set(file, lines);
    }
    for (const b of fencedBlocks(file, text)) {
      const want = [text.split("\n")[b.line - 1], ...b.body.split("\n")];
      // The block's place in the file: the last match above the symbol (the first, for a module).
      let at = -1;
      for (let i = 0; i < lines.length; i++) {
        if (near > 0 && i + 1 > near) break;
        if (want.every((w, j) => lines[i + j]?.trimEnd() === w.trimEnd())) {
          at = i;
          if (near === 0) break;
        }
      }
      const block = { ...b, line: at >= 0 ? at + 1 : near };
      blocks.set(`${file}:${block.line}:${b.body}`, block);
    }
  }
  return [...blocks.values()].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}

/** The program blocks of the docs at `root` that are neither `ts run` nor `ts check: <reason>`. */
export function unmarkedExamples(root: string): string[] {
  return docFiles(root).flatMap((f) =>
    fencedBlocks(f, Deno.readTextFileSync(`${root}/${f}`))
      .filter((b) => exampleMark(b) === null)
      .map((b) => `${b.file}:${b.line}: \`\`\`${b.lang} ${b.info}`.trimEnd())
  );
}

/**
 * The program blocks among JSDoc `examples` that are neither `ts run` nor `ts check: <reason>`
 * (a block without a language counts as a program: deno takes it for one).
 */
export function unmarkedJsdocExamples(examples: readonly Block[]): string[] {
  return examples.filter((b) => b.lang === "" || exampleMark(b) === null)
    .map((b) => `${b.file}:${b.line}: \`\`\`${b.lang} ${b.info}`.trimEnd());
}

if (import.meta.main) {
  const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
  const entries = await exportPaths(root);
  const linted = await lintEachAlone(root, entries);
  const problems = linted.reduce((n, l) => n + l.problems, 0);
  if (problems > 0) {
    for (const l of linted) if (l.problems > 0) console.error(l.report);
    for (const l of linted) if (l.problems > 0) console.error(`${l.entry}: ${l.problems} problems`);
    console.error(
      `docs: ${problems} problems in the ${entries.length} exported entries, each alone`,
    );
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
  const examples = await jsdocExamples(root, entries);
  const unmarkedJsdoc = unmarkedJsdocExamples(examples);
  if (unmarkedJsdoc.length > 0) {
    console.error(unmarkedJsdoc.join("\n"));
    console.error(
      "docs: JSDoc examples must be `ts run` (a complete program, which tests/docs/jsdoc_test.ts " +
        "runs) or `ts check: <why it cannot run>`",
    );
    Deno.exit(1);
  }
  const docs = docFiles(root);
  // Each entry, and each file that holds an example of a symbol an entry exports.
  const sources = [...new Set([...entries, ...examples.map((b) => `./${b.file}`)])];
  const failed = await checkExamples(root, [...sources, ...docs]);
  if (failed !== null) {
    console.error(failed);
    console.error("docs: the examples (JSDoc of the exported entries, Markdown blocks) fail");
    Deno.exit(1);
  }
  console.error(
    `docs: the ${entries.length} exported entries pass deno doc --lint, each alone; their ${examples.length} ` +
      `JSDoc examples and the program blocks of the ${docs.length} Markdown files type-check`,
  );
}
