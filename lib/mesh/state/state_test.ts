/**
 * The state directory: its permissions, the private key and control token made on first use,
 * leader and node files that round-trip or fail naming the file, and serialised writes.
 */
import assert from "node:assert/strict";
import { newLanKey } from "./lan_key.ts";
import { type LeaderFile, type NodeFile, StateDir } from "./state.ts";
import { RecordMap } from "./record_map.ts";
import { parseKey } from "../../crypto/keys.ts";
import type { Member } from "../../members/member.ts";
import { tempDirs } from "../../../tests/fixtures/temp_dir.ts";

const withDir = tempDirs("weft-state-test-");

const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;

const MEMBER: Member = {
  name: "leader",
  publicKey: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
  address: "10.77.0.1",
  endpoints: ["192.0.2.1:51820"],
  labels: { role: "gw" },
  role: "leader",
  services: [],
  joinedAt: 1_700_000_000_000,
};

const LEADER: LeaderFile = {
  format: 1,
  network: "10.77.0.0/24",
  network6: "fd00::/64",
  version: 7,
  members: [MEMBER],
  tokens: [{
    id: "0123456789ab",
    secretHash: "aGFzaA==",
    createdAt: 1,
    expiresAt: 2,
    usesLeft: null,
    labels: {},
    revoked: false,
  }],
  policy: { version: 2, text: "rules: []" },
  joins: RecordMap.of({ k: { token: "0123456789ab", at: 5, time: 6, heard: true } }),
  left: { gone: { time: 1, at: 2, removedToken: "0123456789ab" } },
};

const NODE: NodeFile = {
  format: 1,
  address: "10.77.0.2",
  leader: { publicKey: MEMBER.publicKey, endpoints: MEMBER.endpoints, address: MEMBER.address },
  view: { network: "10.77.0.0/24", version: 7, members: [MEMBER] },
  policy: { version: 2, text: "rules: []" },
};

Deno.test("state: ensure makes the directory private (0700)", async () => {
  await withDir(async (root) => {
    const s = new StateDir(`${root}/a/b/state`);
    assert.equal(await s.ensure(), null, "a new directory was not tightened");
    assert.equal(await mode(s.dir), 0o700);
    assert.equal(await s.ensure(), null, "idempotent");
    assert.equal(s.path("leader.json"), `${root}/a/b/state/leader.json`);
  });
});

Deno.test("state: ensure tightens a directory others may read or enter, and says from what", async () => {
  await withDir(async (root) => {
    for (const m of [0o755, 0o750, 0o701, 0o710, 0o777]) {
      const dir = `${root}/d${m.toString(8)}`;
      await Deno.mkdir(dir);
      await Deno.chmod(dir, m);
      assert.deepEqual(await new StateDir(dir).ensure(), { tightenedFrom: m });
      assert.equal(await mode(dir), 0o700);
    }
    const fine = `${root}/fine`;
    await Deno.mkdir(fine);
    await Deno.chmod(fine, 0o700);
    assert.equal(await new StateDir(fine).ensure(), null);
  });
});

Deno.test("state: ensure clears temp files a crashed write left, and nothing else", async () => {
  await withDir(async (dir) => {
    const s = new StateDir(dir);
    const temps = [".leader.json.1234.987654321.tmp", ".private.key.1.2.tmp"];
    const keep = [
      "leader.json",
      ".hidden",
      "x.tmp",
      ".leader.json.tmp",
      ".leader.json.12a.3.tmp",
      "leader.json.1.2.tmp",
    ];
    for (const f of [...temps, ...keep]) await Deno.writeTextFile(s.path(f), "x");
    await Deno.mkdir(s.path(".dir.1.2.tmp"));
    await s.ensure();
    const left = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    assert.deepEqual(left, [...keep, ".dir.1.2.tmp"].sort());
  });
});

Deno.test("state: a new private key is saved (0600) only when asked, and read back after", async () => {
  await withDir(async (dir) => {
    const s = new StateDir(dir);
    const made = await s.privateKey();
    assert.equal(made.saved, false);
    assert.equal(parseKey(made.key, "private key").length, 32);
    await assert.rejects(Deno.lstat(s.path("private.key")), Deno.errors.NotFound, "not yet");
    assert.notEqual((await s.privateKey()).key, made.key, "unsaved: a new one each time");
    await s.writePrivateKey(made.key);
    const key = made.key;
    assert.equal(await mode(s.path("private.key")), 0o600);
    assert.deepEqual(await s.privateKey(), { key, saved: true });
    assert.equal((await new StateDir(dir).privateKey()).key, key, "another instance reads it");
    assert.equal((await Deno.readTextFile(s.path("private.key"))).trim(), key);
    // Surrounding whitespace in a hand-written file is fine.
    await Deno.writeTextFile(s.path("private.key"), `\n  ${key}  \n`);
    assert.equal((await s.privateKey()).key, key);
  });
});

Deno.test("state: removeCreated removes what this instance made, never what was there", async () => {
  await withDir(async (dir) => {
    // A directory that exists, with a file of its own: both stay.
    await Deno.writeTextFile(`${dir}/node.json`, "{}");
    const s = new StateDir(dir);
    const lock = await s.lock();
    await s.writePrivateKey((await s.privateKey()).key);
    await s.writeNode(JSON.parse(await Deno.readTextFile(`${dir}/node.json`)));
    assert.deepEqual(await s.removeCreated(lock), []);
    assert.equal(lock.held, false);
    const left = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
    assert.deepEqual(left, ["node.json"], "the key and the lock went; the node file stayed");
    assert.deepEqual(await s.removeCreated(lock), [], "again: nothing");

    // A directory it made, with a parent: both go.
    const deep = new StateDir(`${dir}/a/b`);
    const lock2 = await deep.lock();
    await deep.writeLeader({
      format: 1,
      network: "10.0.0.0/24",
      version: 1,
      members: [],
      tokens: [],
      joins: new RecordMap(),
    });
    await deep.removeCreated(lock2);
    await assert.rejects(Deno.lstat(`${dir}/a`), Deno.errors.NotFound);

    // Kept once the start succeeded: nothing is removed after.
    const kept = new StateDir(`${dir}/k`);
    const lock3 = await kept.lock();
    await kept.writePrivateKey((await kept.privateKey()).key);
    kept.keepCreated();
    await kept.controlToken();
    await kept.removeCreated(lock3);
    const inK = (await Array.fromAsync(Deno.readDir(`${dir}/k`))).map((e) => e.name).sort();
    assert.deepEqual(inK, ["control.token", "private.key"], "the lock file went with the lock");
  });
});

Deno.test("state: a corrupt private key is an error naming the file, and is left alone", async () => {
  await withDir(async (dir) => {
    const s = new StateDir(dir);
    await Deno.writeTextFile(s.path("private.key"), "not a key\n");
    await assert.rejects(
      s.privateKey(),
      (e: Error) => e.message.startsWith(`${s.path("private.key")}: `),
    );
    assert.equal(await Deno.readTextFile(s.path("private.key")), "not a key\n", "not replaced");
  });
});

Deno.test("state: the control token is made once (0600); a bad one is an error", async () => {
  await withDir(async (dir) => {
    const s = new StateDir(dir);
    const t = await s.controlToken();
    assert.match(t, /^[A-Za-z0-9+/=]{20,}$/);
    assert.equal(await mode(s.path("control.token")), 0o600);
    assert.equal(await s.controlToken(), t);
    const other = new StateDir(`${dir}/other`);
    await other.ensure();
    assert.notEqual(await other.controlToken(), t, "random per directory");
    for (const bad of ["short", "has spaces in the middle of it", ""]) {
      await Deno.writeTextFile(s.path("control.token"), bad);
      await assert.rejects(s.controlToken(), /control\.token: corrupt state \(bad token\)/);
      assert.equal(await Deno.readTextFile(s.path("control.token")), bad, "not replaced");
    }
  });
});

Deno.test("state: the leader file round-trips (0600); no file reads as null", async () => {
  await withDir(async (dir) => {
    const s = new StateDir(dir);
    assert.equal(await s.readLeader(), null);
    await s.writeLeader(LEADER);
    assert.equal(await mode(s.path("leader.json")), 0o600);
    // As JSON: the join records are a RecordMap, whose entries deepEqual does not see.
    const json = (d: unknown) => JSON.parse(JSON.stringify(d));
    assert.deepEqual(json(await s.readLeader()), json(LEADER));
    assert.equal((await s.readLeader())!.joins.get("k")?.time, 6);
    // Older files without joins or left records are fine.
    const { joins: _j, left: _l, ...old } = LEADER;
    await s.writeLeader(old as LeaderFile);
    assert.deepEqual(json(await s.readLeader()), { ...json(old), joins: {} });
    // A rewrite replaces the file whole, leaving no temp files.
    await s.writeLeader({ ...LEADER, version: 8 });
    assert.equal((await s.readLeader())!.version, 8);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), [
      "leader.json",
    ]);
  });
});

Deno.test("state: a corrupt leader file is an error naming the file and the part, never a reset", async () => {
  await withDir(async (dir) => {
    const s = new StateDir(dir);
    const file = s.path("leader.json");
    const cases: [unknown, string][] = [
      [null, "unknown format"],
      [{ ...LEADER, format: 2 }, "unknown format"],
      [{ ...LEADER, network: 10 }, "network"],
      [{ ...LEADER, version: 1.5 }, "version"],
      [{ ...LEADER, version: "7" }, "version"],
      [{ ...LEADER, members: {} }, "members"],
      [{ ...LEADER, members: [{ ...MEMBER, address: undefined }] }, "members"],
      [{ ...LEADER, members: [{ ...MEMBER, endpoints: "x" }] }, "members"],
      [{ ...LEADER, members: [null] }, "members"],
      [{ ...LEADER, tokens: undefined }, "tokens"],
      [{ ...LEADER, joins: null }, "joins"],
      [{ ...LEADER, joins: { k: { token: "t", at: 1 } } }, "joins"],
      [{ ...LEADER, joins: { k: { token: "t", at: 1, heard: true, time: "1" } } }, "joins"],
      [{ ...LEADER, left: { k: { time: 1 } } }, "left"],
      [{ ...LEADER, left: { k: { time: 1, at: 2, removedToken: 3 } } }, "left"],
      [{ ...LEADER, members: [{ ...MEMBER, lan: "192.0.2.1:1" }] }, "members"],
      [{ ...LEADER, members: [{ ...MEMBER, lan: [1] }] }, "members"],
      [{ ...LEADER, lanKey: "c2hvcnQ=" }, "lanKey"],
      [{ ...LEADER, lanKey: 7 }, "lanKey"],
      [{ ...LEADER, members: [{ ...MEMBER, relay: false }] }, "members"],
      [{ ...LEADER, members: [{ ...MEMBER, relay: "yes" }] }, "members"],
      [{ ...LEADER, members: [{ ...MEMBER, tcpPort: 0 }] }, "members"],
      [{ ...LEADER, members: [{ ...MEMBER, tcpPort: 65536 }] }, "members"],
      [{ ...LEADER, members: [{ ...MEMBER, tcpPort: "443" }] }, "members"],
      [{ ...LEADER, leases: { last: "1", held: {} } }, "leases: last"],
      [
        { ...LEADER, leases: { last: 1, held: { svc: { token: 2, holder: "x" } } } },
        "leases: held: svc: token above last",
      ],
    ];
    for (const [content, what] of cases) {
      const text = JSON.stringify(content);
      await Deno.writeTextFile(file, text);
      await assert.rejects(s.readLeader(), (e: Error) => {
        assert.equal(e.message, `${file}: corrupt state (${what})`, text);
        return true;
      });
      assert.equal(await Deno.readTextFile(file), text, "left as it was");
    }
    await Deno.writeTextFile(file, '{"format": 1, "network":');
    await assert.rejects(
      s.readLeader(),
      (e: Error) => e.message.startsWith(`${file}: invalid JSON`),
    );
  });
});

Deno.test("state: the node file round-trips; a corrupt one is an error naming the file", async () => {
  await withDir(async (dir) => {
    const s = new StateDir(dir);
    assert.equal(await s.readNode(), null);
    await s.writeNode(NODE);
    assert.equal(await mode(s.path("node.json")), 0o600);
    assert.deepEqual(await s.readNode(), NODE);
    // With the LAN key, and LAN candidates, a relay flag and a TCP port in the view.
    const withKey = {
      ...NODE,
      lanKey: newLanKey(),
      view: {
        ...NODE.view,
        members: [{
          ...NODE.view.members[0],
          lan: ["192.0.2.9:51820"],
          relay: true as const,
          tcpPort: 443,
        }],
      },
    };
    await s.writeNode(withKey);
    assert.deepEqual(await s.readNode(), withKey);
    const file = s.path("node.json");
    const cases: [unknown, string][] = [
      [{ ...NODE, format: 0 }, "unknown format"],
      [{ ...NODE, address: null }, "address"],
      [{ ...NODE, leader: undefined }, "leader"],
      [{ ...NODE, leader: { ...NODE.leader, publicKey: 1 } }, "leader"],
      [{ ...NODE, view: undefined }, "view"],
      [{ ...NODE, view: { ...NODE.view, members: [{ name: "x" }] } }, "view"],
      [{ ...NODE, lanKey: "not a key" }, "lanKey"],
    ];
    for (const [content, what] of cases) {
      await Deno.writeTextFile(file, JSON.stringify(content));
      await assert.rejects(s.readNode(), (e: Error) => {
        assert.equal(e.message, `${file}: corrupt state (${what})`);
        return true;
      });
    }
    await Deno.writeTextFile(file, "");
    await assert.rejects(s.readNode(), /node\.json: invalid JSON/);
  });
});
