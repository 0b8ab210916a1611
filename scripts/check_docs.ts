/**
 * The documentation check: runs `deno doc --lint` on every entry deno.json exports, together, as
 * JSR documents the package (a type one entry uses may be exported by another), and fails on any
 * problem: an export without JSDoc, a public type that refers to one no entry exports, a missing
 * explicit return type. Then type-checks the code of their JSDoc examples
 * (`deno check --doc-only`), so an example cannot fall behind the API. Run by `deno task check`
 * and by its own test.
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

/** Type-checks the JSDoc examples of `entries`; the compiler's report when they fail, else null. */
export async function checkExamples(
  root: string,
  entries: readonly string[],
): Promise<string | null> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--doc-only", ...entries],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return out.success ? null : new TextDecoder().decode(out.stderr);
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
  const failed = await checkExamples(root, entries);
  if (failed !== null) {
    console.error(failed);
    console.error("docs: the examples of the exported entries do not type-check");
    Deno.exit(1);
  }
  console.error(
    `docs: the ${entries.length} exported entries pass deno doc --lint; their examples type-check`,
  );
}
