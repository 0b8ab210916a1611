/**
 * A store in memory with the semantics of a shared one: conditional commits on the revision and
 * watches that report every commit, delivered later (as a network store's would). For a leader
 * without a state directory, and for tests of several leaders on one store.
 * @module
 */

import type { LeaderFile } from "../state/state.ts";
import type { LeaderStore, StoreSnapshot } from "./store.ts";

/** The leader's document in memory, shareable by several leaders. */
export class MemoryStore implements LeaderStore {
  #data: LeaderFile | null = null;
  #revision = 0;
  readonly #watchers = new Set<(s: StoreSnapshot) => void>();
  /** Commits refused because another came first (for tests). */
  conflicts = 0;

  /** `memory`. */
  readonly where = "the state in memory";

  /** A copy of the document, or null before the first commit. */
  load(): Promise<StoreSnapshot | null> {
    const data = this.#data;
    return Promise.resolve(data ? { data: structuredClone(data), revision: this.#revision } : null);
  }

  /** Keeps a copy of `next` if still at `base`; tells every watcher on a later microtask. */
  commit(next: LeaderFile, base: number): Promise<number | null> {
    if (base !== this.#revision) {
      this.conflicts++;
      return Promise.resolve(null);
    }
    const data = structuredClone(next);
    const revision = ++this.#revision;
    this.#data = data;
    for (const w of this.#watchers) {
      queueMicrotask(() => w({ data: structuredClone(data), revision }));
    }
    return Promise.resolve(revision);
  }

  /** Reports the documents committed after `from`: the newest at once when it is later. */
  watch(from: number, onChange: (s: StoreSnapshot) => void): () => void {
    const w = (s: StoreSnapshot) => {
      if (this.#watchers.has(w)) onChange(s);
    };
    this.#watchers.add(w);
    const data = this.#data;
    if (data && this.#revision > from) {
      const revision = this.#revision;
      queueMicrotask(() => w({ data: structuredClone(data), revision }));
    }
    return () => this.#watchers.delete(w);
  }
}
