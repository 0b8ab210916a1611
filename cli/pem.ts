/**
 * A PEM file a flag names (`--store-ca`, `--ws-tls-cert`, ...), read with a bound: an unreadable
 * one is a usage error naming the flag.
 * @module
 */

import { UsageError } from "./errors.ts";
import { readTextFileBounded } from "./internal_client.ts";

/** The largest PEM file read (a chain of a few certificates). */
export const MAX_PEM_BYTES = 256 * 1024;

/** The text of the PEM file at `path` for `flag`; undefined when no path is given. */
export async function readPemFlag(
  flag: string,
  path: string | undefined,
): Promise<string | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readTextFileBounded(path, MAX_PEM_BYTES);
  } catch (e) {
    throw new UsageError(`${flag}: cannot read ${path}: ${(e as Error).message}`);
  }
}
