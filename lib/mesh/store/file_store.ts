/**
 * The default store: `leader.json` in the state directory, written whole and atomically. The
 * directory's lock admits one agent, so this store is the only writer: its revision counts its
 * own commits, a commit never conflicts, and nothing else changes the document to watch for.
 * @module
 */

import type { LeaderFile, StateDir } from "../state/state.ts";
import type { LeaderStore, StoreSnapshot } from "./store.ts";

/** The leader's state in its state directory. */
export class FileStore implements LeaderStore {
  #revision = 0;

  /** One leader's: the directory's lock keeps out any other. */
  readonly single = true;

  /** The store in `state` (nothing is read yet). */
  constructor(readonly state: StateDir) {}

  /** `the state in <dir>`. */
  get where(): string {
    return `the state in ${this.state.dir}`;
  }

  /** Reads `leader.json`: null when there is none. */
  async load(): Promise<StoreSnapshot | null> {
    const data = await this.state.readLeader();
    return data ? { data, revision: this.#revision } : null;
  }

  /** Writes `leader.json` atomically; the one writer is always at its own revision. */
  async commit(next: LeaderFile, base: number): Promise<number | null> {
    if (base !== this.#revision) return null;
    await this.state.writeLeader(next);
    return ++this.#revision;
  }

  /** Nothing to watch: no other writer. */
  watch(_from: number, _onChange: (s: StoreSnapshot) => void): () => void {
    return () => {};
  }
}
