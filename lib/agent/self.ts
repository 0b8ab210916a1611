/**
 * How to start another `weft` process: the compiled binary runs itself (its V8 flags baked in);
 * under `deno run` the same main module runs again with the same permissions and V8 flags.
 * @module
 */

import { JIT_V8_FLAGS_ARG } from "./jit.ts";

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false; // absent, or no read permission
  }
}

/**
 * The argv prefix that starts `weft` again: `[deno, "run", "-A", "--unstable-net", <V8 flags>,
 * <main.ts>]` under `deno run` (main.ts of this copy of weft, a path or a URL, the latter with
 * `--unstable-worker-options` too, which the deno.json gives a file; with
 * `--config <its deno.json>` after `run` when main.ts is a file with a deno.json beside it, so
 * that a process started from another directory, as `weft wireguard` starts its background
 * process, resolves its imports with the same configuration and lock file), `[<binary>]` in a
 * `deno compile`d one.
 *
 * @example
 * ```ts run
 * import { selfCommand } from "@weft/weft/agent";
 * const [exe, ...args] = selfCommand();
 * const out = await new Deno.Command(exe, { args: [...args, "--version"] }).output();
 * console.log(out.success); // prints: true
 * ```
 */
export function selfCommand(): string[] {
  const exe = Deno.execPath();
  if (/(^|[\\/])deno(\.exe)?$/.test(exe)) {
    const main = new URL("../../main.ts", import.meta.url);
    if (main.protocol !== "file:") {
      return [
        exe,
        "run",
        "-A",
        "--unstable-net",
        "--unstable-worker-options",
        JIT_V8_FLAGS_ARG,
        main.href,
      ];
    }
    const path = decodeURIComponent(main.pathname);
    const config = decodeURIComponent(new URL("../../deno.json", import.meta.url).pathname);
    return [
      exe,
      "run",
      ...(isFile(config) ? ["--config", config] : []),
      "-A",
      "--unstable-net",
      JIT_V8_FLAGS_ARG,
      path,
    ];
  }
  return [exe];
}
