/**
 * Crash-safe file writes: readers see either the old file or the whole new one, never a torn or
 * empty file, even if the machine loses power mid-write. The data goes to a temporary file in the
 * same directory (rename is only atomic within one filesystem), which is fsynced, renamed over the
 * target, and then the directory is fsynced so the rename itself is durable.
 * @module
 */

import { basename, dirname, join } from "node:path";

/** Options for {@linkcode writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /**
   * Permission bits of the new file (e.g. `0o600` for keys), set before it becomes visible.
   * Default: the existing target's bits, or 0o666 less the umask for a new file.
   */
  mode?: number;
}

const encoder = new TextEncoder();

/** Atomically replaces `path` with `data`; on failure the target is untouched and no temp is left. */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const dir = dirname(path);
  const suffix = crypto.getRandomValues(new Uint32Array(2)).join("");
  // A dot-prefixed name keeps the temp file out of globs such as *.conf.
  const tmp = join(dir, `.${basename(path)}.${Deno.pid}.${suffix}.tmp`);

  let mode = options.mode;
  if (mode === undefined) {
    try {
      mode = (await Deno.stat(path)).mode ?? undefined;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }

  // The file is created with 0o600 so nothing more permissive is ever visible, even briefly.
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
  let renamed = false;
  try {
    try {
      let off = 0;
      while (off < bytes.length) off += await file.write(bytes.subarray(off));
      // chmod rather than the open mode, which the umask would narrow.
      if (mode !== undefined && Deno.build.os !== "windows") await Deno.chmod(tmp, mode & 0o7777);
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
    renamed = true;
  } finally {
    // The write's own error is what propagates; a temp file left behind is never read.
    if (!renamed) await Deno.remove(tmp).catch(() => {});
  }
  await syncDirectory(dir);
}

/** Makes a rename in `dir` durable; platforms that cannot open directories are skipped. */
async function syncDirectory(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/** A file that exists but does not hold valid JSON. */
export class JsonFileError extends Error {
  /** The file that failed to parse. */
  readonly path: string;

  /** Wraps the parser's error with the file's path. */
  constructor(path: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`${path}: invalid JSON (${detail})`, { cause });
    this.name = "JsonFileError";
    this.path = path;
  }
}

/** Reads and parses a JSON file; corrupt content throws {@linkcode JsonFileError} naming the file. */
export async function readJsonFile(path: string): Promise<unknown> {
  const text = await Deno.readTextFile(path);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new JsonFileError(path, err);
  }
}
