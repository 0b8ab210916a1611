/**
 * Runs code in a fresh Deno process, for tests of what a process's threads are set to (nice
 * values, scheduler slices): the test runner's own threads are not a fresh agent's.
 * @module
 */

/**
 * Runs a fresh Deno with `args` (`env` added to this process's environment), and returns its last
 * line of output parsed as JSON (unchecked, as `T`); throws when the child fails.
 */
export async function childJson<T = unknown>(
  args: string[],
  env: Record<string, string> = {},
): Promise<T> {
  const out = await new Deno.Command(Deno.execPath(), { args, env, stderr: "inherit" }).output();
  if (out.code !== 0) throw new Error(`the child (deno ${args[0]}) exited with ${out.code}`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

/**
 * Runs `code` in a fresh `deno eval` with the module `moduleUrl` imported as `m`, and returns its
 * last line of output parsed as JSON; throws when the child fails.
 */
export function inChild(moduleUrl: string, code: string): Promise<unknown> {
  return childJson(["eval", `import * as m from ${JSON.stringify(moduleUrl)}; ${code}`]);
}
