/**
 * The docs are tested: every fenced `sh` block in README.md, CONTRIBUTING.md and docs/*.md is
 * either runnable (info string `sh test`) or says why not (`sh no-test: <reason>`), and the
 * runnable ones are run, in order, one shell session per file, as a reader would type them
 * (CONTRIBUTING.md, "The docs test", says how to write them):
 *
 * - in a fresh temporary directory, with a `weft` on PATH that runs this checkout's `main.ts`
 *   with the flags `deno task start` uses, and HOME and XDG_STATE_HOME in that directory;
 * - in a network namespace of their own (`unshare --net --pid`): only a loopback interface, so the
 *   blocks may use weft's default ports, nothing they start can reach beyond 127.0.0.0/8, and
 *   nothing another test runs at the same time can take their ports. Without the right to make one
 *   (neither root nor unprivileged user namespaces) the run is skipped, saying so;
 * - with `set -euo pipefail`: the first command that fails fails the test, which prints the
 *   session's output and the block it was in;
 * - every process a file's blocks start (agents started with `&`) is killed when the file is done,
 *   or fails, or times out: the session is a process group and the namespace's init.
 *
 * Every TypeScript block is a program: `ts run` blocks are complete programs, each run by itself
 * (`deno run -A`, in a fresh directory whose deno.json maps `@weft/weft` to this checkout, in a
 * network namespace of its own); each must end by itself and print exactly the lines its
 * `// prints: <line>` comments give (`...` stands for any text). `ts check: <reason>` blocks
 * cannot run here (root, a TUN, a second machine) and say why. All of them type-check
 * (scripts/check_docs.ts, which `deno task check` runs too, holds that check and the marks).
 * The configuration reference's option table is checked against the options the code defines.
 */
import assert from "node:assert/strict";
import { optionHelp } from "../../lib/config/agent_config.ts";
import {
  type Block,
  checkExamples,
  docFiles,
  exampleMark,
  fencedBlocks,
  unmarkedExamples,
} from "../../scripts/check_docs.ts";
import {
  canUnshare,
  denoDir,
  expectedPrints,
  outputProblem,
  packageImports,
  printedAs,
  ROOT_PATH,
  runProgram,
  unshareArgs,
} from "./programs.ts";

const ROOT = new URL("../../", import.meta.url);
/** A file's runnable blocks must all be done in this time. */
const FILE_TIMEOUT_MS = 300_000;

const SHELLS = new Set(["sh", "bash", "shell", "console", "zsh"]);

/** What a shell block's info string says: run it, or not and why; null when it says neither. */
function shellMark(b: Block): { run: true } | { run: false; reason: string } | null {
  if (b.lang !== "sh") return null;
  if (b.info === "test") return { run: true };
  const m = /^no-test:\s*(\S.*)$/.exec(b.info);
  return m === null ? null : { run: false, reason: m[1] };
}

const blocks = docFiles(ROOT_PATH).flatMap((f) =>
  fencedBlocks(f, Deno.readTextFileSync(new URL(f, ROOT)))
);

Deno.test("docs: every shell block is `sh test` or `sh no-test: <reason>`", () => {
  const bad = blocks.filter((b) => SHELLS.has(b.lang) && shellMark(b) === null)
    .map((b) => `${b.file}:${b.line}: \`\`\`${b.lang} ${b.info}`);
  assert.deepEqual(bad, [], "unmarked shell blocks (see CONTRIBUTING.md, The docs test)");
  assert.ok(blocks.some((b) => shellMark(b)?.run === true), "some runnable blocks");
  const bare = blocks.filter((b) => b.lang === "").map((b) => `${b.file}:${b.line}`);
  assert.deepEqual(bare, [], "code blocks without a language (use text for plain text)");
});

Deno.test("docs: every program block is `ts run` or `ts check: <reason>`", () => {
  assert.deepEqual(
    unmarkedExamples(ROOT_PATH),
    [],
    "unmarked program blocks (see CONTRIBUTING.md, The docs test)",
  );
  const run = blocks.filter((b) => exampleMark(b)?.run === true);
  assert.ok(run.some((b) => b.file === "README.md"), "the README has a program that runs");
  const silent = run.filter((b) => expectedPrints(b.body).length === 0)
    .map((b) => `${b.file}:${b.line}`);
  assert.deepEqual(silent, [], "`ts run` blocks that do not say what they print (// prints: ...)");
});

Deno.test("docs: a program block is run, or checked for a stated reason, or refused", () => {
  const text = [
    "```ts run",
    "```",
    "```ts check: needs root and a TUN",
    "```",
    "```ts check",
    "```",
    "```ts",
    "```",
    "```typescript run",
    "```",
    "```sh test",
    "```",
  ].join("\n");
  assert.deepEqual(fencedBlocks("x.md", text).map(exampleMark), [
    { run: true },
    { run: false, reason: "needs root and a TUN" },
    null,
    null,
    null,
    undefined,
  ]);
});

/** The design notes (docs/design/*.md), which docFiles leaves out: not user docs. */
function designNotes(): string[] {
  const design = [...Deno.readDirSync(`${ROOT_PATH}/docs/design`)]
    .filter((e) => e.isFile && e.name.endsWith(".md")).map((e) => `docs/design/${e.name}`);
  assert.ok(design.length > 0, "docs/design/ has no notes: the test would check nothing there");
  return design;
}

Deno.test("docs: no issue numbers in the user docs and the design notes", () => {
  const hits: string[] = [];
  for (
    const f of [...docFiles(ROOT_PATH).filter((f) => f !== "CONTRIBUTING.md"), ...designNotes()]
  ) {
    const lines = Deno.readTextFileSync(new URL(f, ROOT)).split("\n");
    lines.forEach((l, i) => {
      if (/\bissues? #?\d+|(^|[\s(])#\d+\b/i.test(l)) hits.push(`${f}:${i + 1}: ${l.trim()}`);
    });
  }
  assert.deepEqual(hits, []);
});

/** The anchors GitHub gives a Markdown file's headings. */
function anchors(text: string): Set<string> {
  const out = new Set<string>();
  let fence = false;
  for (const line of text.split("\n")) {
    if (/^ {0,3}(`{3,}|~{3,})/.test(line)) fence = !fence;
    const h = fence ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (h) {
      out.add(h[1].trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-"));
    }
  }
  return out;
}

Deno.test("docs: relative links point at files and headings that exist", () => {
  const missing: string[] = [];
  for (const f of [...docFiles(ROOT_PATH), ...designNotes()]) {
    const text = Deno.readTextFileSync(new URL(f, ROOT));
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(m[1])) continue;
      const [path, anchor] = m[1].split("#");
      const target = path === "" ? new URL(f, ROOT) : new URL(path, new URL(f, ROOT));
      let targetText: string;
      try {
        targetText = Deno.readTextFileSync(target);
      } catch {
        missing.push(`${f}: ${m[1]}`);
        continue;
      }
      if (anchor !== undefined && !anchors(targetText).has(anchor)) missing.push(`${f}: ${m[1]}`);
    }
  }
  assert.deepEqual(missing, []);
});

/** The option table as the code defines it, a row per option (cells trimmed). */
function optionRows(): string[][] {
  return optionHelp().map((r) => {
    const flag = r.flag === undefined
      ? "—"
      : `\`${r.flag}${r.arg ? ` ${r.arg}` : ""}\`${r.repeatable ? " (repeatable)" : ""}`;
    const yaml = r.yaml === undefined ? "—" : `\`${r.yaml}\``;
    return [flag, yaml, r.type, r.default, r.validation, r.description].map((c) =>
      c.replaceAll("|", "\\|")
    );
  });
}

/** The cells of a Markdown table row. */
function cells(line: string): string[] {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split(/(?<!\\)\|/).map((c) => c.trim());
}

Deno.test("docs: configuration.md's option table is the code's", () => {
  const text = Deno.readTextFileSync(new URL("docs/configuration.md", ROOT));
  const rows = text.split("\n").filter((l) => l.startsWith("| ")).map(cells)
    .filter((c) => c.length === 6 && c[0] !== "Flag" && !/^-+$/.test(c[0]));
  assert.deepEqual(rows, optionRows());
});

Deno.test("docs: getting-started.md names the npm packages the code imports", () => {
  const text = Deno.readTextFileSync(new URL("docs/getting-started.md", ROOT));
  const sentence = /The npm packages weft uses \(([^)]*)\)/.exec(text.replace(/\s+/g, " "));
  assert.ok(sentence, "the sentence naming the packages is there");
  const named = [...sentence[1].matchAll(/`([^`]+)`/g)].map((m) => m[1]).sort();
  const imported = new Set<string>();
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(new URL(dir, ROOT))) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory && e.name !== "testing") walk(path);
      else if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
        const code = Deno.readTextFileSync(new URL(path, ROOT));
        for (const m of code.matchAll(/"npm:((?:@[^/"@]+\/)?[^/"@]+)@/g)) imported.add(m[1]);
      }
    }
  };
  for (const dir of ["lib", "cli", "drivers"]) walk(dir);
  // With what they depend on (deno.lock): an install fetches those too.
  const lock = JSON.parse(Deno.readTextFileSync(new URL("deno.lock", ROOT))) as {
    npm: Record<string, { dependencies?: string[] }>;
  };
  const deps = new Map(
    Object.entries(lock.npm).map(([k, v]) => [k.slice(0, k.indexOf("@", 1)), v.dependencies ?? []]),
  );
  for (const p of [...imported]) for (const d of deps.get(p) ?? []) imported.add(d);
  assert.deepEqual(named, [...imported].sort());
});

/** The command of `deno task start`, with main.ts and the config made absolute. */
function startCommand(): string {
  const cfg = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT))) as {
    tasks: Record<string, string>;
  };
  const start = cfg.tasks.start;
  assert.match(start, /^deno run .* main\.ts$/, "deno task start runs main.ts");
  return start.replace(/^deno run /, `deno run --config ${ROOT_PATH}/deno.json `)
    .replace(/ main\.ts$/, ` ${ROOT_PATH}/main.ts`);
}

/** The last lines of the logs the blocks wrote (agents started in the background log there). */
function logTails(dir: string): string {
  let out = "";
  for (const e of Deno.readDirSync(dir)) {
    if (!e.isFile || !e.name.endsWith(".log")) continue;
    const lines = Deno.readTextFileSync(`${dir}/${e.name}`).trimEnd().split("\n");
    out += `\n--- ${e.name} (last lines)\n${lines.slice(-20).join("\n")}\n`;
  }
  return out;
}

const MARK = "### docs-test block ";

/** The session script of a file: its runnable blocks in order, each announced on the output. */
function script(file: string, runnable: Block[]): string {
  const parts = [
    "set -euo pipefail",
    "exec 2>&1",
    "ip link set lo up",
  ];
  for (const b of runnable) {
    parts.push(`echo '${MARK}${file}:${b.line}'`, b.body);
  }
  parts.push(`echo '${MARK}done'`);
  return parts.join("\n") + "\n";
}

const unshareOk = await canUnshare();
if (!unshareOk) {
  console.warn(
    "docs: the runnable blocks and the `ts run` programs are skipped: no network namespace " +
      "(needs root or unprivileged user namespaces, and unshare from util-linux)",
  );
}

for (const file of docFiles(ROOT_PATH)) {
  const runnable = blocks.filter((b) => b.file === file && shellMark(b)?.run === true);
  if (runnable.length === 0) continue;
  Deno.test({
    name: `docs: the runnable blocks of ${file} run (${runnable.length})`,
    ignore: !unshareOk,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const tmp = await Deno.makeTempDir({ prefix: "weft-docs-" });
      const bin = `${tmp}/bin`, work = `${tmp}/work`;
      await Deno.mkdir(bin);
      await Deno.mkdir(work);
      await Deno.mkdir(`${tmp}/home`);
      await Deno.writeTextFile(
        `${bin}/weft`,
        `#!/bin/sh\nexec ${startCommand()} "$@"\n`,
        { mode: 0o755 },
      );
      await Deno.writeTextFile(`${tmp}/session.sh`, script(file, runnable));
      // As `deno add jsr:@weft/weft` would, but to this checkout: programs in the blocks import
      // "@weft/weft" (and its sub-paths), and its own imports resolve as in this repository.
      await Deno.writeTextFile(`${work}/deno.json`, JSON.stringify({ imports: packageImports() }));
      const env: Record<string, string> = {
        PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
        HOME: `${tmp}/home`,
        XDG_STATE_HOME: `${tmp}/state`,
        DENO_DIR: await denoDir(),
        NO_COLOR: "1",
        LANG: "C.UTF-8",
      };
      const child = new Deno.Command("setsid", {
        args: ["unshare", ...unshareArgs(), "bash", `${tmp}/session.sh`],
        cwd: work,
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const killAll = () => {
        try {
          Deno.kill(-child.pid, "SIGKILL");
        } catch {
          // Gone already.
        }
      };
      const timer = setTimeout(killAll, FILE_TIMEOUT_MS);
      let out = "";
      try {
        const res = await child.output();
        const dec = new TextDecoder();
        out = dec.decode(res.stdout) + dec.decode(res.stderr);
        const marks = out.split("\n").filter((l) => l.startsWith(MARK));
        const last = marks.at(-1)?.slice(MARK.length) ?? "(before the first block)";
        if (!res.success || last !== "done") {
          const why = res.signal === "SIGKILL" ? `timed out after ${FILE_TIMEOUT_MS} ms` : (
            `exit code ${res.code}`
          );
          throw new Error(
            `${file}: the block at ${last} failed (${why}); output:\n${out}${logTails(work)}`,
          );
        }
      } finally {
        clearTimeout(timer);
        killAll();
        await Deno.remove(tmp, { recursive: true }).catch(() => {});
      }
    },
  });
}

Deno.test("docs: the program blocks type-check", async () => {
  // As `deno task check` does (scripts/check_docs.ts): `@weft/weft` is this package.
  const failed = await checkExamples(ROOT_PATH, docFiles(ROOT_PATH));
  assert.equal(failed, null, failed ?? "");
});

Deno.test("docs: a program's output is matched against its `// prints:` lines", () => {
  const body = "console.log(1); // prints: 1\nconsole.log(t); // prints: token weft1_...\n";
  const want = expectedPrints(body);
  assert.deepEqual(want, ["1", "token weft1_..."]);
  assert.ok(printedAs("token weft1_abc", want[1]));
  assert.ok(!printedAs("token weft2_abc", want[1]));
  assert.ok(!printedAs("11", want[0]));
  assert.ok(printedAs("a.b", "a.b") && !printedAs("axb", "a.b"));
  assert.equal(outputProblem("1\ntoken weft1_x\n", want), null);
  assert.notEqual(outputProblem("1\n", want), null);
});

// Each `ts run` block is a complete program: written to a fresh directory with a deno.json that
// maps `@weft/weft` to this checkout (as `deno add jsr:@weft/weft` does in a reader's project),
// run with `deno run -A` in a network namespace of its own (only loopback: it may use weft's
// default ports), and it must end by itself, succeed, and print what its block says.
for (const b of blocks.filter((b) => exampleMark(b)?.run === true)) {
  Deno.test({
    name: `docs: the program at ${b.file}:${b.line} runs, ends and prints what it says`,
    ignore: !unshareOk,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () => runProgram(`${b.file}:${b.line}`, b.body),
  });
}
