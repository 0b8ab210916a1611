/**
 * How to start another `weft` process: the compiled binary runs itself; under `deno run` the
 * same main module runs again with the same permissions.
 * @module
 */

/** The argv prefix that starts `weft` again. */
export function selfCommand(): string[] {
  const exe = Deno.execPath();
  if (/(^|[\\/])deno(\.exe)?$/.test(exe)) {
    const main = new URL("../../main.ts", import.meta.url);
    const path = main.protocol === "file:" ? decodeURIComponent(main.pathname) : main.href;
    return [exe, "run", "-A", "--unstable-net", path];
  }
  return [exe];
}
