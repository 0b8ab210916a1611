/**
 * Where the leader keeps its state: a {@link LeaderStore} holds the leader's document at a
 * revision and writes a new one only on the revision it was computed from, so several leaders
 * sharing one store (etcd) never both commit an edit of the same snapshot. The state directory
 * is the default store (lib/mesh/store/file_store.ts); docs/design/leader-store.md says how the
 * document maps to etcd keys.
 * @module
 */

import type { LeaderFile } from "../state/state.ts";
import type { KvStore } from "../../store/kv.ts";

/** The leader's document as a store holds it, at a revision. */
export interface StoreSnapshot {
  /**
   * The document. Neither the store nor the caller edits it in place (a change edits a copy, as
   * the leader's change queue does): a shared store compares the next commit, a copy of it, with
   * it record by record.
   */
  data: LeaderFile;
  /** The store's revision of it: higher for every later commit, by any writer. */
  revision: number;
}

/** A store of the leader's document: the state directory, an etcd cluster, memory for tests. */
export interface LeaderStore {
  /** Where the state is, for messages: `the state in /var/lib/weft`. */
  readonly where: string;
  /**
   * The key-value store under this one and the prefix of weft's keys in it, when there is one
   * (etcd): other shared records (service leases) live beside the document there.
   */
  readonly kv?: { store: KvStore; prefix: string };
  /**
   * The most changes (joins, hellos, removals) one commit may carry, where the store bounds a
   * transaction; absent: no bound.
   */
  readonly maxChangesPerCommit?: number;
  /**
   * True for a store only one leader uses (the state directory): there a key the document does
   * not hold is this leader's key lost or replaced, not another leader joining the mesh.
   */
  readonly single?: boolean;
  /** The document and its revision; null when the store holds none yet. */
  load(): Promise<StoreSnapshot | null>;
  /**
   * Writes `next` if the store is still at revision `base` (0: holds no document): the new
   * revision, or null when another writer committed first (nothing was written; load again).
   * A rejection (disk, quorum) means nothing was written either. `next` is not edited once given
   * (the next commit is a copy of it): a store may compare that commit with it record by record.
   */
  commit(next: LeaderFile, base: number): Promise<number | null>;
  /**
   * Calls `onChange` with every document committed after revision `from`, in order (a store may
   * skip to the newest when several arrive together); returns what stops it. The caller's own
   * commits come too, at revisions it already has (a shared store may give the very document
   * committed).
   */
  watch(from: number, onChange: (s: StoreSnapshot) => void): () => void;
  /**
   * Writes what the store holds in its most compact form once the commits under way are done
   * (the state directory: the whole document, its journal emptied); absent where there is
   * nothing to fold. Called at a clean stop.
   */
  compact?(): Promise<void>;
  /** How a shared store answers (absent for the state directory and memory). */
  health?(): StoreHealth;
  /** Stops what the store runs by itself (probes, watches); absent when it runs nothing. */
  close?(): void;
}

/** How a shared store (etcd) answered lately, for status. */
export interface StoreHealth {
  /** The store's name (`etcd://127.0.0.1:2379`). */
  store: string;
  /** Where the state is in it, for messages. */
  where: string;
  /** Whether its last call or probe succeeded. */
  ok: boolean;
  /** The last failure's message, when not ok. */
  error?: string;
  /** The revision of the newest document this leader knows. */
  revision: number;
  /** Unix ms since when `ok` has been what it is. */
  since: number;
}
