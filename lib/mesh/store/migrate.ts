/**
 * `weft store migrate`: moves a single leader's mesh from its state directory (`leader.json`)
 * into a shared store (etcd) whose prefix holds no document yet, whole: members and their
 * addresses, tokens, join records, policy, leases and the LAN key. The leader's own key stays in
 * its state directory (`leader.json` is kept as `leader.json.migrated`); the leader then runs on
 * the same directory with `--store`.
 * @module
 */

import { StateDir } from "../state/state.ts";
import type { LeaderStore } from "./store.ts";

/** What `leader.json` is renamed to once the store holds it. */
export const MIGRATED_FILE = "leader.json.migrated";

/** What {@link migrateToStore} moved. */
export interface MigrateResult {
  /** Members moved (the leader among them). */
  members: number;
  /** Tokens moved. */
  tokens: number;
  /** The store's revision of the document written. */
  revision: number;
}

/**
 * Copies `leader.json` of `stateDir` into `store` as its first document, then renames it
 * {@link MIGRATED_FILE}. The directory is locked meanwhile: a leader running on it is an error,
 * as are a directory without a leader's state and a store that holds a document already
 * (nothing is overwritten).
 */
export async function migrateToStore(stateDir: string, store: LeaderStore): Promise<MigrateResult> {
  const state = new StateDir(stateDir);
  // Locking makes a missing directory: there is nothing to migrate from one.
  const isDir = await Deno.stat(stateDir).then((s) => s.isDirectory, () => false);
  if (!isDir) throw new Error(`${stateDir} is not a state directory: nothing to migrate`);
  // The lock keeps the leader from starting (and changing leader.json) while it is copied.
  const lock = await state.lock();
  try {
    const data = await state.readLeader();
    if (!data) {
      throw new Error(`${stateDir} holds no leader's state (leader.json): nothing to migrate`);
    }
    const held = await store.load();
    if (held) {
      throw new Error(
        `${store.where} holds a mesh already (${held.data.members.length} members, network ` +
          `${held.data.network}): migrate into an empty prefix (--store-prefix)`,
      );
    }
    const revision = await store.commit(data, 0);
    if (revision === null) {
      throw new Error(`${store.where}: another writer created a mesh there meanwhile`);
    }
    // Moved, not copied: a leader started on this directory without the store must not serve
    // the old mesh beside the one in the store (with --store, the store says it is a leader's).
    await Deno.rename(state.path("leader.json"), state.path(MIGRATED_FILE));
    return { members: data.members.length, tokens: data.tokens.length, revision };
  } finally {
    lock.release();
  }
}
