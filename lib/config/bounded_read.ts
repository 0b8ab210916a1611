/**
 * Reading input whose size the reader does not control (files named on the command line, stdin)
 * with a ceiling: at most one byte more than allowed is read, so `/dev/zero` or a huge file is
 * refused at once instead of filling memory.
 * @module
 */

/** Input larger than the ceiling it was read with. */
export class InputTooLargeError extends RangeError {
  /** Input past `max` bytes. */
  constructor(readonly max: number) {
    super(`larger than ${max} bytes`);
    this.name = "InputTooLargeError";
  }
}

/** Reads all of `r` up to `max` bytes; throws InputTooLargeError when there is more. */
export async function readUpTo(
  r: { read(p: Uint8Array): Promise<number | null> },
  max: number,
): Promise<Uint8Array> {
  const buf = new Uint8Array(max + 1);
  let n = 0;
  while (n < buf.length) {
    const got = await r.read(buf.subarray(n));
    if (got === null) break;
    n += got;
  }
  if (n > max) throw new InputTooLargeError(max);
  return buf.subarray(0, n);
}

/** Reads a file of at most `max` bytes (Deno's errors for a missing or unreadable file). */
export async function readFileBounded(path: string, max: number): Promise<Uint8Array> {
  using f = await Deno.open(path, { read: true });
  return await readUpTo(f, max);
}

/** Reads a text file of at most `max` bytes, as `Deno.readTextFile` decodes it. */
export async function readTextFileBounded(path: string, max: number): Promise<string> {
  return new TextDecoder().decode(await readFileBounded(path, max));
}
