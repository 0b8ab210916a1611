/**
 * A node's run id: random at each start, carried in its hellos and kept in its member record, so
 * that its peers can tell a restart (new sessions needed) from a record that merely changed.
 * @module
 */

/** The characters of a run id: 16 lowercase hex digits (64 random bits). */
const RUN_ID = /^[0-9a-f]{16}$/;

/**
 * A new run id.
 *
 * @example
 * ```ts
 * import { newRunId, runIdOf } from "./run_id.ts";
 * const id = newRunId();
 * runIdOf(id) === id; // true
 * ```
 */
export function newRunId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** `v` when it is a run id (as {@link newRunId} makes them), else undefined. */
export function runIdOf(v: unknown): string | undefined {
  return typeof v === "string" && RUN_ID.test(v) ? v : undefined;
}
