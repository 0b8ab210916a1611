/**
 * Several leaders serving one mesh from one shared store: two MeshAgents as leaders on one
 * MemoryStore, on a memory network, with nodes joining through either (the join client moving
 * on from a leader that is down), concurrent joins at both, a removal at one reaching the
 * members of the other, and a store that refuses writes. The etcd store and the processes are
 * tested in tests/integration; the cores alone in leader/shared_store_test.ts.
 */
import assert from "node:assert/strict";
import { resolveMesh } from "./resolve.ts";
import { JoinError, MeshAgent, type MeshOptions } from "./mesh_agent.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { MemoryStore } from "./store/memory_store.ts";
import type { LeaderStore, StoreSnapshot } from "./store/store.ts";
import type { LeaderFile } from "./state/state.ts";
import { StoreError } from "../store/kv.ts";
import { createLogger, nullLogger } from "../log/logger.ts";
import { checkJoinToken, JoinUnavailableError, requestJoin } from "./join/client.ts";
import { decodeToken, encodeToken } from "./join/token.ts";
import { selectSuite } from "../crypto/select.ts";
import { generateKeyPair } from "../crypto/keys.ts";
import { eventually, HANG_GUARD_MS } from "../../tests/fixtures/netns.ts";

const PORT = 51820;
const NETWORK = "10.89.0.0/24";

/** A store over a shared one whose commits can be made to fail as etcd's do without quorum. */
class FlakyStore implements LeaderStore {
  failing = false;
  constructor(readonly inner: LeaderStore) {}
  get where(): string {
    return this.inner.where;
  }
  load(): Promise<StoreSnapshot | null> {
    return this.inner.load();
  }
  commit(next: LeaderFile, base: number): Promise<number | null> {
    if (this.failing) {
      return Promise.reject(new StoreError("no-quorum", "etcd", "etcdserver: no leader"));
    }
    return this.inner.commit(next, base);
  }
  watch(from: number, onChange: (s: StoreSnapshot) => void): () => void {
    return this.inner.watch(from, onChange);
  }
}

/** A memory network, a temp directory, and the agents started on them (closed at the end). */
class Lab {
  readonly net = new MemoryNetwork();
  readonly agents: MeshAgent[] = [];
  readonly logs = new Map<string, Record<string, unknown>[]>();
  constructor(readonly dir: string) {}

  options(name: string, ip: string, extra: Partial<MeshOptions> = {}): MeshOptions {
    const lines: Record<string, unknown>[] = [];
    this.logs.set(name, lines);
    return {
      role: "node",
      stateDir: `${this.dir}/${name}`,
      hostname: name,
      userspace: true,
      listenPort: PORT,
      dnsPort: 0,
      syncIntervalMs: 300,
      natTraversal: false,
      logger: createLogger({ format: "json", sink: (l) => lines.push(JSON.parse(l)) }),
      openTransport: (port) => Promise.resolve(this.net.bind(ip, port)),
      ...extra,
    };
  }

  async leader(name: string, ip: string, store: LeaderStore): Promise<MeshAgent<"leader">> {
    const a = await MeshAgent.start({
      ...this.options(name, ip),
      role: "leader",
      network: NETWORK,
      advertise: [`${ip}:${PORT}`],
      store,
    });
    this.agents.push(a);
    return a as MeshAgent<"leader">;
  }

  async node(name: string, ip: string, token: string, timeoutMs = 8000): Promise<MeshAgent> {
    const a = await MeshAgent.start({ ...this.options(name, ip), token, joinTimeoutMs: timeoutMs });
    this.agents.push(a);
    return a;
  }

  async stop(a: MeshAgent): Promise<void> {
    this.agents.splice(this.agents.indexOf(a), 1);
    await a.close();
  }

  /** The name of the leader whose answer `name`'s join took (its `joined` log line). */
  joinedThrough(name: string): unknown {
    return this.logs.get(name)?.find((l) => l.msg === "joined")?.leader;
  }
}

async function withLab(fn: (lab: Lab) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "weft-leaders-" });
  const lab = new Lab(dir);
  try {
    await fn(lab);
  } finally {
    for (const a of lab.agents.reverse()) await a.close().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

function until(what: string, check: () => boolean): Promise<void> {
  return eventually(() => Promise.resolve(check()), HANG_GUARD_MS).then((ok) =>
    assert.ok(ok, `timed out: ${what}`)
  );
}

/** Whether `a` reaches `b`: rounds of three pings until one is answered, up to the hang guard. */
async function pings(a: MeshAgent, b: MeshAgent): Promise<boolean> {
  return await eventually(async () => {
    const r = await a.agent.ping(b.self!.address, { count: 3, timeoutMs: 1000, intervalMs: 100 });
    return r.rtts.some((x) => x !== null);
  }, HANG_GUARD_MS);
}

Deno.test("several leaders: two leaders on one store serve one mesh; joins go through either, a removal at one reaches the other's members", async () => {
  await withLab(async (lab) => {
    const store = new MemoryStore();
    const l1 = await lab.leader("lead1", "192.0.2.1", store);
    let l2 = await lab.leader("lead2", "192.0.2.2", store);
    // The second leader is a member with its own address, from the store; each is the other's
    // peer, and the tunnel between them carries traffic.
    assert.equal(l1.self?.address, "10.89.0.1");
    assert.equal(l2.self?.address, "10.89.0.2");
    assert.equal(l2.self?.role, "leader");
    await until("leader 1 knows leader 2", () => l1.view().members.length === 2);
    assert.deepEqual(l1.leader.leaders().map((m) => m.name), ["lead1", "lead2"]);
    assert.ok(await pings(l1, l2), "the leaders reach each other through the tunnel");

    // A token made at leader 1 names both leaders, leader 1 first.
    const t1 = (await l1.createToken({ ttlMs: 60_000 })).token;
    assert.deepEqual(decodeToken(t1).leaders.map((l) => l.endpoints), [
      ["192.0.2.1:51820"],
      ["192.0.2.2:51820"],
    ]);
    const a = await lab.node("a", "198.51.100.1", t1);
    const b = await lab.node("b", "198.51.100.2", t1);
    assert.equal(lab.joinedThrough("a"), "lead1");
    await until("a sees b", () => a.view().members.some((m) => m.name === "b"));
    assert.ok(await pings(a, b));

    // b removed at leader 2: a, which uses leader 1, loses it through leader 1's watch; b hears.
    await until("leader 2 knows b", () => l2.view().members.some((m) => m.name === "b"));
    await l2.removeNode("b");
    await until("a no longer lists b", () => !a.view().members.some((m) => m.name === "b"));
    await until("b was told", () => b.removed);
    await lab.stop(b);

    // A token made at leader 2 (leader 2 first), leader 2 stopped: the join moves on to leader 1.
    const t2 = (await l2.createToken({ ttlMs: 60_000 })).token;
    assert.equal(decodeToken(t2).leaders[0].endpoints[0], "192.0.2.2:51820");
    await lab.stop(l2);
    const c = await lab.node("c", "198.51.100.3", t2);
    assert.equal(lab.joinedThrough("c"), "lead1");
    assert.ok(
      lab.logs.get("c")!.some((l) => l.msg === "no answer from a leader: asking the next"),
      "c asked leader 2 first",
    );
    // a hears of c from leader 1's push; c's first packets wait for that (sessions on demand).
    assert.ok(await pings(c, a), "c reaches a");

    // Leader 2 back: it catches up from the store. Leader 1 stopped: a token made at leader 1
    // joins through leader 2, at an address nobody holds.
    l2 = await lab.leader("lead2", "192.0.2.2", store);
    assert.ok(l2.view().members.some((m) => m.name === "c"), "leader 2 has c from the store");
    assert.equal(l2.self?.address, "10.89.0.2", "the same member as before");
    await lab.stop(l1);
    const d = await lab.node("d", "198.51.100.4", t1);
    assert.equal(lab.joinedThrough("d"), "lead2");
    const addresses = l2.view().members.map((m) => m.address);
    assert.equal(new Set(addresses).size, addresses.length, "every address distinct");
    assert.equal(addresses.length, 5, "two leaders, a, c, d");
    assert.ok(d.self?.address && !["10.89.0.1", "10.89.0.2"].includes(d.self.address));
  });
});

Deno.test("several leaders: concurrent joins at both leaders get distinct addresses; a one-use token admits one", async () => {
  await withLab(async (lab) => {
    const store = new MemoryStore();
    const l1 = await lab.leader("lead1", "192.0.2.1", store);
    const l2 = await lab.leader("lead2", "192.0.2.2", store);
    await until("leader 1 knows leader 2", () => l1.view().members.length === 2);
    const suite = selectSuite();
    // The same token with leader 2 first: what a join sees when leader 1 does not answer.
    const swapped = (text: string) => {
      const t = decodeToken(text);
      const [first, second] = t.leaders;
      return encodeToken({
        ...t,
        leaderKey: second.key,
        endpoints: second.endpoints,
        leaders: [second, first],
      });
    };
    const join = (token: string, i: number) =>
      requestJoin(
        resolveMesh({
          role: "node",
          stateDir: `${lab.dir}/n${i}`,
          hostname: `n${i}`,
          listenPort: PORT,
          joinTimeoutMs: 20_000,
          openTransport: (port) => Promise.resolve(lab.net.bind(`198.18.0.${i + 1}`, port)),
        }).join,
        checkJoinToken(token, suite.dh),
        generateKeyPair().privateKey,
        nullLogger,
      );
    const many = (await l1.createToken({ ttlMs: 60_000 })).token;
    await until("leader 2 knows the token", () => l2.leader.listTokens().length === 1);
    const conflicts = store.conflicts;
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => join(i % 2 ? swapped(many) : many, i)),
    );
    const keys = [l1.agent.device.publicKey, l2.agent.device.publicKey];
    assert.deepEqual(
      keys.map((k) => answers.filter((r) => r.answeredBy === k).length),
      [20, 20],
      "split across both leaders",
    );
    const addresses = answers.map((r) => r.member.address);
    assert.equal(new Set(addresses).size, 40, "every address distinct");
    assert.ok(store.conflicts > conflicts, "the two leaders' commits raced");
    assert.ok(!addresses.includes("10.89.0.1") && !addresses.includes("10.89.0.2"));
    for (const l of [l1, l2]) {
      await until("every join at both leaders", () => l.view().members.length === 42);
    }
    // One use, asked at both leaders at once: exactly one join.
    const once = (await l2.createToken({ ttlMs: 60_000, uses: 1 })).token;
    await until("leader 1 knows the token", () => l1.leader.listTokens().length === 2);
    const results = await Promise.allSettled([join(once, 100), join(swapped(once), 101)]);
    assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
    const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    assert.ok(refused.reason instanceof JoinError);
    assert.equal(refused.reason.message, "join refused: token used up");
  });
});

Deno.test("several leaders: a join the store refuses is refused with the store's error, at every leader; another leader that reaches the store takes it", async () => {
  await withLab(async (lab) => {
    const shared = new MemoryStore();
    const s1 = new FlakyStore(shared);
    const s2 = new FlakyStore(shared);
    const l1 = await lab.leader("lead1", "192.0.2.1", s1);
    const l2 = await lab.leader("lead2", "192.0.2.2", s2);
    const token = (await l1.createToken({ ttlMs: 60_000 })).token;
    await until("leader 2 knows the token", () => l2.leader.listTokens().length === 1);
    const a = await lab.node("a", "198.51.100.1", token);
    // Neither leader reaches the store: the joiner hears the store's words (exit 1, not 2).
    s1.failing = s2.failing = true;
    const refused = await lab.node("x", "198.51.100.9", token).then(
      () => assert.fail("joined without a store"),
      (e) => e,
    );
    assert.ok(refused instanceof JoinUnavailableError && !(refused instanceof JoinError));
    assert.equal(
      refused.message,
      "join refused: the store has no quorum (etcd: etcdserver: no leader)",
    );
    // Counted at the leaders, with the writes of members' hellos the store refused.
    await a.setServices([{ name: "web", port: 80, protocol: "tcp" }]);
    const storeRefusals = () =>
      Number(
        /^weft_member_refusals_total\{reason="store"\} (\d+)/m.exec(l1.agent.metrics.render())?.[1],
      );
    // The join, and at least one hello of a's with its new services.
    await until("leader 1 counts the refused writes", () => storeRefusals() >= 2);
    assert.ok(l1.view().members.every((m) => m.services.length === 0), "never from memory");
    // Leader 1 cut off from the store, leader 2 not: the join goes through leader 2.
    s2.failing = false;
    await lab.node("y", "198.51.100.10", token);
    assert.equal(lab.joinedThrough("y"), "lead2");
    assert.ok(
      lab.logs.get("y")!.some((l) => l.msg === "a leader's store refused the join"),
      "leader 1 refused first",
    );
    // The store back: the refused hello's services arrive at the next hello.
    s1.failing = false;
    await until(
      "a's services arrive",
      () => l1.view().members.find((m) => m.name === "a")?.services.length === 1,
    );
  });
});
