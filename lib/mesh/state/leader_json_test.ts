import assert from "node:assert/strict";
import { leaderJson, recordJson } from "./leader_json.ts";
import type { JoinRecord, LeaderFile } from "./state.ts";
import { RecordMap } from "./record_map.ts";
import type { Member } from "../../members/member.ts";

/** The document as JSON has it: its join records a plain object. */
type LeaderJson = Omit<LeaderFile, "joins"> & { joins: Record<string, JoinRecord> };

function member(i: number): Member {
  return {
    name: `n${i}`,
    publicKey: `key${i}`,
    address: `10.0.0.${i}`,
    endpoints: [`192.0.2.${i}:51820`],
    labels: { zone: "a" },
    role: i === 1 ? "leader" : "node",
    services: [{ name: "web", port: 80, protocol: "tcp" }],
    joinedAt: 1000 + i,
  };
}

function doc(): LeaderFile {
  return {
    format: 1,
    network: "10.0.0.0/24",
    network6: undefined,
    version: 7,
    members: [member(1), member(2), member(3)],
    tokens: [],
    policy: { version: 2, text: "rules: []" },
    joins: RecordMap.of({ key2: { token: "t", at: 5, heard: true, time: 4 } }),
    left: { gone: { time: 1, at: 2, removedToken: "t" } },
    lanKey: "AAAA",
  };
}

Deno.test("leader json: the document parses back to what JSON.stringify gives", () => {
  const d = doc();
  const text = leaderJson(d);
  assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(d)));
  assert.ok(!text.includes("network6"), "an absent field is left out");
  // Empty lists and maps too.
  const empty = { ...doc(), members: [], joins: new RecordMap(), left: {} };
  assert.deepEqual(JSON.parse(leaderJson(empty)), JSON.parse(JSON.stringify(empty)));
});

Deno.test("leader json: a record's text is made once; a replaced record gets its own", () => {
  const d = doc();
  const first = d.members[1];
  assert.equal(recordJson(first), JSON.stringify(first));
  leaderJson(d);
  // Records are replaced, never edited: a new record object is serialised anew.
  d.members[1] = { ...first, endpoints: ["198.51.100.1:1"] };
  d.joins.set("key2", { ...d.joins.get("key2")!, heard: false });
  const again = JSON.parse(leaderJson(d)) as LeaderJson;
  assert.deepEqual(again.members[1].endpoints, ["198.51.100.1:1"]);
  assert.equal(again.joins.key2.heard, false);
  assert.deepEqual(again, JSON.parse(JSON.stringify(d)));
});

Deno.test("leader json: a large document stays right through changes, removals and additions", () => {
  const d = doc();
  d.members = Array.from({ length: 700 }, (_, i) => member(i + 1));
  d.joins = new RecordMap(
    d.members.map((m, i) => [m.publicKey, { token: "t", at: i, heard: false }]),
  );
  const same = () => assert.deepEqual(JSON.parse(leaderJson(d)), JSON.parse(JSON.stringify(d)));
  same();
  d.members[300] = { ...d.members[300], endpoints: ["198.51.100.3:3"] };
  d.joins.set(d.members[5].publicKey, { token: "t", at: 5, heard: true });
  same();
  const gone = d.members.splice(100, 1)[0];
  d.joins.delete(gone.publicKey);
  same();
  d.members.push(member(900));
  d.joins.set(member(900).publicKey, { token: "u", at: 9, heard: false });
  same();
  // The same records under other ids are other lines.
  const [k1, k2] = d.joins.keys();
  const r1 = d.joins.get(k1)!;
  d.joins.set(k1, d.joins.get(k2)!);
  d.joins.set(k2, r1);
  same();
  // A batch's copy (a fork of the map) is written as the same JSON.
  const copy = { ...d, joins: d.joins.fork() };
  copy.joins.set(k1, { token: "v", at: 10, heard: true });
  copy.joins.delete(k2);
  copy.joins.set("new", { token: "v", at: 11, heard: false });
  assert.deepEqual(JSON.parse(leaderJson(copy)), JSON.parse(JSON.stringify(copy)));
  assert.equal(JSON.parse(leaderJson(copy)).joins[k1].token, "v");
  assert.equal(JSON.parse(leaderJson(d)).joins[k1].token, "t", "the map forked from is as it was");
});
