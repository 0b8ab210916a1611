/**
 * Runs the docs' example programs as a reader would: the `ts run` blocks of the Markdown docs
 * (docs_test.ts) and the `ts run` JSDoc examples JSR shows (jsdoc_test.ts). A program is written
 * to a fresh directory whose deno.json maps `@weft/weft` and its sub-paths to this checkout (as
 * `deno add jsr:@weft/weft` does in a reader's project), run with `deno run -A` in a network
 * namespace of its own (only loopback: it may use fixed ports, and nothing it starts can reach
 * beyond 127.0.0.0/8 or clash with another test), with HOME, XDG_STATE_HOME and TMPDIR inside
 * that directory (removed afterwards, with whatever the program left there). It must end by
 * itself, succeed, and print exactly the lines its `// prints: <line>` comments give (`...`
 * stands for any text).
 * @module
 */
const ROOT = new URL("../../", import.meta.url);
/** The checkout's root directory, without a trailing slash. */
export const ROOT_PATH: string = ROOT.pathname.replace(/\/$/, "");

/** A program must end by itself within this time (a guard: it ends in a few seconds). */
export const PROGRAM_TIMEOUT_MS = 120_000;

/** The arguments of `unshare` for a namespace of one's own (net and PID). */
export function unshareArgs(): string[] {
  const root = Deno.uid() === 0;
  return [...(root ? [] : ["--map-root-user"]), "--net", "--pid", "--fork", "--kill-child"];
}

/** Whether this machine lets us make a network (and PID) namespace. */
export async function canUnshare(): Promise<boolean> {
  try {
    const out = await new Deno.Command("unshare", {
      args: [...unshareArgs(), "true"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** The DENO_DIR programs share with this test (its cache: no download per program). */
export async function denoDir(): Promise<string> {
  const fromEnv = Deno.env.get("DENO_DIR");
  if (fromEnv) return fromEnv;
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  return (JSON.parse(new TextDecoder().decode(out.stdout)) as { denoDir: string }).denoDir;
}

/** This package's exports (and any import map of the repository), as a user's project maps them. */
export function packageImports(): Record<string, string> {
  const cfg = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT))) as {
    name: string;
    imports?: Record<string, string>;
    exports: string | Record<string, string>;
  };
  const exports = typeof cfg.exports === "string" ? { ".": cfg.exports } : cfg.exports;
  const out = { ...cfg.imports };
  for (const [sub, target] of Object.entries(exports)) {
    out[cfg.name + sub.slice(1)] = new URL(target, ROOT).href;
  }
  return out;
}

/** The lines a program says it prints, in order: its `// prints: <line>` comments. */
export function expectedPrints(body: string): string[] {
  return [...body.matchAll(/\/\/ prints: (.*)$/gm)].map((m) => m[1].trimEnd());
}

/** Whether `actual` is the line `expected` says, where `...` in it stands for any text. */
export function printedAs(actual: string, expected: string): boolean {
  const parts = expected.split("...").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${parts.join(".*")}$`).test(actual);
}

/**
 * What is wrong with a program's output, or null: its stdout must be the lines its
 * `// prints:` comments give, in order, and nothing else.
 */
export function outputProblem(stdout: string, expected: string[]): string | null {
  const actual = stdout === "" ? [] : stdout.replace(/\n$/, "").split("\n");
  const ok = actual.length === expected.length && actual.every((l, i) => printedAs(l, expected[i]));
  return ok
    ? null
    : `it printed:\n${actual.join("\n")}\nit says (// prints:):\n${expected.join("\n")}`;
}

/** The last lines of a text. */
export function tail(text: string, n: number): string {
  return text.trimEnd().split("\n").slice(-n).join("\n");
}

/**
 * Runs `body` as a complete program (see the module doc) and throws, naming `where` and showing
 * its output, if it fails, does not end within `timeoutMs` (every process it started is then
 * killed), or prints other lines than its `// prints:` comments say. Needs {@link canUnshare}.
 */
export async function runProgram(
  where: string,
  body: string,
  timeoutMs: number = PROGRAM_TIMEOUT_MS,
): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "weft-docs-run-" });
  const work = `${tmp}/work`;
  await Deno.mkdir(work);
  await Deno.mkdir(`${tmp}/home`);
  await Deno.mkdir(`${tmp}/tmp`);
  await Deno.writeTextFile(`${work}/deno.json`, JSON.stringify({ imports: packageImports() }));
  await Deno.writeTextFile(`${work}/main.ts`, body + "\n");
  const child = new Deno.Command("setsid", {
    args: [
      "unshare",
      ...unshareArgs(),
      "bash",
      "-c",
      `ip link set lo up && exec "${Deno.execPath()}" run -A main.ts`,
    ],
    cwd: work,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: `${tmp}/home`,
      XDG_STATE_HOME: `${tmp}/state`,
      TMPDIR: `${tmp}/tmp`, // Deno.makeTempDir's directories are removed with the rest
      DENO_DIR: await denoDir(),
      NO_COLOR: "1",
      LANG: "C.UTF-8",
    },
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
  const timer = setTimeout(killAll, timeoutMs);
  try {
    const res = await child.output();
    const dec = new TextDecoder();
    const stdout = dec.decode(res.stdout), stderr = dec.decode(res.stderr);
    if (res.signal === "SIGKILL") {
      throw new Error(
        `${where}: did not end within ${timeoutMs} ms (a program closes what it ` +
          `starts); stdout:\n${stdout}\nstderr (last lines):\n${tail(stderr, 30)}`,
      );
    }
    if (!res.success) {
      throw new Error(
        `${where}: exit code ${res.code}; stdout:\n${stdout}\nstderr (last lines):\n${
          tail(stderr, 30)
        }`,
      );
    }
    const problem = outputProblem(stdout, expectedPrints(body));
    if (problem !== null) {
      throw new Error(`${where}: ${problem}\nstderr (last lines):\n${tail(stderr, 30)}`);
    }
  } finally {
    clearTimeout(timer);
    killAll();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
