/** migrateToStore: the whole document moves; a missing, locked or empty directory and a store that holds a mesh are refused. */
import assert from "node:assert/strict";
import { type LeaderFile, StateDir } from "../state/state.ts";
import { RecordMap } from "../state/record_map.ts";
import { newLanKey } from "../state/lan_key.ts";
import { generateKeyPair } from "../../crypto/keys.ts";
import { MemoryStore } from "./memory_store.ts";
import { migrateToStore } from "./migrate.ts";
import { KvLeaderStore } from "./kv_leader_store.ts";
import { MemoryKv } from "../../store/memory_kv.ts";

function doc(): LeaderFile {
  return {
    format: 1,
    network: "10.77.0.0/24",
    version: 3,
    members: [{
      name: "leader",
      publicKey: generateKeyPair().publicKey,
      address: "10.77.0.1",
      endpoints: ["192.0.2.1:51820"],
      labels: {},
      role: "leader",
      services: [],
      joinedAt: 1,
    }],
    tokens: [{
      id: "0a0b0c0d0e0f",
      secretHash: "h",
      createdAt: 1,
      expiresAt: 2,
      usesLeft: null,
      labels: {},
      revoked: false,
    }],
    joins: new RecordMap(),
    policy: { version: 2, text: "allow all" },
    lanKey: newLanKey(),
  };
}

Deno.test("migrate: leader.json moves whole into an empty store; refusals change nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-migrate-" });
  try {
    const store = new MemoryStore();
    await assert.rejects(migrateToStore(`${dir}/none`, store), /is not a state directory/);
    await assert.rejects(migrateToStore(dir, store), /holds no leader's state/);
    const data = doc();
    await new StateDir(dir).writeLeader(data);
    // A running leader holds the directory's lock.
    const lock = await new StateDir(dir).lock();
    await assert.rejects(migrateToStore(dir, store), /is in use by another process/);
    lock.release();
    assert.equal(await store.load(), null);
    const r = await migrateToStore(dir, store);
    assert.deepEqual(r, { members: 1, tokens: 1, revision: 1 });
    // As JSON: the join records are a RecordMap, whose entries deepEqual does not see.
    assert.deepEqual(
      JSON.parse(JSON.stringify((await store.load())?.data)),
      JSON.parse(JSON.stringify(data)),
    );
    // Moved: the directory holds no leader's state now, only the old file by another name.
    assert.equal(await new StateDir(dir).readLeader(), null);
    assert.ok((await Deno.stat(`${dir}/leader.json.migrated`)).isFile);
    // Never over a mesh.
    await new StateDir(dir).writeLeader(data);
    await assert.rejects(migrateToStore(dir, store), /holds a mesh already/);
    assert.equal((await store.load())?.revision, 1);
    assert.ok(await new StateDir(dir).readLeader(), "a refusal leaves leader.json");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("migrate: into a shared store, its revisions go on above the last lease token issued", async () => {
  const dir = await Deno.makeTempDir();
  const kv = new MemoryKv();
  const store = new KvLeaderStore(kv, { probeMs: 0 });
  try {
    const d = { ...doc(), leases: { last: 300, held: {} } };
    await new StateDir(dir).writeLeader(d);
    await migrateToStore(dir, store);
    // The next write (a service lease granted at a leader) gets a revision above every token.
    const a = await kv.put("/weft/service-leases/web", "{}");
    assert.ok(a.revision > 300, `revision ${a.revision}`);
    assert.equal(
      (await kv.get("/weft/migrate-revision-floor")).kv,
      null,
      "the scratch key is gone",
    );
    assert.equal((await store.load())!.data.members.length, 1);
  } finally {
    store.close();
    await kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});
