/**
 * Numbers from `WEFT_*` environment variables, the settings measurements override: the default
 * where a variable is unset, blank, no number or out of range, and where the process may not
 * read the environment (an embedder without --allow-env runs with the defaults).
 * @module
 */

/** What a number read by {@link envNumber} must be to be taken. */
export interface EnvRange {
  /** The least taken (none: any). */
  min?: number;
  /** The most taken (none: any). */
  max?: number;
  /** Only whole numbers are taken. */
  integer?: boolean;
}

/** The text of the environment variable `name`; undefined when unset or not to be read. */
export function envText(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env
  }
}

/**
 * The number the environment variable `name` holds, or `fallback` when it is unset, blank, not a
 * finite number or outside `range`, or when the environment may not be read.
 */
export function envNumber<T = number>(
  name: string,
  fallback: T,
  range: EnvRange = {},
): number | T {
  const text = envText(name);
  if (text === undefined || text.trim() === "") return fallback;
  const n = Number(text);
  const outside = !Number.isFinite(n) || n < (range.min ?? -Infinity) ||
    n > (range.max ?? Infinity) || (range.integer === true && !Number.isInteger(n));
  return outside ? fallback : n;
}
