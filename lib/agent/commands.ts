/**
 * Finding the host programs that wg-quick's steps call (`bash` for hooks, `resolvconf` for
 * `DNS`), so a file that needs a missing one is refused before anything starts.
 * @module
 */

/**
 * The path of the executable `name` in the directories of `path` (default: `$PATH`), or null.
 * A name containing `/` is taken as a path and only checked.
 */
export function findExecutable(name: string, path?: string): string | null {
  const candidates = name.includes("/")
    ? [name]
    : (path ?? Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "").map((d) =>
      `${d}/${name}`
    );
  for (const file of candidates) {
    try {
      const st = Deno.statSync(file);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0) return file;
    } catch {
      // Missing or unreadable: try the next directory, as the shell would.
    }
  }
  return null;
}
