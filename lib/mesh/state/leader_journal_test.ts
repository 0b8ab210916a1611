import assert from "node:assert/strict";
import { applyEntry, journalLine, parseJournal } from "./leader_journal.ts";
import { type LeaderFile, StateDir } from "./state.ts";
import { RecordMap } from "./record_map.ts";
import { member } from "../../../tests/fixtures/members.ts";
import { FileStore } from "../store/file_store.ts";

function doc(): LeaderFile {
  return {
    format: 1,
    network: "10.9.0.0/16",
    version: 1,
    members: [member("lead", "10.9.0.1", { publicKey: "K0", role: "leader" })],
    tokens: [],
    joins: new RecordMap(),
    left: {},
  };
}

/** A commit as the leader makes one: a copy of the lists, records replaced, never edited. */
function next(d: LeaderFile, edit: (c: LeaderFile) => void): LeaderFile {
  const c = {
    ...d,
    members: [...d.members],
    tokens: d.tokens.map((t) => ({ ...t })),
    joins: d.joins.fork(),
    left: { ...d.left },
  };
  edit(c);
  return c;
}

/** A few hundred commits of every kind, each on the one before. */
function history(): LeaderFile[] {
  const out = [doc()];
  let rnd = 7;
  const random = (n: number) => (rnd = (rnd * 1103515245 + 12345) % 2147483648) % n;
  for (let i = 1; i < 300; i++) {
    out.push(next(out[i - 1], (c) => {
      c.version++;
      const kind = random(8);
      if (kind <= 2 || c.members.length < 3) {
        const key = `K${i}`;
        c.members.push(member(`n${i}`, `10.9.${i >> 8}.${i & 255}`, { publicKey: key }));
        c.joins.set(key, { token: "t", at: i, heard: false, time: i });
        delete c.left![key];
      } else if (kind === 3) {
        const j = 1 + random(c.members.length - 1);
        const m = c.members[j];
        c.members[j] = { ...m, endpoints: [`198.51.100.${i & 255}:51820`] };
        const rec = c.joins.get(m.publicKey);
        if (rec) c.joins.set(m.publicKey, { ...rec, heard: true });
      } else if (kind === 4) {
        const [gone] = c.members.splice(1 + random(c.members.length - 1), 1);
        c.joins.delete(gone.publicKey);
        c.left![gone.publicKey] = { time: i, at: i };
      } else if (kind === 5) {
        c.tokens.push({ id: `t${i}`, usesLeft: 3 } as unknown as LeaderFile["tokens"][0]);
      } else if (kind === 6) {
        c.policy = c.policy ? undefined : { version: i, text: `# policy ${i}` };
        if (!c.policy) delete c.policy;
      } else {
        c.leases = { last: i, holders: {} } as unknown as LeaderFile["leases"];
      }
    }));
  }
  return out;
}

const json = (d: LeaderFile) => JSON.parse(JSON.stringify(d));

Deno.test("leader journal: replaying every commit's line onto the first document gives the last", () => {
  const h = history();
  const lines = h.slice(1).map((d, i) => journalLine(h[i], d)).join("");
  const replayed = json(h[0]);
  for (const e of parseJournal(lines, "j")) applyEntry(replayed, e);
  const last = json(h.at(-1)!);
  // Member order is not kept (records by key); everything else is equal.
  const byKey = (d: LeaderFile) => d.members.map((m) => m.publicKey).sort();
  assert.deepEqual(byKey(replayed), byKey(last));
  const sorted = (d: LeaderFile) => ({
    ...d,
    members: [...d.members].sort((a, b) => a.publicKey.localeCompare(b.publicKey)),
  });
  assert.deepEqual(sorted(replayed), sorted(last));
  // A line holds what changed: the largest is far smaller than the document.
  const longest = Math.max(...lines.split("\n").map((l) => l.length));
  assert.ok(longest * 4 < JSON.stringify(last).length, `${longest} characters`);
});

Deno.test("leader journal: lines the document already holds change nothing when replayed again", () => {
  const h = history();
  const lines = h.slice(1).map((d, i) => journalLine(h[i], d)).join("");
  // A crash after the whole document was written, before the journal was emptied.
  const replayed = json(h.at(-1)!);
  for (const e of parseJournal(lines, "j")) applyEntry(replayed, e);
  const keys = (d: LeaderFile) => d.members.map((m) => JSON.stringify(m)).sort();
  assert.deepEqual(keys(replayed), keys(json(h.at(-1)!)));
  assert.deepEqual({ ...replayed, members: [] }, { ...json(h.at(-1)!), members: [] });
});

Deno.test("leader journal: a commit's line reads only the join records its copy changed; other maps are compared whole", () => {
  const base = doc();
  for (let i = 1; i <= 1000; i++) {
    base.members.push(member(`n${i}`, `10.9.${i >> 8}.${i & 255}`, { publicKey: `K${i}` }));
    base.joins.set(`K${i}`, { token: "t", at: i, heard: false, time: i });
  }
  const c = next(base, (c) => {
    c.joins.set("K5", { ...c.joins.get("K5")!, heard: true });
    c.joins.delete("K6");
    c.members.splice(6, 1);
  });
  // Listing the records whole would throw: the line comes from the copy's own entries.
  const listed = () => {
    throw new Error("listed whole");
  };
  const prevJoins = base.joins as unknown as Record<string, unknown>;
  for (const k of ["entries", "keys", "values"]) prevJoins[k] = listed;
  const line = journalLine(base, c);
  assert.deepEqual(JSON.parse(line), {
    mx: ["K6"],
    j: { K5: { token: "t", at: 5, heard: true, time: 5 } },
    jx: ["K6"],
    // The copy's token list is a new one (tokens are edited in place): written whole.
    f: { tokens: [] },
  });
  for (const k of ["entries", "keys", "values"]) delete prevJoins[k];
  // Maps not forked one from the other (a commit after another store's): the same line.
  const other = { ...c, joins: new RecordMap(c.joins) };
  assert.deepEqual(JSON.parse(journalLine(base, other)), JSON.parse(line));
});

Deno.test("leader journal: a torn last line is dropped, a bad line before it is corruption", () => {
  const a = doc();
  const b = next(a, (c) => c.members.push(member("x", "10.9.0.2", { publicKey: "KX" })));
  const line = journalLine(a, b);
  assert.equal(parseJournal("", "j").length, 0);
  assert.equal(parseJournal(line, "j").length, 1);
  assert.equal(parseJournal(line + line.slice(0, 20), "j").length, 1);
  assert.equal(parseJournal(line.trimEnd(), "j").length, 1, "whole, only its newline missing");
  assert.throws(
    () => parseJournal(line.slice(0, 20) + "\n" + line, "/s/leader.journal"),
    /\/s\/leader.journal: corrupt state \(line 1\)/,
  );
  assert.throws(() => parseJournal('{"m":3}\n', "j"), /corrupt state/);
  assert.throws(() => parseJournal('["m"]\n', "j"), /corrupt state/);
  assert.deepEqual(parseJournal("{}\n", "j"), [{}], "a commit that changed no record");
});

Deno.test("file store: commits after the first are journal lines; a crash loses none; a clean stop folds them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-journal-" });
  try {
    const state = new StateDir(dir);
    const store = new FileStore(state);
    const h = history();
    for (let i = 0; i < h.length; i++) assert.equal(await store.commit(h[i], i), i + 1);
    const journal = await Deno.stat(`${dir}/leader.journal`);
    const whole = await Deno.stat(`${dir}/leader.json`);
    assert.ok(journal.size > 0 && (journal.mode! & 0o777) === 0o600);
    assert.ok(whole.size < 2000, "leader.json is the first commit's document");
    // Killed here: a new reader gets every commit.
    const keys = (d: LeaderFile | null) => d!.members.map((m) => m.publicKey).sort();
    assert.deepEqual(keys(await new StateDir(dir).readLeader()), keys(h.at(-1)!));
    // The process stops: one file again, holding everything.
    await store.compact();
    await assert.rejects(Deno.stat(`${dir}/leader.journal`), Deno.errors.NotFound);
    const folded = JSON.parse(await Deno.readTextFile(`${dir}/leader.json`)) as LeaderFile;
    assert.deepEqual(keys(folded), keys(h.at(-1)!));
    assert.equal(folded.version, h.at(-1)!.version);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file store: the journal is folded into the document once it outgrows it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-journal-" });
  try {
    const state = new StateDir(dir);
    const store = new FileStore(state, { minJournalBytes: 4096 });
    const h = history();
    let folds = 0;
    let last = 0;
    for (let i = 0; i < h.length; i++) {
      await store.commit(h[i], i);
      const size = await Deno.stat(`${dir}/leader.journal`).then((s) => s.size, () => 0);
      const document = (await Deno.stat(`${dir}/leader.json`)).size;
      if (size < last) folds++;
      last = size;
      // Folded at the first commit past the bound: one line over it at most.
      assert.ok(size <= Math.max(4096, document) + 1000, `journal ${size}, document ${document}`);
    }
    assert.ok(folds >= 2, `${folds} folds`);
    const read = await new StateDir(dir).readLeader();
    assert.equal(read!.members.length, h.at(-1)!.members.length);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file store: a failed append leaves the next commit to write the document whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-journal-" });
  class Failing extends StateDir {
    fail = false;
    override appendLeader(line: string): Promise<number> {
      if (this.fail) return Promise.reject(new Error("disk full"));
      return super.appendLeader(line);
    }
  }
  try {
    const state = new Failing(dir);
    const store = new FileStore(state);
    const h = history();
    await store.commit(h[0], 0);
    await store.commit(h[1], 1);
    state.fail = true;
    await assert.rejects(store.commit(h[2], 2), /disk full/);
    state.fail = false;
    // The same revision again (nothing was committed): written whole, the journal emptied.
    assert.equal(await store.commit(h[3], 2), 3);
    await assert.rejects(Deno.stat(`${dir}/leader.journal`), Deno.errors.NotFound);
    const read = await new StateDir(dir).readLeader();
    assert.equal(read!.version, h[3].version);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("state dir: a journal without leader.json is refused, not read as no mesh", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-journal-" });
  try {
    await Deno.writeTextFile(`${dir}/leader.journal`, "{}\n");
    await assert.rejects(
      new StateDir(dir).readLeader(),
      /leader.journal: corrupt state \(a journal without leader.json\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("state dir: the start succeeding while the journal is first opened does not fail the append", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-journal-" });
  try {
    const state = new StateDir(dir);
    await state.writeLeader(doc());
    // The agent's start ends (its files are kept) while the first commit opens the journal.
    const appended = state.appendLeader("{}\n");
    state.keepCreated();
    assert.ok((await appended) > 0);
    state.closeJournal();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("state dir: the journal's size an append returns is the file's, across a reopen and a journal left before", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-journal-" });
  try {
    const state = new StateDir(dir);
    await state.writeLeader(doc());
    // A journal a stopped leader left (its lines are in the file before this one opens it).
    await Deno.writeTextFile(`${dir}/leader.journal`, "{}\n{}\n");
    const size = async () => (await Deno.stat(`${dir}/leader.journal`)).size;
    assert.equal(await state.appendLeader('{"f":{"version":2}}\n'), await size());
    assert.equal(await state.appendLeader("{}\n"), await size());
    state.closeJournal();
    assert.equal(await state.appendLeader("{}\n"), await size());
    // Written whole: the journal starts again empty.
    await state.writeLeader(doc());
    assert.equal(await state.appendLeader("{}\n"), 3);
    state.closeJournal();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("state dir: an append awaits its sync only (no async write, no stat: each waits for a turn of a busy loop)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "weft-journal-" });
  const proto = Deno.FsFile.prototype;
  const { write, stat } = proto;
  try {
    const state = new StateDir(dir);
    await state.writeLeader(doc());
    // The first append opens the journal (and reads its size once).
    await state.appendLeader("{}\n");
    proto.write = () => Promise.reject(new Error("an awaited write"));
    proto.stat = () => Promise.reject(new Error("an awaited stat"));
    assert.equal(await state.appendLeader("{}\n"), 6);
    state.closeJournal();
  } finally {
    proto.write = write;
    proto.stat = stat;
    await Deno.remove(dir, { recursive: true });
  }
});
