/**
 * The file system questions the layers above ask alike (the state directory, the systemd unit,
 * the host's resolver): here, in the bottom layer drivers may import, so each is written once.
 * @module
 */

/**
 * Whether anything is at `path`: false when nothing is (not found); any other error (permission,
 * I/O, a path component that is no directory) is thrown, so a caller that must not guess hears
 * of it. With `link: true` a symbolic link itself is asked about (lstat): a dangling one is
 * there; without, the link is followed (stat).
 */
export async function exists(path: string, opts: { link?: boolean } = {}): Promise<boolean> {
  try {
    await (opts.link ? Deno.lstat(path) : Deno.stat(path));
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
