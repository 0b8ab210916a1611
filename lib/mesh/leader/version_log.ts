/**
 * The leader's log of recent membership versions: which members each version touched, so a
 * node behind by a few versions catches up with what changed (a delta) instead of the whole view.
 * @module
 */

import type { Member } from "../../members/member.ts";
import type { VersionEntry } from "./changes.ts";

/** How many versions the log keeps: older ones get the whole view. */
export const VERSION_LOG_MAX = 4096;

/** The versions since the leader started, the last {@link VERSION_LOG_MAX}, in version order. */
export class VersionLog {
  readonly #log: VersionEntry[] = [];

  /** Adds versions (newer than every one added before, in order). */
  add(entries: readonly VersionEntry[]): void {
    this.#log.push(...entries);
    if (this.#log.length > VERSION_LOG_MAX) {
      this.#log.splice(0, this.#log.length - VERSION_LOG_MAX);
    }
  }

  /**
   * The public keys of the members touched since `version`, when the state is at `current`;
   * null when the log no longer reaches back that far.
   */
  keysSince(version: number, current: number): Set<string> | null {
    const keys = new Set<string>();
    if (version >= current) return keys;
    const log = this.#log;
    const first = log[0];
    if (!first || version < first.version - 1) return null;
    // The log is in version order: only its tail since `version` is read.
    let i = log.length;
    while (i > 0 && log[i - 1].version > version) i--;
    for (; i < log.length; i++) for (const k of log[i].keys) keys.add(k);
    return keys;
  }

  /**
   * What changed since `version` when the state is at `current`: members to add or update
   * (copies of what `byKey` finds) and keys to remove (those it no longer finds); null when the
   * log no longer reaches back that far (send the whole view instead).
   */
  changesSince(
    version: number,
    current: number,
    byKey: (publicKey: string) => Member | undefined,
  ): { upsert: Member[]; remove: string[] } | null {
    if (version >= current) return { upsert: [], remove: [] };
    const keys = this.keysSince(version, current);
    if (!keys) return null;
    const upsert: Member[] = [];
    const remove: string[] = [];
    for (const k of keys) {
      const m = byKey(k);
      if (m) upsert.push({ ...m });
      else remove.push(k);
    }
    return { upsert, remove };
  }
}
