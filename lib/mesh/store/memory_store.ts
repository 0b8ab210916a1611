/**
 * A store in memory with the semantics of a shared one: conditional commits on the revision and
 * watches that report every commit, delivered later (as a network store's would). For a leader
 * without a state directory, and for tests of several leaders on one store.
 * @module
 */

import { checkLeaderFile, type LeaderFile } from "../state/state.ts";
import { leaderJson } from "../state/leader_json.ts";
import type { LeaderStore, StoreSnapshot } from "./store.ts";

/**
 * A snapshot whose document is parsed from `text` when first read: a leader's own commits come
 * back through its watch, and it reads only their revision (it has them already).
 */
function snapshot(text: string, revision: number): StoreSnapshot {
  let data: LeaderFile | null = null;
  return {
    revision,
    get data(): LeaderFile {
      return data ??= checkLeaderFile(JSON.parse(text), "the state in memory");
    },
  };
}

/** The leader's document in memory, shareable by several leaders. */
export class MemoryStore implements LeaderStore {
  // The document as JSON: each commit's is mostly the records' text made once (leader_json.ts).
  #text: string | null = null;
  #revision = 0;
  readonly #watchers = new Set<(s: StoreSnapshot) => void>();
  /** Commits refused because another came first (for tests). */
  conflicts = 0;

  /** `memory`. */
  readonly where = "the state in memory";

  /** A copy of the document, or null before the first commit. */
  load(): Promise<StoreSnapshot | null> {
    const text = this.#text;
    return Promise.resolve(text === null ? null : snapshot(text, this.#revision));
  }

  /** Keeps a copy of `next` if still at `base`; tells every watcher on a later microtask. */
  commit(next: LeaderFile, base: number): Promise<number | null> {
    if (base !== this.#revision) {
      this.conflicts++;
      return Promise.resolve(null);
    }
    const text = leaderJson(next);
    const revision = ++this.#revision;
    this.#text = text;
    for (const w of this.#watchers) queueMicrotask(() => w(snapshot(text, revision)));
    return Promise.resolve(revision);
  }

  /** Reports the documents committed after `from`: the newest at once when it is later. */
  watch(from: number, onChange: (s: StoreSnapshot) => void): () => void {
    const w = (s: StoreSnapshot) => {
      if (this.#watchers.has(w)) onChange(s);
    };
    this.#watchers.add(w);
    const text = this.#text;
    if (text !== null && this.#revision > from) {
      const revision = this.#revision;
      queueMicrotask(() => w(snapshot(text, revision)));
    }
    return () => this.#watchers.delete(w);
  }
}
