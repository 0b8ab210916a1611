/**
 * Values cut short for error messages, so that a huge input is never echoed whole.
 * @module
 */

/** Most characters of a value an error message repeats. */
const QUOTE_CHARS = 64;

/**
 * `text` quoted for an error message, cut to its first 64 characters (with the full length
 * said) so that a huge value is never echoed whole.
 */
export function quote(text: string, max = QUOTE_CHARS): string {
  if (text.length <= max) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, max))}... (${text.length} characters)`;
}

/** `text` for an error message, unquoted, cut as {@link quote} cuts it. */
export function clip(text: string, max = QUOTE_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length} characters)`;
}
