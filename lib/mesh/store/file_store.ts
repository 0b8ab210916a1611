/**
 * The default store: the state directory's `leader.json`, and the journal of the commits since
 * it was written (../state/leader_journal.ts): a commit appends what it changed and syncs, and
 * the whole document is written again (atomically, the journal emptied) at the first commit,
 * once the journal outgrows the document, and at a clean stop. The directory's lock admits one
 * agent, so this store is the only writer: its revision counts its own commits, a commit never
 * conflicts, and nothing else changes the document to watch for.
 * @module
 */

import type { LeaderFile, StateDir } from "../state/state.ts";
import { journalLine } from "../state/leader_journal.ts";
import type { LeaderStore, StoreSnapshot } from "./store.ts";

/** The journal is folded into the document once it is larger than this and than the document. */
export const MIN_JOURNAL_BYTES = 1 << 20;

/** The leader's state in its state directory. */
export class FileStore implements LeaderStore {
  #revision = 0;
  // The document as last committed (null: the next commit writes it whole), and the sizes.
  #last: LeaderFile | null = null;
  #documentBytes = 0;
  #journalBytes = 0;
  #chain: Promise<unknown> = Promise.resolve();

  /** One leader's: the directory's lock keeps out any other. */
  readonly single = true;

  readonly #minJournalBytes: number;

  /**
   * The store in `state` (nothing is read yet); the journal is folded once larger than the
   * document and than `minJournalBytes` (default {@link MIN_JOURNAL_BYTES}).
   */
  constructor(readonly state: StateDir, opts: { minJournalBytes?: number } = {}) {
    this.#minJournalBytes = opts.minJournalBytes ?? MIN_JOURNAL_BYTES;
  }

  /** `the state in <dir>`. */
  get where(): string {
    return `the state in ${this.state.dir}`;
  }

  /** Reads `leader.json`: null when there is none. */
  async load(): Promise<StoreSnapshot | null> {
    const data = await this.state.readLeader();
    return data ? { data, revision: this.#revision } : null;
  }

  /**
   * Appends what changed since the last commit to the journal, or writes the document whole
   * (see the module docs); the one writer is always at its own revision.
   */
  commit(next: LeaderFile, base: number): Promise<number | null> {
    if (base !== this.#revision) return Promise.resolve(null);
    return this.#serial(async () => {
      const last = this.#last;
      // Until this commit is on disk nothing is known of what the files hold: a failure leaves
      // the next commit to write the document whole.
      this.#last = null;
      if (last && this.#journalBytes <= Math.max(this.#minJournalBytes, this.#documentBytes)) {
        this.#journalBytes = await this.state.appendLeader(journalLine(last, next));
      } else await this.#writeWhole(next);
      this.#last = next;
      return ++this.#revision;
    });
  }

  /**
   * Writes the document whole and empties the journal, after any commit under way: a clean
   * stop leaves one file to read.
   */
  compact(): Promise<void> {
    return this.#serial(async () => {
      if (this.#last && this.#journalBytes > 0) await this.#writeWhole(this.#last);
      this.state.closeJournal();
    });
  }

  async #writeWhole(d: LeaderFile): Promise<void> {
    this.#documentBytes = await this.state.writeLeader(d);
    this.#journalBytes = 0;
  }

  // Runs the file operations one after the other (a commit and a compaction never overlap).
  #serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(op);
    this.#chain = next.catch(() => {});
    return next;
  }

  /** Nothing to watch: no other writer. */
  watch(_from: number, _onChange: (s: StoreSnapshot) => void): () => void {
    return () => {};
  }
}
