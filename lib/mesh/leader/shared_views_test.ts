import assert from "node:assert/strict";
import { LeaderCore } from "./core.ts";
import { Fanout } from "./fanout.ts";
import { AnswerPacer } from "./answers.ts";
import { SharedViews } from "./shared_views.ts";
import { RING_SIZE } from "./holder_rings.ts";
import { type ControlMessage, parseMessage } from "../sync/protocol.ts";
import { digestText } from "../sync/manifest.ts";
import { generateKeyPair } from "../../crypto/keys.ts";
import { joinRequest } from "./testing/cores.ts";
import { compilePolicyText } from "../../policy/source.ts";

/** Two groups that each see themselves and not each other (a and b), and the leader. */
const TWO_GROUPS = `
policies:
  - name: a
    action: allow
    from: "role=a"
    to: "role=a"
  - name: b
    action: allow
    from: "role=b"
    to: "role=b"
`;

/** A leader's state, its fan-out, shared views over an answer pacer that sends at once. */
async function leader(opts: { holdersFrom?: number } = {}) {
  const core = await LeaderCore.open(null, {
    network: "10.6.0.0/24",
    hostname: "lead",
    publicKey: generateKeyPair().publicKey,
    endpoints: ["192.0.2.1:51820"],
  });
  const fanout = new Fanout(core);
  core.onChange((v) => fanout.update(v));
  const sent = new Map<string, ControlMessage[]>();
  const answers = new AnswerPacer((to, bytes) => {
    let list = sent.get(to);
    if (!list) sent.set(to, list = []);
    list.push(parseMessage(bytes)!);
  }, { small: 10_000 });
  const shared = new SharedViews({
    fanout: () => fanout,
    memberByKey: (k) => core.memberByKey(k),
    answers,
    behindPush: (_, fn) => fn(),
    holdersFrom: opts.holdersFrom ?? 1,
  });
  const join = async (hostname: string, role: string) => {
    const t = await core.createToken({ ttlMs: 60_000, uses: null, labels: { role } });
    const res = await core.join(joinRequest(t, hostname, { time: Date.now() }), null);
    if (!res.ok) throw new Error(res.error);
    return res.member;
  };
  const policy = (text: string) => core.setPolicy(compilePolicyText(text).canonical);
  const got = (address: string) => sent.get(address) ?? [];
  return { core, fanout, shared, join, policy, got, close: () => answers.close() };
}

Deno.test("shared views: a joiner is named holders of its own group only, and given pieces of its own group's view only", async () => {
  const l = await leader();
  try {
    const [a1, a2] = [await l.join("a1", "a"), await l.join("a2", "a")];
    const [b1, b2] = [await l.join("b1", "b"), await l.join("b2", "b")];
    // Enough of b that one leaving it does not lay its segments out again (sparse).
    for (let i = 0; i < 6; i++) await l.join(`bb${i}`, "b");
    await l.policy(TWO_GROUPS);
    const v = l.fanout.version;
    for (const m of [a1, a2, b1]) l.shared.heard(l.core.memberByKey(m.publicKey)!, v);
    assert.equal(l.shared.answer(b2.publicKey, b2.address, undefined), true);
    const toB2 = l.got(b2.address);
    const named = toB2.find((m) => m.t === "holders");
    assert.ok(named?.t === "holders");
    assert.deepEqual(named.members.map((m) => m.name), ["b1"], "b's holder only, never a's");
    // b2's manifest names b's pieces; a's pieces (from a2's manifest) are not given to b2.
    l.shared.answer(a2.publicKey, a2.address, undefined);
    const aManifest = l.got(a2.address).find((m) => m.t === "manifest");
    assert.ok(aManifest?.t === "manifest");
    const bManifest = toB2.find((m) => m.t === "manifest");
    assert.ok(bManifest?.t === "manifest");
    const aDigests = aManifest.d.entries.map((e) => digestText(e.digest));
    const bDigests = bManifest.d.entries.map((e) => digestText(e.digest));
    assert.ok(aDigests.every((d) => !bDigests.includes(d)), "the groups' pieces differ");
    const before = toB2.length;
    l.shared.ask(b2.publicKey, b2.address, { t: "pget", v, d: [aDigests[0], bDigests[0]] });
    const answered = l.got(b2.address).slice(before);
    assert.deepEqual(answered.map((m) => m.t), ["piece", "plack"]);
    assert.deepEqual(answered[1].t === "plack" && answered[1].d, [aDigests[0]]);
    assert.equal(l.shared.counts.drops.lack, 1);
    // A holder whose group changed since its hello (b1 is in a's group now) is named to no
    // joiner of b: what it holds is b's view of then, and b's joiners are no longer its peers.
    await l.core.setGrants("b1", { labels: { role: "a" } });
    const b3 = await l.join("b3", "b");
    assert.equal(l.shared.answer(b3.publicKey, b3.address, undefined), true);
    const toB3 = l.got(b3.address).find((m) => m.t === "holders");
    assert.ok(toB3?.t === "holders");
    assert.deepEqual(toB3.members, [], "no holder of b left");
    assert.ok(l.got(b3.address).filter((m) => m.t === "piece").length > 0, "the leader sends all");
  } finally {
    l.close();
  }
});

Deno.test("shared views: a group that does not see itself (web to db) is answered as before, with no manifest", async () => {
  const l = await leader();
  try {
    const web = await l.join("w1", "web");
    await l.join("d1", "db");
    await l.policy(`
policies:
  - name: web-db
    action: allow
    from: "role=web"
    to: "role=db"
`);
    assert.equal(l.fanout.shared.sharedGroup(web.publicKey), null);
    assert.equal(l.shared.answer(web.publicKey, web.address, undefined), false);
    assert.equal(l.got(web.address).length, 0);
  } finally {
    l.close();
  }
});

Deno.test("shared views: asks to the leader are held to the fetches' rate and malformed ones counted", async () => {
  const l = await leader();
  try {
    const n = await l.join("n1", "x");
    l.shared.answer(n.publicKey, n.address, undefined);
    const d = l.got(n.address).find((m) => m.t === "manifest");
    assert.ok(d?.t === "manifest");
    const digest = digestText(d.d.entries[0].digest);
    l.shared.ask(n.publicKey, n.address, { t: "pget", v: 1, d: ["not a digest"] });
    assert.equal(l.shared.counts.drops.malformed, 1);
    for (let i = 0; i < 100; i++) {
      l.shared.ask(n.publicKey, n.address, { t: "pget", v: 1, d: [digest] });
    }
    assert.ok(l.shared.counts.drops.rate > 0, "asks over the rate dropped");
    assert.ok(l.shared.counts.sent.asked < 100);
  } finally {
    l.close();
  }
});

Deno.test("shared views: a view of few pieces is the leader's to send, no holder named", async () => {
  const l = await leader({ holdersFrom: 16 });
  try {
    const [n1, n2] = [await l.join("n1", "x"), await l.join("n2", "x")];
    l.shared.heard(l.core.memberByKey(n1.publicKey)!, l.fanout.version);
    l.shared.answer(n2.publicKey, n2.address, undefined);
    const got = l.got(n2.address);
    const named = got.find((m) => m.t === "holders");
    assert.ok(named?.t === "holders");
    assert.deepEqual(named.members, []);
    const manifest = got.find((m) => m.t === "manifest");
    assert.ok(manifest?.t === "manifest" && manifest.d.entries.every((e) => e.fromLeader));
    assert.equal(got.filter((m) => m.t === "piece").length, manifest.d.n);
  } finally {
    l.close();
  }
});

Deno.test("shared views: a hello that says it holds a version not made yet takes no holder's place", async () => {
  const l = await leader();
  try {
    const liars = [];
    for (let i = 0; i < RING_SIZE; i++) liars.push(await l.join(`liar${i}`, "a"));
    const honest = await l.join("honest", "a");
    const joiner = await l.join("joiner", "a");
    const v = l.fanout.version;
    // The ring keeps the holders of the newest versions: a liar's would keep its place for good.
    // (The naming checks the version too; this guards the ring, which would have no honest holder.)
    for (const m of liars) l.shared.heard(l.core.memberByKey(m.publicKey)!, v + 1_000);
    l.shared.heard(l.core.memberByKey(honest.publicKey)!, v);
    assert.equal(l.shared.answer(joiner.publicKey, joiner.address, undefined), true);
    const named = l.got(joiner.address).find((m) => m.t === "holders");
    assert.ok(named?.t === "holders");
    assert.deepEqual(named.members.map((m) => m.name), ["honest"]);
  } finally {
    l.close();
  }
});
