/**
 * How to start another `weft` process: the compiled binary runs itself (its V8 flags baked in);
 * under `deno run` the same main module runs again with the same permissions and V8 flags.
 * @module
 */

import { JIT_V8_FLAGS_ARG } from "../agent/jit.ts";

/** The argv prefix that starts `weft` again. */
export function selfCommand(): string[] {
  const exe = Deno.execPath();
  if (/(^|[\\/])deno(\.exe)?$/.test(exe)) {
    const main = new URL("../../main.ts", import.meta.url);
    const path = main.protocol === "file:" ? decodeURIComponent(main.pathname) : main.href;
    return [exe, "run", "-A", "--unstable-net", JIT_V8_FLAGS_ARG, path];
  }
  return [exe];
}
