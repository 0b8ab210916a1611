/**
 * `deno task compile`: builds self-contained weft binaries with `deno compile`.
 *
 *   deno task compile                      dist/weft for this machine
 *   deno task compile --target T [...]     dist/weft-T for each target given
 *   deno task compile --all                dist/weft-T for every release target
 *
 * `deno compile` downloads a runtime base ("denort") per target; set DENORT_BIN to a local denort
 * binary to build offline (deno reads that variable itself; it applies to one target at a time).
 * @module
 */

import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { JIT_V8_FLAGS_ARG } from "../lib/agent/jit.ts";

/** The targets release builds ship, as in .github/workflows/release.yml. */
export const RELEASE_TARGETS: readonly string[] = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
];

/**
 * The flags every build uses; they match the release workflow. A Worker's entry is not bundled
 * unless named (deno compile's docs, "Workers"): the crypto workers', the control API's and the plugins' are; plugins'
 * workers hold only the permissions granted them (`--unstable-worker-options`). The V8 flags are baked
 * into the binary (lib/agent/jit.ts says why). The command line imports each command's module
 * with a literal `import("./x.ts")` (cli/main.ts), which deno compile embeds when it type-checks,
 * as it does by default: with `--no-check` its graph would follow deno.json's
 * `lazy-dynamic-imports` and leave those modules out.
 */
export const COMPILE_FLAGS: readonly string[] = [
  "--allow-all",
  "--unstable-net",
  "--unstable-ffi",
  "--unstable-worker-options",
  "--include",
  "lib/crypto/pool_worker.ts",
  "--include",
  "lib/mesh/plugins/worker.ts",
  "--include",
  "lib/control/api_worker.ts",
  JIT_V8_FLAGS_ARG,
];

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** What to build, from the command line. */
export interface CompileArgs {
  /** Targets to build; empty means the host, written to `dist/weft`. */
  targets: string[];
  /** The entry point, relative to the repository root. */
  entry: string;
  /** The output directory, relative to the repository root. */
  outDir: string;
}

const USAGE =
  `usage: deno task compile [--target <triple>]... [--all] [--entry main.ts] [--out-dir dist]
targets: ${RELEASE_TARGETS.join(", ")}`;

/** Parses the script's arguments; throws with a usage message on anything unknown. */
export function parseCompileArgs(argv: readonly string[]): CompileArgs {
  const args: CompileArgs = { targets: [], entry: "main.ts", outDir: "dist" };
  const value = (i: number, flag: string): string => {
    const v = argv[i];
    if (v === undefined || v.startsWith("--")) throw new Error(`${flag} needs a value\n${USAGE}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf("=");
    const [flag, inline] = arg.startsWith("--") && eq > 0
      ? [arg.slice(0, eq), arg.slice(eq + 1)]
      : [arg, undefined];
    const take = (): string => inline ?? value(++i, flag);
    switch (flag) {
      case "--target":
        args.targets.push(take());
        break;
      case "--all":
        args.targets.push(...RELEASE_TARGETS);
        break;
      case "--entry":
        args.entry = take();
        break;
      case "--out-dir":
        args.outDir = take();
        break;
      case "-h":
      case "--help":
        throw new Error(USAGE);
      default:
        throw new Error(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
    }
  }
  args.targets = [...new Set(args.targets)];
  for (const t of args.targets) {
    if (
      !RELEASE_TARGETS.includes(t) && !/^[a-z0-9_]+-[a-z0-9_]+-[a-z0-9_]+(-[a-z0-9_]+)?$/.test(t)
    ) {
      throw new Error(`bad target ${JSON.stringify(t)}\n${USAGE}`);
    }
  }
  return args;
}

/** The `deno compile` arguments for one output (`target` undefined: the host). */
export function compileCommand(entry: string, output: string, target?: string): string[] {
  const args = ["compile", ...COMPILE_FLAGS];
  if (target !== undefined) args.push("--target", target);
  args.push("--output", output, entry);
  return args;
}

// deno compile's wording when it cannot fetch the runtime base (as of Deno 2.x).
const DOWNLOAD_FAILURE = /Setting up base binary|dl\.deno\.land/i;

async function build(entry: string, output: string, target: string | undefined): Promise<void> {
  const label = target ?? "host";
  console.error(`compile: ${label} -> ${relative(Deno.cwd(), output) || output}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: compileCommand(entry, output, target),
    cwd: ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "piped",
  }).spawn();
  // Stream deno's progress through while keeping a copy to explain failures.
  const chunks: Uint8Array[] = [];
  for await (const chunk of child.stderr) {
    chunks.push(chunk);
    await Deno.stderr.write(chunk);
  }
  const status = await child.status;
  if (status.success) return;
  const text = new TextDecoder().decode(await new Blob(chunks as BlobPart[]).arrayBuffer());
  if (Deno.env.get("DENORT_BIN") === undefined && DOWNLOAD_FAILURE.test(text)) {
    throw new Error(
      `could not download the Deno runtime base (denort) for ${label} from dl.deno.land ` +
        `(see deno's error above). Build with internet access, or set DENORT_BIN to a local ` +
        `denort binary for this target (one target per run).`,
    );
  }
  throw new Error(`deno compile failed for ${label} (exit code ${status.code})`);
}

/** Builds the requested binaries; returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let args: CompileArgs;
  try {
    args = parseCompileArgs(argv);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const entry = resolve(ROOT, args.entry);
  try {
    await Deno.stat(entry);
  } catch {
    console.error(`compile: entry point ${entry} does not exist`);
    return 1;
  }
  const denort = Deno.env.get("DENORT_BIN");
  if (denort !== undefined) {
    if (args.targets.length > 1) {
      console.error("compile: DENORT_BIN names one runtime binary; build one --target at a time");
      return 2;
    }
    try {
      await Deno.stat(denort);
    } catch {
      console.error(`compile: DENORT_BIN=${denort} does not exist`);
      return 1;
    }
    console.error(`compile: using DENORT_BIN=${denort} as the runtime base`);
  }
  const outDir = resolve(ROOT, args.outDir);
  await Deno.mkdir(outDir, { recursive: true });
  const jobs: [string, string | undefined][] = args.targets.length === 0
    ? [[join(outDir, Deno.build.os === "windows" ? "weft.exe" : "weft"), undefined]]
    : args.targets.map((t) => [join(outDir, `weft-${t}${t.includes("windows") ? ".exe" : ""}`), t]);
  for (const [output, target] of jobs) {
    try {
      await build(entry, output, target);
    } catch (err) {
      console.error(`compile: ${(err as Error).message}`);
      return 1;
    }
  }
  console.error(`compile: built ${jobs.length} binar${jobs.length === 1 ? "y" : "ies"}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
