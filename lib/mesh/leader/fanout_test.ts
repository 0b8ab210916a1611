import assert from "node:assert/strict";
import { Fanout } from "./fanout.ts";
import { SNAPSHOT_IDLE_MS, SNAPSHOT_KEEP, SNAPSHOT_REUSE_MS } from "./group_snapshots.ts";
import { LeaderCore } from "./core.ts";
import { type ControlMessage, parseMessage, ViewAssembler } from "../sync/protocol.ts";
import { generateKeyPair } from "../../crypto/keys.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { compilePolicyText } from "../../policy/source.ts";

/** A leader's state in memory, its fan-out following it, and members joined with labels. */
async function mesh(
  opts: { logMax?: number; now?: () => number; network?: string; window?: number } = {},
) {
  const core = await LeaderCore.open(null, {
    network: opts.network ?? "10.6.0.0/24",
    hostname: "lead",
    publicKey: generateKeyPair().publicKey,
    endpoints: ["192.0.2.1:51820"],
  });
  const fanout = new Fanout(core, opts);
  core.onChange((v) => fanout.update(v));
  const join = async (hostname: string, labels: Record<string, string> = {}) => {
    const t = await core.createToken({ ttlMs: 60_000, uses: null, labels });
    const res = await core.join({
      tokenId: t.id,
      secret: t.secret,
      publicKey: generateKeyPair().publicKey,
      hostname,
      labels: {},
      services: [],
      endpoints: [],
      time: Date.now(),
    }, null);
    if (!res.ok) throw new Error(res.error);
    return res.member;
  };
  const policy = (text: string) => core.setPolicy(compilePolicyText(text).canonical);
  return { core, fanout, join, policy };
}

/** A node's view, as it applies what the leader sends it; the kinds of message it got. */
class Node {
  view: MembershipView;
  readonly got: string[] = [];
  readonly #assembler = new ViewAssembler();

  constructor(readonly key: string) {
    this.view = { network: "", version: 0, members: [] };
  }

  take(parts: Uint8Array[]): void {
    for (const bytes of parts) {
      const msg = parseMessage(bytes) as ControlMessage;
      this.got.push(msg.t);
      if (msg.t !== "view" && msg.t !== "delta") continue;
      const v = this.#assembler.add(msg, this.view);
      if (v && v.version > this.view.version) this.view = v;
    }
  }

  names(): string[] {
    return this.view.members.map((m) => m.name).sort();
  }

  /** The snapshot being assembled, as the node's hello and fetch say it. */
  snapshot(): { v: number; part: number } | null {
    const s = this.#assembler.snapshot();
    return s ? { v: s.v, part: s.next } : null;
  }
}

/** The members of `members` as records, sorted by key, for comparing views. */
function records(members: Member[]): string {
  return JSON.stringify([...members].sort((a, b) => a.publicKey < b.publicKey ? -1 : 1));
}

const WEB_TO_DB = `
policies:
  - name: web-db
    action: allow
    from: "role=web"
    to: "role=db"
    proto: tcp
    ports: [5432]
`;

Deno.test("fanout: a member that missed versions gets a delta that brings it to the view", async () => {
  const m = await mesh();
  const n1 = await m.join("n1");
  const n2 = await m.join("n2");
  const node = new Node(n1.publicKey);
  node.take(m.fanout.answer(n1.publicKey, 0));
  assert.deepEqual(node.got, ["view"]);
  assert.deepEqual(node.names(), ["lead", "n1", "n2"]);
  // Versions it misses: joins, an update, a removal.
  await m.join("n3");
  await m.core.updateMember(n2.publicKey, { endpoints: ["198.51.100.7:1"] });
  await m.join("n4");
  await m.core.removeNode("n3");
  node.got.length = 0;
  node.take(m.fanout.answer(n1.publicKey, node.view.version));
  assert.deepEqual(node.got, ["delta"]);
  assert.equal(node.view.version, m.core.view().version);
  assert.equal(records(node.view.members), records(m.core.view().members));
  // At the current version there is nothing to send.
  assert.deepEqual(m.fanout.answer(n1.publicKey, node.view.version), []);
});

Deno.test("fanout: a member past the change log gets the whole view", async () => {
  const m = await mesh({ logMax: 3 });
  const n1 = await m.join("n1");
  const node = new Node(n1.publicKey);
  node.take(m.fanout.answer(n1.publicKey, 0));
  const held = node.view.version;
  for (let i = 0; i < 6; i++) await m.join(`x${i}`);
  node.got.length = 0;
  node.take(m.fanout.answer(n1.publicKey, held));
  assert.deepEqual([...new Set(node.got)], ["view"]);
  assert.equal(records(node.view.members), records(m.core.view().members));
});

Deno.test("fanout: a member offline through many changes catches up at its next hello", async () => {
  const m = await mesh();
  const n1 = await m.join("n1");
  const node = new Node(n1.publicKey);
  node.take(m.fanout.answer(n1.publicKey, 0));
  await m.core.leave(n1.publicKey);
  const others: Member[] = [];
  for (let i = 0; i < 40; i++) others.push(await m.join(`x${i}`));
  for (const o of others.slice(0, 20)) await m.core.removeNode(o.name);
  for (const o of others.slice(20)) {
    await m.core.updateMember(o.publicKey, { endpoints: ["203.0.113.9:9"] });
  }
  node.got.length = 0;
  node.take(m.fanout.answer(n1.publicKey, node.view.version));
  assert.deepEqual([...new Set(node.got)], ["delta"]);
  assert.equal(records(node.view.members), records(m.core.view().members));
  assert.equal(node.view.members.length, 22);
});

Deno.test("fanout: a change is encoded once for every member told, not once per member", async () => {
  const m = await mesh();
  const nodes: Member[] = [];
  for (let i = 0; i < 30; i++) nodes.push(await m.join(`n${i}`));
  const told = new Map();
  const sent: [string, Uint8Array][] = [];
  m.fanout.push(nodes, told, (to, b) => sent.push([to, b]));
  await m.core.updateMember(nodes[0].publicKey, { endpoints: ["198.51.100.1:1"] });
  sent.length = 0;
  const before = m.fanout.encodings;
  assert.equal(m.fanout.push(nodes, told, (to, b) => sent.push([to, b])), 30);
  assert.equal(m.fanout.encodings - before, 1);
  assert.equal(sent.length, 30);
  // One buffer, shared.
  assert.equal(new Set(sent.map(([, b]) => b)).size, 1);
  const msg = parseMessage(sent[0][1]) as Extract<ControlMessage, { t: "delta" }>;
  assert.deepEqual(msg.members.map((x) => x.name), ["n0"]);
  // Hellos from every member at the old version: answered from what the push encoded.
  const mid = m.fanout.encodings;
  for (const n of nodes) m.fanout.answer(n.publicKey, msg.from);
  assert.equal(m.fanout.encodings - mid, 0);
  // From an older version: one encoding for them all.
  for (const n of nodes) m.fanout.answer(n.publicKey, msg.from - 1);
  assert.equal(m.fanout.encodings - mid, 1);
  // Told already: nothing more to push.
  assert.equal(m.fanout.push(nodes, told, (to, b) => sent.push([to, b])), 0);
});

Deno.test("fanout: scoped views follow the policy; a member never hears of members outside its scope", async () => {
  const m = await mesh();
  const web1 = await m.join("web1", { role: "web" });
  const web2 = await m.join("web2", { role: "web" });
  const db = await m.join("db", { role: "db" });
  const ops = await m.join("ops", { role: "ops" });
  await m.policy(WEB_TO_DB);
  const nodes = new Map([web1, web2, db, ops].map((x) => [x.publicKey, new Node(x.publicKey)]));
  const sync = () => {
    for (const n of nodes.values()) {
      const parts = m.fanout.answer(n.key, n.view.version);
      const allowed = new Set(m.fanout.membersFor(n.key).map((x) => x.publicKey));
      for (const b of parts) {
        const msg = parseMessage(b)!;
        if (msg.t === "view" || msg.t === "delta") {
          for (const x of msg.members) assert.ok(allowed.has(x.publicKey), x.name);
        }
      }
      n.take(parts);
    }
  };
  sync();
  const names = (x: Member) => nodes.get(x.publicKey)!.names();
  assert.deepEqual(names(web1), ["db", "lead", "web1"]);
  assert.deepEqual(names(db), ["db", "lead", "web1", "web2"]);
  assert.deepEqual(names(ops), ["lead", "ops"]);
  // A new web member: the db and the other web members' scopes differ (db sees it, web not).
  await m.join("web3", { role: "web" });
  sync();
  assert.deepEqual(names(db), ["db", "lead", "web1", "web2", "web3"]);
  assert.deepEqual(names(web1), ["db", "lead", "web1"]);
  // Narrower: only ops reaches the db. web1 drops the db; the db drops the web members.
  await m.policy(WEB_TO_DB.replace('"role=web"', '"role=ops"'));
  sync();
  assert.deepEqual(names(web1), ["lead", "web1"]);
  assert.deepEqual(names(db), ["db", "lead", "ops"]);
  assert.deepEqual(names(ops), ["db", "lead", "ops"]);
  // Wider again: they come back.
  await m.policy(WEB_TO_DB);
  sync();
  assert.deepEqual(names(web1), ["db", "lead", "web1"]);
  assert.deepEqual(names(ops), ["lead", "ops"]);
  // A member's own labels (node.weft/) move it: the policy picks them.
  await m.policy(WEB_TO_DB.replace('"role=web"', '"node.weft/tier=front"'));
  sync();
  assert.deepEqual(names(db), ["db", "lead"]);
  await m.core.updateMember(ops.publicKey, { nodeLabels: { "node.weft/tier": "front" } });
  sync();
  assert.deepEqual(names(db), ["db", "lead", "ops"]);
  assert.deepEqual(names(ops), ["db", "lead", "ops"]);
  await m.core.updateMember(ops.publicKey, { nodeLabels: {} });
  sync();
  assert.deepEqual(names(db), ["db", "lead"]);
  assert.deepEqual(names(ops), ["lead", "ops"]);
  // No policy: every member sees every member.
  await m.core.setPolicy("policies: []\n");
  sync();
  assert.deepEqual(names(ops), ["db", "lead", "ops", "web1", "web2", "web3"]);
});

Deno.test("fanout: a removed member is told with the leaders only", async () => {
  const m = await mesh();
  await m.join("n1");
  const gone = m.fanout.goneParts(m.core.view());
  const msg = parseMessage(gone[0]) as Extract<ControlMessage, { t: "view" }>;
  assert.deepEqual(msg.members.map((x) => x.name), ["lead"]);
});

Deno.test("fanout: a push tells only the groups that see the change, each with its own bytes", async () => {
  const m = await mesh();
  const web1 = await m.join("web1", { role: "web" });
  const web2 = await m.join("web2", { role: "web" });
  const db = await m.join("db", { role: "db" });
  const ops = await m.join("ops", { role: "ops" });
  await m.policy(WEB_TO_DB);
  const members = [web1, web2, db, ops];
  const nodes = new Map(members.map((x) => [x.address, new Node(x.publicKey)]));
  for (const n of nodes.values()) n.take(m.fanout.answer(n.key, 0));
  const told = new Map();
  const push = () => {
    const sent: [string, Uint8Array][] = [];
    m.fanout.push(members, told, (to, b) => sent.push([to, b]));
    for (const [to, b] of sent) nodes.get(to)!.take([b]);
    return [...new Set(sent.map(([to]) => to))].sort();
  };
  // Each member was answered at this version (its whole view): the push does not tell it again.
  assert.deepEqual(push(), []);
  assert.deepEqual(push(), []);
  // db moves: the web members see it (a delta, with each one's own record in a part of its
  // own: web members do not see each other); ops does not, and is not told.
  await m.core.updateMember(db.publicKey, { endpoints: ["198.51.100.4:4"] });
  assert.deepEqual(push(), [web1.address, web2.address].sort());
  for (const w of [web1, web2]) {
    const n = nodes.get(w.address)!;
    assert.equal(n.view.version, m.core.view().version);
    assert.deepEqual(n.names(), ["db", "lead", w.name]);
    assert.deepEqual(n.view.members.find((x) => x.name === "db")?.endpoints, ["198.51.100.4:4"]);
  }
  // web1 moves: db sees it; web2 does not.
  await m.core.updateMember(web1.publicKey, { endpoints: ["198.51.100.2:2"] });
  assert.deepEqual(push(), [db.address]);
  // web1 hears of its own record at its next hello (a part of its own); web2's answer has none.
  const n1 = nodes.get(web1.address)!;
  n1.take(m.fanout.answer(web1.publicKey, n1.view.version));
  assert.equal(n1.view.version, m.core.view().version);
  assert.deepEqual(n1.view.members.find((x) => x.name === "web1")?.endpoints, ["198.51.100.2:2"]);
  assert.deepEqual(n1.names(), ["db", "lead", "web1"]);
  const n2 = nodes.get(web2.address)!;
  const parts = m.fanout.answer(web2.publicKey, n2.view.version);
  assert.equal(parts.length, 1, "an empty delta, no part of its own");
  n2.take(parts);
  assert.deepEqual(n2.names(), ["db", "lead", "web2"]);
});

Deno.test("fanout: a new policy tells each member only what it gains and loses, not its whole view", async () => {
  const m = await mesh();
  const web = await m.join("web", { role: "web" });
  const db = await m.join("db", { role: "db" });
  const ops = await m.join("ops", { role: "ops" });
  const nodes = [web, db, ops].map((x) => new Node(x.publicKey));
  // What each member is answered from the version it holds: the records it carries.
  const sync = () =>
    nodes.map((n) => {
      const parts = m.fanout.answer(n.key, n.view.version);
      let records = 0;
      for (const b of parts) {
        const msg = parseMessage(b)!;
        if (msg.t === "view" || msg.t === "delta") records += msg.members.length;
      }
      const kinds = parts.map((b) => parseMessage(b)!.t);
      n.take(parts);
      return { kinds, records };
    });
  sync();
  // A policy that allows every pair scopes nobody differently: an empty delta each.
  await m.policy('policies:\n  - name: all\n    action: allow\n    from: "*"\n    to: "*"\n');
  for (const a of sync()) assert.deepEqual(a, { kinds: ["delta"], records: 0 });
  // Narrower: nobody reaches anybody: removals, and each member's own record (its group no
  // longer sees itself, so the others of its group drop it and it keeps itself).
  await m.policy(WEB_TO_DB.replace('"role=web"', '"role=nobody"'));
  const narrowed = sync();
  for (const a of narrowed) assert.deepEqual(a, { kinds: ["delta", "delta"], records: 1 });
  assert.deepEqual(nodes[0].names(), ["lead", "web"]);
  assert.deepEqual(nodes[1].names(), ["db", "lead"]);
  // Wider again: each gets back the records it lost, and its own (no group sees itself here).
  await m.policy(WEB_TO_DB);
  const widened = sync();
  assert.deepEqual(widened.map((a) => a.records), [2, 2, 1]);
  assert.deepEqual(nodes[0].names(), ["db", "lead", "web"]);
  assert.deepEqual(nodes[1].names(), ["db", "lead", "web"]);
  assert.deepEqual(nodes[2].names(), ["lead", "ops"]);
});

Deno.test("fanout: a member answered between pushes is pushed what changed since its answer", async () => {
  const m = await mesh();
  const a = await m.join("a");
  const b = await m.join("b");
  const members = [a, b];
  const nodes = new Map(members.map((x) => [x.address, new Node(x.publicKey)]));
  const told = new Map();
  const push = () => {
    const sent: [string, Uint8Array][] = [];
    m.fanout.push(members, told, (to, bytes) => sent.push([to, bytes]));
    for (const [to, bytes] of sent) nodes.get(to)!.take([bytes]);
    return sent.length;
  };
  for (const n of nodes.values()) n.take(m.fanout.answer(n.key, 0));
  push();
  // c joins and is pushed to a and b; then d joins and a says hello: it holds d's version now,
  // a version its group was never told.
  await m.join("c");
  push();
  await m.join("d");
  const na = nodes.get(a.address)!;
  na.take(m.fanout.answer(a.publicKey, na.view.version));
  assert.equal(na.view.version, m.core.view().version);
  await m.join("e");
  push();
  // Both hold the new version: a's delta starts at its answer's version, b's at the push's.
  for (const n of nodes.values()) {
    assert.equal(n.view.version, m.core.view().version);
    assert.deepEqual(n.names(), ["a", "b", "c", "d", "e", "lead"]);
  }
});

// A small window (the protocol's is 128 parts): a mesh of 100 makes a view of several.
const WINDOW = 4;

Deno.test("fanout: a whole view is a shared snapshot fetched a window at a time, then a delta", async () => {
  let clock = 0;
  const m = await mesh({ now: () => clock, window: WINDOW });
  const members: Member[] = [];
  for (let i = 0; i < 100; i++) members.push(await m.join(`n${i}`));
  const [a, b] = [new Node(members[0].publicKey), new Node(members[1].publicKey)];
  const first = m.fanout.fetch(a.key, 0);
  assert.equal(first.length, WINDOW, "one window, not the whole view");
  const before = m.fanout.encodings;
  const again = m.fanout.fetch(b.key, 0);
  // The same bytes for every member of the group: no encoding for the second.
  assert.equal(m.fanout.encodings, before);
  assert.ok(again.every((bytes, i) => bytes === first[i]));
  a.take(first);
  const snap = a.snapshot()!;
  assert.deepEqual(snap, { v: m.core.view().version, part: WINDOW });
  // A change meanwhile: the snapshot is still the one fetched, its delta follows.
  clock += 10;
  const late = await m.join("late");
  let windows = 1;
  for (let s = a.snapshot(); s; s = a.snapshot()) {
    a.take(m.fanout.fetch(a.key, a.view.version, s));
    windows++;
  }
  assert.ok(windows >= 3, `${windows} windows`);
  assert.equal(a.view.version, snap.v);
  assert.ok(!a.names().includes("late"));
  // Its last part ended with the notice of the newer version; a hello from it gets the delta.
  assert.equal(a.got.at(-1), "changed");
  a.got.length = 0;
  a.take(m.fanout.fetch(a.key, a.view.version));
  assert.deepEqual(a.got, ["delta"]);
  assert.equal(records(a.view.members), records(m.core.view().members));
  assert.ok(a.names().includes(late.name));
});

Deno.test("fanout: a member that falls behind a snapshot no longer kept starts over with the newest (resync)", async () => {
  let clock = 0;
  const m = await mesh({ now: () => clock, window: WINDOW });
  const members: Member[] = [];
  for (let i = 0; i < 100; i++) members.push(await m.join(`n${i}`));
  const slow = new Node(members[0].publicKey);
  slow.take(m.fanout.fetch(slow.key, 0));
  const old = slow.snapshot()!;
  // It goes quiet past the idle time; the fleet moves on: each new snapshot made past the reuse
  // time, as many as are kept.
  clock += SNAPSHOT_IDLE_MS;
  for (let i = 0; i < SNAPSHOT_KEEP; i++) {
    clock += SNAPSHOT_REUSE_MS + 1;
    await m.join(`x${i}`);
    const other = new Node(members[1 + i].publicKey);
    other.take(m.fanout.fetch(other.key, 0));
    assert.equal(other.snapshot()!.v, m.core.view().version);
  }
  assert.equal(m.fanout.snapshots, SNAPSHOT_KEEP);
  // The slow member asks for its next window of the snapshot gone: the newest, from part 0.
  const parts = m.fanout.fetch(slow.key, slow.view.version, old);
  const msg = parseMessage(parts[0]) as Extract<ControlMessage, { t: "view" }>;
  assert.equal(msg.part, 0);
  assert.equal(msg.v, m.core.view().version);
  slow.take(parts);
  assert.equal(slow.snapshot()!.v, m.core.view().version, "it assembles the newest now");
  for (let s = slow.snapshot(); s; s = slow.snapshot()) {
    slow.take(m.fanout.fetch(slow.key, slow.view.version, s));
  }
  assert.equal(slow.view.version, m.core.view().version);
  assert.equal(records(slow.view.members), records(m.core.view().members));
});

Deno.test("fanout: a member slower than the snapshots' turnover finishes the one it fetches, not started over again and again", async () => {
  let clock = 0;
  const m = await mesh({ now: () => clock, window: WINDOW, network: "10.6.0.0/16" });
  const members: Member[] = [];
  for (let i = 0; i < 100; i++) members.push(await m.join(`n${i}`));
  const slow = new Node(members[0].publicKey);
  slow.take(m.fanout.fetch(slow.key, 0));
  const first = slow.snapshot()!;
  let windows = 1;
  // Between two of its windows, more members start their views than snapshots are kept, each
  // past the reuse time (a burst of joins on a loaded leader): the slow member still fetches
  // within the idle time.
  let joined = 0;
  const started: number[] = [];
  for (let s = slow.snapshot(); s && windows < 40; s = slow.snapshot(), windows++) {
    for (let k = 0; k < SNAPSHOT_KEEP + 1; k++) {
      clock += SNAPSHOT_REUSE_MS + 1;
      const x = await m.join(`x${joined++}`);
      new Node(x.publicKey).take(m.fanout.fetch(x.publicKey, 0));
    }
    const parts = m.fanout.fetch(slow.key, slow.view.version, s);
    const head = parseMessage(parts[0]) as Extract<ControlMessage, { t: "view" }>;
    if (head.v !== s.v) started.push(head.v);
    slow.take(parts);
  }
  assert.deepEqual(started, [], `started over ${started.length} times in ${windows} windows`);
  assert.equal(slow.view.version, first.v, "it holds the snapshot it started");
  assert.ok(m.fanout.snapshots <= SNAPSHOT_KEEP, `${m.fanout.snapshots} kept`);
  // The joiners meanwhile shared the newest snapshot kept; what changed since, a delta brings.
  slow.take(m.fanout.fetch(slow.key, slow.view.version));
  assert.equal(records(slow.view.members), records(m.core.view().members));
});

Deno.test("fanout: a snapshot a member is fetching is kept; one nobody fetched for a while goes", async () => {
  let clock = 0;
  const m = await mesh({ now: () => clock, window: WINDOW });
  const members: Member[] = [];
  for (let i = 0; i < 60; i++) members.push(await m.join(`n${i}`));
  const [busy, idle] = [new Node(members[0].publicKey), new Node(members[1].publicKey)];
  busy.take(m.fanout.fetch(busy.key, 0));
  clock += SNAPSHOT_REUSE_MS + 1;
  await m.join("x0");
  idle.take(m.fanout.fetch(idle.key, 0));
  const [kept, gone] = [busy.snapshot()!, idle.snapshot()!];
  assert.notEqual(kept.v, gone.v);
  // The busy member goes on fetching; the other stops. Later snapshots are made meanwhile.
  for (let i = 1; i < 4; i++) {
    clock += SNAPSHOT_IDLE_MS / 2;
    busy.take(m.fanout.fetch(busy.key, busy.view.version, busy.snapshot()));
    await m.join(`x${i}`);
    new Node(members[2 + i].publicKey).take(m.fanout.fetch(members[2 + i].publicKey, 0));
  }
  assert.equal(m.fanout.keeps(busy.key, kept.v), true);
  assert.equal(m.fanout.keeps(idle.key, gone.v), false);
});

/** Whether `bytes` is a packed part (lib/mesh/sync/packed.ts). */
function isPacked(bytes: Uint8Array): boolean {
  const msg = parseMessage(bytes);
  return (msg?.t === "view" || msg?.t === "delta") && msg.z !== undefined;
}

Deno.test("fanout: a member that takes packed parts fetches its snapshot in under a third of the datagrams, the same view", async () => {
  const clock = 0;
  const m = await mesh({ now: () => clock, network: "10.6.0.0/16" });
  const members: Member[] = [];
  for (let i = 0; i < 300; i++) members.push(await m.join(`n${i}`));
  const [plain, packed] = [new Node(members[0].publicKey), new Node(members[1].publicKey)];
  m.fanout.packs(packed.key, true);
  const fetchAll = (n: Node) => {
    let datagrams = 0;
    let parts = m.fanout.fetch(n.key, 0);
    for (;;) {
      datagrams += parts.length;
      n.take(parts);
      const s = n.snapshot();
      if (!s) return datagrams;
      parts = m.fanout.fetch(n.key, n.view.version, s);
    }
  };
  const [a, b] = [fetchAll(plain), fetchAll(packed)];
  assert.ok(b * 3 < a, `${b} packed datagrams, ${a} JSON`);
  for (const n of [plain, packed]) {
    assert.equal(n.view.version, m.core.view().version);
    assert.equal(records(n.view.members), records(m.core.view().members));
  }
  // A member whose hello no longer says so (a restart into an older agent) gets JSON again.
  m.fanout.packs(packed.key, false);
  assert.ok(!m.fanout.fetch(packed.key, 0).some(isPacked));
});

Deno.test("fanout: one push tells packed and JSON members, each encoding made once for the group", async () => {
  const m = await mesh();
  const members: Member[] = [];
  for (let i = 0; i < 6; i++) members.push(await m.join(`n${i}`));
  const nodes = new Map(members.map((x) => [x.address, new Node(x.publicKey)]));
  for (const n of nodes.values()) n.take(m.fanout.answer(n.key, 0));
  for (const x of members.slice(0, 3)) m.fanout.packs(x.publicKey, true);
  const told = new Map();
  await m.join("late");
  await m.core.updateMember(members[5].publicKey, { endpoints: ["198.51.100.5:5"] });
  const before = m.fanout.encodings;
  const sent: [string, Uint8Array][] = [];
  m.fanout.push(members, told, (to, b) => sent.push([to, b]));
  // One packed part and one JSON part, each made once for every member of the group.
  assert.equal(m.fanout.encodings - before, 2);
  assert.equal(new Set(sent.map(([, b]) => b)).size, 2);
  for (const [to, b] of sent) {
    const i = members.findIndex((x) => x.address === to);
    assert.equal(isPacked(b), i < 3, `member ${i}`);
    nodes.get(to)!.take([b]);
  }
  for (const n of nodes.values()) {
    assert.equal(n.view.version, m.core.view().version);
    assert.equal(records(n.view.members), records(m.core.view().members));
  }
});

Deno.test("fanout: packed deltas carry each member's own record in a part of its own where its group does not see itself", async () => {
  const m = await mesh();
  const web1 = await m.join("web1", { role: "web" });
  const web2 = await m.join("web2", { role: "web" });
  const db = await m.join("db", { role: "db" });
  await m.policy(WEB_TO_DB);
  const nodes = [web1, web2, db].map((x) => new Node(x.publicKey));
  for (const n of nodes) m.fanout.packs(n.key, true);
  for (const n of nodes) n.take(m.fanout.answer(n.key, 0));
  assert.deepEqual(nodes[0].names(), ["db", "lead", "web1"]);
  // web1 and db change: web1 is told db's record (packed) and its own (a plain part of its
  // own); web2 gets db's only, the parts shared with web1 but for the own part.
  await m.core.updateMember(web1.publicKey, { endpoints: ["198.51.100.2:2"] });
  await m.core.updateMember(db.publicKey, { endpoints: ["198.51.100.4:4"] });
  const [p1, p2] = [0, 1].map((i) => m.fanout.answer(nodes[i].key, nodes[i].view.version));
  assert.deepEqual(p1.map(isPacked), [true, false]);
  assert.deepEqual(p2.map(isPacked), [true]);
  nodes[0].take(p1);
  nodes[1].take(p2);
  const ep = (n: Node, name: string) => n.view.members.find((x) => x.name === name)?.endpoints;
  assert.deepEqual(ep(nodes[0], "web1"), ["198.51.100.2:2"]);
  assert.deepEqual(ep(nodes[0], "db"), ["198.51.100.4:4"]);
  assert.deepEqual(nodes[1].names(), ["db", "lead", "web2"]);
  assert.deepEqual(ep(nodes[1], "db"), ["198.51.100.4:4"]);
});

Deno.test("fanout: a member whose own change moves it into a group new at that version is told", async () => {
  const m = await mesh();
  const policy = `
policies:
  - name: claimed
    action: allow
    from: "node.weft/claim=yes"
    to: "*"
    proto: tcp
    ports: [7000]
`;
  const n1 = await m.join("n1");
  await m.core.updateMember(n1.publicKey, { nodeLabels: { "node.weft/claim": "yes" } });
  await m.policy(policy);
  const node = new Node(n1.publicKey);
  node.take(m.fanout.answer(n1.publicKey, 0));
  const told = new Map();
  const push = () => {
    const sent: Uint8Array[] = [];
    m.fanout.push([n1], told, (_to, b) => sent.push(b));
    node.take(sent);
    return sent.map((b) => parseMessage(b)!.t);
  };
  assert.deepEqual(push(), []);
  // Its hello drops the claim: it leaves its group for one of its own, new at this version, and
  // nothing else changes. A push that skipped the new group left it on its old view (until its
  // next hello: minutes, at a large fleet's pace).
  await m.core.updateMember(n1.publicKey, { nodeLabels: {} });
  assert.ok(m.core.view().version > node.view.version);
  assert.deepEqual(push(), ["changed"], "the moved member hears the notice");
  // It asks (its hello), and gets its new group's whole view.
  node.take(m.fanout.answer(n1.publicKey, node.view.version));
  assert.equal(node.view.version, m.core.view().version);
  assert.deepEqual(push(), []);
});

Deno.test("fanout: where every member sees every member, the leader among them, a push to members that take carried pushes goes through the carrier", async () => {
  const m = await mesh();
  const nodes: Member[] = [];
  for (let i = 0; i < 6; i++) nodes.push(await m.join(`n${i}`));
  for (const n of nodes) m.fanout.packs(n.publicKey, true);
  // The leader's own record is one of the mesh's (a group of its own: leaders see every member).
  assert.ok(m.core.view().members.some((x) => x.role === "leader"));
  const told = new Map();
  const sent: [string, Uint8Array][] = [];
  m.fanout.push(nodes, told, (to, b) => sent.push([to, b]));
  await m.core.updateMember(nodes[0].publicKey, { endpoints: ["198.51.100.1:1"] });
  sent.length = 0;
  const carried: { members: string[]; from: number; v: number }[] = [];
  const able = new Set(nodes.slice(0, 4).map((n) => n.publicKey));
  m.fanout.push(nodes, told, (to, b) => sent.push([to, b]), {
    min: 4,
    able: (key) => able.has(key),
    carry: (_parts, members, _pv, from, v) => {
      carried.push({ members: members.map((x) => x.name), from, v });
      return [];
    },
  });
  assert.deepEqual(carried.map((c) => c.members), [["n0", "n1", "n2", "n3"]]);
  assert.equal(carried[0].v, carried[0].from + 1);
  // The members that take none are sent the delta directly.
  assert.deepEqual(new Set(sent.map(([to]) => to)), new Set([nodes[4].address, nodes[5].address]));
});

/** A PushCarrier that records its calls; `direct`: which of the members it returns. */
function recordingCarrier(
  min: number,
  able: Set<string>,
  direct: (members: Member[]) => Member[] = () => [],
) {
  const calls: { parts: Uint8Array[]; members: Member[]; pv: number; from: number; v: number }[] =
    [];
  return {
    calls,
    carrier: {
      min,
      able: (key: string) => able.has(key),
      carry: (parts: Uint8Array[], members: Member[], pv: number, from: number, v: number) => {
        calls.push({ parts, members, pv, from, v });
        return direct(members);
      },
    },
  };
}

Deno.test("fanout: a push hands the members that are able and take packed parts to the carrier, from its min on", async () => {
  const m = await mesh();
  const members: Member[] = [];
  for (let i = 0; i < 8; i++) members.push(await m.join(`n${i}`));
  const nodes = new Map(members.map((x) => [x.address, new Node(x.publicKey)]));
  for (const n of nodes.values()) n.take(m.fanout.answer(n.key, 0));
  // n0-n5 take packed parts; n0-n3 and n6 are able (n6 takes JSON: never carried).
  for (const x of members.slice(0, 6)) m.fanout.packs(x.publicKey, true);
  const able = new Set([0, 1, 2, 3, 6].map((i) => members[i].publicKey));
  const told = new Map();
  m.fanout.push(members, told, () => {});
  const push = (carrier: ReturnType<typeof recordingCarrier>["carrier"]) => {
    const sent: [string, Uint8Array][] = [];
    m.fanout.push(members, told, (to, b) => sent.push([to, b]), carrier);
    return sent;
  };

  // At min 4: n0-n3 go to the carrier; it reaches all but n3, which is sent its parts directly.
  const r = recordingCarrier(4, able, (ms) => ms.filter((x) => x.name === "n3"));
  const from = m.core.view().version;
  await m.join("late");
  const sent = push(r.carrier);
  assert.equal(r.calls.length, 1);
  const call = r.calls[0];
  assert.deepEqual(call.members.map((x) => x.name), ["n0", "n1", "n2", "n3"]);
  assert.deepEqual([call.pv, call.from, call.v], [0, from, m.core.view().version]);
  assert.ok(call.parts.length > 0 && call.parts.every(isPacked), "the group's packed parts");
  const to = [...new Set(sent.map(([a]) => a))].map((a) => members.find((x) => x.address === a)!);
  assert.deepEqual(to.map((x) => x.name).sort(), ["n3", "n4", "n5", "n6", "n7"]);
  for (const [a, b] of sent) {
    const i = members.findIndex((x) => x.address === a);
    assert.equal(isPacked(b), i < 6, `n${i}`);
    if (i === 3) assert.ok(call.parts.includes(b), "n3 gets the very parts carried");
  }
  // What the carrier carries brings a member to the leader's view.
  const n0 = nodes.get(members[0].address)!;
  n0.take(call.parts);
  assert.equal(n0.view.version, m.core.view().version);
  assert.equal(records(n0.view.members), records(m.core.view().members));

  // At min 5 (four able): nothing carried, every member sent its parts.
  const r5 = recordingCarrier(5, able);
  await m.join("later");
  const sent5 = push(r5.carrier);
  assert.equal(r5.calls.length, 0);
  assert.equal(new Set(sent5.map(([a]) => a)).size, 8);
  // Min 0: never.
  const r0 = recordingCarrier(0, able);
  await m.join("latest");
  assert.equal(new Set(push(r0.carrier).map(([a]) => a)).size, 8);
  assert.equal(r0.calls.length, 0);
  // A member answered since the group was told holds a later version: sent its own delta, not
  // the group's, so not carried.
  const r2 = recordingCarrier(3, able);
  await m.join("last");
  m.fanout.answer(members[1].publicKey, m.core.view().version - 1);
  await m.join("very-last");
  const sent2 = push(r2.carrier);
  assert.equal(r2.calls.length, 1);
  assert.deepEqual(r2.calls[0].members.map((x) => x.name), ["n0", "n2", "n3"]);
  const n1Parts = sent2.filter(([a]) => a === members[1].address).map(([, b]) => b);
  assert.ok(n1Parts.length > 0 && n1Parts.every((b) => !r2.calls[0].parts.includes(b)));
});

Deno.test("fanout: a push to several groups (a policy) is never carried", async () => {
  const m = await mesh();
  const members = [
    await m.join("web1", { role: "web" }),
    await m.join("web2", { role: "web" }),
    await m.join("web3", { role: "web" }),
    await m.join("db1", { role: "db" }),
    await m.join("db2", { role: "db" }),
    await m.join("db3", { role: "db" }),
  ];
  await m.policy(WEB_TO_DB);
  for (const x of members) m.fanout.packs(x.publicKey, true);
  for (const x of members) m.fanout.answer(x.publicKey, 0);
  const r = recordingCarrier(1, new Set(members.map((x) => x.publicKey)));
  const told = new Map();
  m.fanout.push(members, told, () => {}, r.carrier);
  await m.core.updateMember(members[0].publicKey, { endpoints: ["198.51.100.2:2"] });
  await m.core.updateMember(members[3].publicKey, { endpoints: ["198.51.100.3:3"] });
  const sent: string[] = [];
  m.fanout.push(members, told, (to) => sent.push(to), r.carrier);
  assert.ok(sent.length >= members.length, "each member told directly");
  assert.equal(r.calls.length, 0);
  // Groups that each see themselves, not each other: still not carried (a web member must not
  // be asked to pass anything on to, nor hear from, a db member).
  const apart = (role: string) =>
    `  - name: ${role}\n    action: allow\n    from: "role=${role}"\n    to: "role=${role}"\n` +
    `    proto: tcp\n    ports: [80]\n`;
  await m.policy(`policies:\n${apart("web")}${apart("db")}`);
  for (const x of members) m.fanout.answer(x.publicKey, 0);
  m.fanout.push(members, told, () => {}, r.carrier);
  await m.core.updateMember(members[0].publicKey, { endpoints: ["198.51.100.5:5"] });
  await m.core.updateMember(members[3].publicKey, { endpoints: ["198.51.100.6:6"] });
  sent.length = 0;
  m.fanout.push(members, told, (to) => sent.push(to), r.carrier);
  assert.equal(new Set(sent).size, members.length, "each member told directly");
  assert.equal(r.calls.length, 0);
  // A policy under which every group sees every group (every pair allowed): carried.
  await m.policy('policies:\n  - name: all\n    action: allow\n    from: "*"\n    to: "*"\n');
  for (const x of members) m.fanout.answer(x.publicKey, 0);
  m.fanout.push(members, told, () => {}, r.carrier);
  await m.core.updateMember(members[2].publicKey, { endpoints: ["198.51.100.7:7"] });
  m.fanout.push(members, told, () => {}, r.carrier);
  assert.equal(r.calls.length, 1);
  assert.equal(r.calls[0].members.length, members.length);
  r.calls.length = 0;
  // The same members with no policy: carried.
  await m.policy("policies: []\n");
  for (const x of members) m.fanout.answer(x.publicKey, 0);
  m.fanout.push(members, told, () => {}, r.carrier);
  await m.core.updateMember(members[1].publicKey, { endpoints: ["198.51.100.4:4"] });
  m.fanout.push(members, told, () => {}, r.carrier);
  assert.equal(r.calls.length, 1);
  assert.equal(r.calls[0].members.length, members.length);
});
