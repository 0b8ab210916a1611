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
import type { KvStore } from "../../store/kv.ts";

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
    // Service leases in a shared store take the store's revisions as fencing tokens: they must
    // go on above the last token the state directory's leader issued.
    const last = data.leases?.last ?? 0;
    if (store.kv && last > 0) await raiseRevision(store.kv.store, store.kv.prefix, last);
    // Moved, not copied: a leader started on this directory without the store must not serve
    // the old mesh beside the one in the store (with --store, the store says it is a leader's).
    // A leader that did not stop cleanly left commits in its journal: folded into leader.json
    // first, so the file kept as migrated is the whole mesh.
    await state.writeLeader(data);
    await Deno.rename(state.path("leader.json"), state.path(MIGRATED_FILE));
    return { members: data.members.length, tokens: data.tokens.length, revision };
  } finally {
    lock.release();
  }
}

/** Key written (then deleted) to move the store's revision on. */
const FLOOR_KEY = "migrate-revision-floor";

/**
 * Writes one scratch key under `prefix` until the store's revision is above `floor` (each write
 * is one revision; up to 64 at once), then deletes it.
 */
export async function raiseRevision(kv: KvStore, prefix: string, floor: number): Promise<number> {
  const key = prefix + FLOOR_KEY;
  let revision = (await kv.get(key)).revision;
  while (revision <= floor) {
    const n = Math.min(64, floor - revision + 1);
    const answers = await Promise.all(Array.from({ length: n }, () => kv.put(key, "")));
    for (const a of answers) revision = Math.max(revision, a.revision);
  }
  return (await kv.delete({ key })).revision;
}
