/**
 * Closing what a failed start made, on an `AsyncDisposableStack`: the start rethrows the error
 * that stopped it, so a part that also fails to close must not replace that error (an
 * `await using` stack would throw a SuppressedError naming the close's failure instead).
 * @module
 */

/**
 * A closer for a disposable stack whose failure goes to `onError` (by default nowhere) instead of
 * being thrown (see the module docs).
 */
export function closeQuietly(
  part: { close(): Promise<void> | void },
  onError?: (e: unknown) => void,
): () => Promise<void> {
  return async () => {
    try {
      await part.close();
    } catch (e) {
      // The part was going anyway; whoever closes it says why, if anyone asked.
      onError?.(e);
    }
  };
}
