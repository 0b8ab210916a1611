/**
 * A node of a mesh with two leaders, in process on loopback (userspace, no DNS): it knows both
 * from its view, syncs with the one from its file, and, restarted while that one is down, moves
 * to the other within a few hellos, says so in one line, shows it in `/status` and records it in
 * its file. The second leader is a member whose record the test makes a leader by hand in the
 * first leader's store (several real leaders sharing one store are tested where they are made).
 */
import assert from "node:assert/strict";
import { MeshAgent, type MeshOptions } from "./mesh_agent.ts";
import { MemoryStore } from "./store/memory_store.ts";
import { createLogger, nullLogger } from "../log/logger.ts";
import { freePort } from "../../tests/fixtures/procs.ts";
import { eventually, HANG_GUARD_MS } from "../../tests/fixtures/netns.ts";

const SYNC_MS = 300;

function base(dir: string, name: string, port: number): MeshOptions {
  return {
    role: "node",
    stateDir: `${dir}/${name}`,
    hostname: name,
    userspace: true,
    listenPort: port,
    dnsPort: 0,
    logger: nullLogger,
    syncIntervalMs: SYNC_MS,
  };
}

/** Resolves once `ok` holds, within the hang guard. */
async function until(what: string, ok: () => boolean): Promise<void> {
  assert.ok(await eventually(() => Promise.resolve(ok()), HANG_GUARD_MS), what);
}

Deno.test("mesh agent: a node restarted while its leader is down syncs with the other leader of its view", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-failover-" });
  const store = new MemoryStore();
  const lp = freePort();
  let lead: MeshAgent | null = null;
  let second: MeshAgent | null = null;
  let node: MeshAgent | null = null;
  try {
    lead = await MeshAgent.start({
      ...base(dir, "lead", lp),
      role: "leader",
      advertise: [`127.0.0.1:${lp}`],
      store,
    });
    const { token } = await lead.createToken({ ttlMs: 60_000 });
    second = await MeshAgent.start({ ...base(dir, "second", freePort()), token });
    const np = freePort();
    node = await MeshAgent.start({ ...base(dir, "n", np), token });
    const secondKey = second.agent.device.publicKey;
    // A member made a leader by hand keeps running as a node, and a leader takes no hellos from
    // another leader (it follows the store): it must know the node before its record changes.
    const s = second;
    await until(
      "the second member knows the node",
      () => s.agent.status().peers.some((p) => p.name === "n"),
    );
    // The second member becomes a leader in the store; the first leader pushes the change.
    const snap = (await store.load())!;
    snap.data.members = snap.data.members.map((m) =>
      m.publicKey === secondKey ? { ...m, role: "leader" as const } : m
    );
    snap.data.version++;
    assert.ok(await store.commit(snap.data, snap.revision));
    const n = node;
    await until("the node knows both leaders", () => {
      const leaders = n.agent.status().node.leaders ?? [];
      return leaders.length === 2 && leaders.every((l) => l.answers === true);
    });
    const before = n.agent.status().node;
    assert.equal(before.leader?.name, "lead", "it syncs with the leader it joined through");
    assert.deepEqual(before.leaders!.map((l) => [l.name, l.inUse]), [
      ["lead", true],
      ["second", false],
    ]);
    await node.close();
    node = null;
    await lead.close();
    lead = null;

    // Restarted from its file alone (no token), its leader down.
    const lines: string[] = [];
    const logger = createLogger({ sink: (l) => lines.push(l) });
    node = await MeshAgent.start({ ...base(dir, "n", np), logger });
    const r = node;
    await until(
      "the node moves to the other leader",
      () => r.agent.status().node.leader?.name === "second",
    );
    const moved = lines.filter((l) => l.includes("now syncing with leader"));
    assert.equal(moved.length, 1, lines.join("\n"));
    assert.match(moved[0], /now syncing with leader second: lead stopped answering/);
    const st = r.agent.status().node;
    assert.equal(st.leader?.address, second.self?.address);
    assert.deepEqual(st.leaders!.map((l) => [l.name, l.inUse]), [
      ["lead", false],
      ["second", true],
    ]);
    await until("the file records the leader in use", () => {
      try {
        const file = JSON.parse(Deno.readTextFileSync(`${dir}/n/node.json`));
        return file.leader.publicKey === secondKey;
      } catch {
        return false;
      }
    });
    await until(
      "the other leader is heard answering, the first one not",
      () => r.agent.status().node.leaders!.find((l) => l.name === "lead")?.answers === false,
    );
  } finally {
    await node?.close();
    await second?.close();
    await lead?.close();
    await Deno.remove(dir, { recursive: true });
  }
});
