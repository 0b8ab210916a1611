import assert from "node:assert/strict";
import {
  type ControlMessage,
  deltaParts,
  parseMessage,
  policyParts,
  SNAPSHOT_WINDOW,
  viewParts,
} from "./protocol.ts";
import { packBody, packedParts, packSegment } from "./packed.ts";
import { PushSigner } from "./carried.ts";
import { digestText, manifestDatagrams, parseManifestDatagram, pieceDigest } from "./manifest.ts";
import { runIdOf } from "../../members/run_id.ts";
import { member } from "../../../tests/fixtures/members.ts";
import { decodeLanKey, lanKeyId, newLanKey } from "../state/lan_key.ts";
import { eventually, HANG_GUARD_MS } from "../../../tests/fixtures/netns.ts";
import {
  harness,
  LEADER,
  leader,
  LEADER2,
  leader2,
  logged,
  ME,
  other,
  self,
  view,
} from "./testing/node_sync_harness.ts";

Deno.test("node sync: start applies the saved view, puts its policy in force and says hello", async () => {
  const h = await harness();
  try {
    h.sync.start({ version: 2, text: "p" });
    assert.deepEqual(h.applied, [[1, true]]);
    assert.equal(h.policy()?.version, 2);
    // The run id is random at each start, the same in every hello of this run.
    const run = (h.sent[0]?.[1] as Extract<ControlMessage, { t: "hello" }>).r;
    assert.equal(runIdOf(run), run);
    assert.deepEqual(h.sent, [[LEADER, {
      t: "hello",
      v: 1,
      pv: 2,
      endpoints: ["198.51.100.2:51820"],
      services: [],
      labels: { "node.weft/x": "1" },
      ck: "",
      hi: 60_000,
      r: run,
      fw: true,
      fz: true,
      fs: true,
    }]]);
    h.sync.hello();
    assert.equal((h.sent[1][1] as Extract<ControlMessage, { t: "hello" }>).r, run);
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: a view from the leader is applied and saved; others are ignored", async () => {
  const h = await harness();
  try {
    h.sync.start(null);
    const other = member("o", "10.3.0.3", { publicKey: "K-o" });
    for (const part of viewParts(view(5, [leader, self, other]))) h.deliver(part, "10.3.0.3");
    assert.equal(h.held().version, 1, "not from the leader");
    for (const part of viewParts(view(5, [leader, self, other]))) h.deliver(part);
    assert.equal(h.held().version, 5);
    const file = await h.saved();
    assert.equal(file.view.version, 5);
    assert.equal(file.address, ME);
    assert.equal(file.leader.address, LEADER);
    // A delta on top of what is held.
    const next = view(6, [leader, self]);
    for (const part of deltaParts(5, next, { upsert: [], remove: ["K-o"] })) h.deliver(part);
    assert.equal(h.held().version, 6);
    assert.equal((await h.saved()).view.members.length, 2);
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: news it does not hold, or a delta from elsewhere, makes it ask", async () => {
  const h = await harness();
  try {
    h.sync.start(null);
    h.sent.length = 0;
    h.deliver({ t: "changed", v: 1, pv: 0 });
    assert.equal(h.sent.length, 0, "nothing new");
    h.deliver({ t: "changed", v: 2 });
    assert.equal(h.sent.length, 1);
    // More news before anything came: the hello out asks for it all.
    h.deliver({ t: "changed", v: 1, pv: 3 });
    for (const part of deltaParts(4, view(7), { upsert: [], remove: [] })) h.deliver(part);
    assert.equal(h.sent.length, 1, "one hello until something comes");
    assert.equal(h.held().version, 1);
  } finally {
    await h.cleanup();
  }
  // Each kind alone makes a node ask.
  for (
    const [news, why] of [
      [[{ t: "changed", v: 1, pv: 3 }], "a new policy version"],
      [deltaParts(4, view(7), { upsert: [], remove: [] }), "a delta from a version not held"],
    ] as const
  ) {
    const one = await harness();
    try {
      one.sync.start(null);
      one.sent.length = 0;
      for (const m of news) one.deliver(m as ControlMessage);
      assert.equal(one.sent.length, 1, why);
      assert.ok(one.sent.every(([to, m]) => to === LEADER && m.t === "hello"), why);
      assert.equal(one.held().version, 1, why);
    } finally {
      await one.cleanup();
    }
  }
});

Deno.test("node sync: a policy from the leader is put in force and saved, unless it fails", async () => {
  const h = await harness();
  try {
    h.sync.start(null);
    for (const part of policyParts({ version: 3, text: "x".repeat(2500) })) h.deliver(part);
    assert.equal(h.policy()?.version, 3);
    assert.equal((await h.saved()).policy.version, 3);
  } finally {
    await h.cleanup();
  }
  const bad = await harness({ usable: false });
  try {
    bad.sync.start(null);
    for (const part of policyParts({ version: 4, text: "y" })) bad.deliver(part);
    assert.equal(bad.policy(), null);
    assert.equal(await bad.saved(), null, "nothing to save");
  } finally {
    await bad.cleanup();
  }
});

Deno.test("node sync: a new leader in the view is followed; services are sent at once", async () => {
  const h = await harness();
  try {
    h.sync.start(null);
    const moved = { ...leader, address: "10.3.0.9" };
    for (const part of viewParts(view(2, [moved, self]))) h.deliver(part);
    assert.equal(h.sync.leader.address, "10.3.0.9");
    h.sent.length = 0;
    h.sync.setServices([{ name: "web", port: 80, protocol: "tcp" }]);
    assert.equal(h.sent[0][0], "10.3.0.9");
    assert.deepEqual((h.sent[0][1] as { services: unknown }).services, [
      { name: "web", port: 80, protocol: "tcp" },
    ]);
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: own labels and routes set at runtime go in a hello sent at once", async () => {
  const h = await harness();
  try {
    h.sync.start(null);
    h.sent.length = 0;
    const labels = { "node.weft/env": "prod" };
    h.sync.setLabels(labels);
    labels["node.weft/env"] = "changed after"; // the sync keeps its own copy
    assert.equal(h.sent.length, 1, "a hello at once");
    assert.equal(h.sent[0][0], LEADER);
    const hello = h.sent[0][1] as { t: string; labels: unknown };
    assert.equal(hello.t, "hello");
    assert.deepEqual(hello.labels, { "node.weft/env": "prod" });
    // And in every later hello.
    h.sync.hello();
    assert.deepEqual((h.sent[1][1] as { labels: unknown }).labels, { "node.weft/env": "prod" });
    // Routes likewise; none: the field is left out (the leader takes it as none offered).
    h.sync.setRoutes(["198.51.100.0/24"]);
    assert.deepEqual((h.sent[2][1] as { routes: unknown }).routes, ["198.51.100.0/24"]);
    h.sync.setRoutes([]);
    assert.equal(h.sent.length, 4);
    assert.ok(!("routes" in (h.sent[3][1] as object)));
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: once closed, only flush writes the file", async () => {
  const h = await harness();
  try {
    h.sync.start(null);
    h.sync.close();
    for (const part of viewParts(view(9))) h.deliver(part);
    assert.equal(h.held().version, 9);
    const file = await h.saved();
    assert.equal(file.view.version, 9, "flush wrote the last view");
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: hellos carry the LAN candidates (at most 8) and the id of the LAN key", async () => {
  const key = newLanKey();
  let lan = ["192.168.1.5:51820"];
  const h = await harness({ nat: { lan: () => lan, lanKey: key } });
  try {
    h.sync.start(null);
    const hello = h.sent[0][1] as Extract<ControlMessage, { t: "hello" }>;
    assert.deepEqual(hello.lan, ["192.168.1.5:51820"]);
    assert.equal(hello.lk, lanKeyId(decodeLanKey(key)!));
    assert.ok(!JSON.stringify(hello).includes(key), "the key itself never leaves");
    lan = Array.from({ length: 12 }, (_, i) => `192.168.1.${i + 1}:51820`);
    h.sync.hello();
    assert.equal((h.sent.at(-1)![1] as { lan: string[] }).lan.length, 8);
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: the LAN key from the leader is taken and saved; from anyone else ignored", async () => {
  const got: Uint8Array[] = [];
  const h = await harness({ nat: { onLanKey: (k) => got.push(k) } });
  try {
    h.sync.start(null);
    assert.equal((h.sent[0][1] as { lk?: string }).lk, undefined, "no key yet");
    const key = newLanKey();
    h.deliver({ t: "lankey", k: key }, "10.3.0.3");
    h.deliver({ t: "lankey", k: "c2hvcnQ=" });
    assert.equal(got.length, 0);
    h.deliver({ t: "lankey", k: key });
    h.deliver({ t: "lankey", k: key }); // the same again: nothing new
    assert.deepEqual(got, [decodeLanKey(key)]);
    assert.equal(h.sync.lanKey, key);
    assert.equal((await h.saved()).lanKey, key);
    h.sync.hello();
    assert.equal((h.sent.at(-1)![1] as { lk?: string }).lk, lanKeyId(decodeLanKey(key)!));
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: hellos say whether the node relays and its TCP port, only when it has them", async () => {
  const on = await harness({
    nat: {
      advertise: { endpoints: [], services: [], labels: {}, relay: true, tcpPort: 443 },
    },
  });
  try {
    on.sync.start(null);
    const hello = on.sent[0][1] as Extract<ControlMessage, { t: "hello" }>;
    assert.equal(hello.relay, true);
    assert.equal(hello.tcpPort, 443);
  } finally {
    await on.cleanup();
  }
  const off = await harness({
    nat: {
      advertise: { endpoints: [], services: [], labels: {}, relay: false, tcpPort: null },
    },
  });
  try {
    off.sync.start(null);
    const hello = off.sent[0][1] as Extract<ControlMessage, { t: "hello" }>;
    assert.equal("relay" in hello, false);
    assert.equal("tcpPort" in hello, false);
  } finally {
    await off.cleanup();
  }
});

Deno.test("node sync: hellos say the interval and the RTT of the leader's latest answered probe", async () => {
  let rtt: number | null = 7.25;
  const h = await harness({
    intervalMs: 20,
    nat: {
      probe: () => Promise.resolve(rtt),
    },
  });
  try {
    h.sync.start(null);
    const hellos = h.hellos;
    assert.equal(hellos()[0].hi, 20);
    assert.equal("rtt" in hellos()[0], false, "no probe answered before the first hello");
    await eventually(() => Promise.resolve(hellos().some((m) => m.rtt === 7.25)), HANG_GUARD_MS);
    rtt = null; // lost: the hellos after it say no RTT rather than an old one
    const n = hellos().length;
    await eventually(
      () => Promise.resolve(hellos().slice(n + 1).some((m) => !("rtt" in m))),
      HANG_GUARD_MS,
    );
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: a probe of the leader that waited for its session or a new path gives no RTT, to health or hellos", async () => {
  // The leader's session and path: a probe across a change of it timed the setup (a handshake
  // the probe was queued behind), not the path.
  let generation = 0;
  const answers: ((rtt: number) => void)[] = [];
  const samples: [string, number | null][] = [];
  const h = await harness({
    intervalMs: 20,
    nat: {
      probe: () => new Promise<number | null>((r) => answers.push(r)),
      generation: () => generation,
      probed: (key, rtt) => samples.push([key, rtt]),
    },
  });
  try {
    h.sync.start(null);
    await eventually(() => Promise.resolve(answers.length > 0), HANG_GUARD_MS);
    generation++; // the handshake completes while the probes sent so far wait
    const before = answers.length;
    for (const a of answers.slice(0, before)) a(480);
    await eventually(() => Promise.resolve(samples.length >= before), HANG_GUARD_MS);
    for (const [key, rtt] of samples) {
      assert.equal(key, "K-lead");
      assert.ok(rtt !== null && Number.isNaN(rtt), `health sample ${rtt}: answered, untimed`);
    }
    // A probe sent in the new session: timed, and the hellos carry it.
    await eventually(() => Promise.resolve(answers.length > before), HANG_GUARD_MS);
    answers[before](1.3);
    await eventually(() => Promise.resolve(h.hellos().some((m) => m.rtt === 1.3)), HANG_GUARD_MS);
    assert.deepEqual(samples[before], ["K-lead", 1.3]);
    const said = h.hellos().map((m) => m.rtt);
    assert.ok(!said.includes(480), `no hello says the setup's time: ${said}`);
  } finally {
    for (const a of answers) a(1);
    await h.cleanup();
  }
});

Deno.test("node sync: closing says bye to the leader until it answers, then no hello follows", async () => {
  const h = await harness();
  try {
    h.sync.start(null);
    h.sent.length = 0;
    const closing = h.sync.close();
    assert.deepEqual(h.sent, [[LEADER, { t: "bye", k: "K-me" }]]);
    // A notice of a change while leaving: no hello (it would bring the node back online).
    h.deliver({ t: "changed", v: 99 });
    h.deliver({ t: "bye-ok" }, "10.3.0.3"); // not the leader: no answer
    h.deliver({ t: "bye-ok" });
    await closing;
    assert.ok(h.sent.every(([, m]) => m.t === "bye"), JSON.stringify(h.sent));
    assert.ok(h.sent.length <= 2, "answered before the third try");
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: a leader that does not answer the bye costs the stop its short wait, three tries", async () => {
  const h = await harness();
  try {
    h.sync.start(null);
    h.sent.length = 0;
    await h.sync.close();
    assert.equal(h.sent.filter(([, m]) => m.t === "bye").length, 3);
  } finally {
    await h.cleanup();
  }
  // A sync that never started (a failed start) says nothing.
  const never = await harness();
  try {
    await never.sync.close();
    assert.deepEqual(never.sent, []);
  } finally {
    await never.cleanup();
  }
});

Deno.test("node sync: a view from the leader without this node is its removal: said once, no more hellos, no bye", async () => {
  const h = await harness();
  try {
    let removed = 0;
    h.sync.onRemoved(() => removed++);
    h.sync.start(null);
    // From another member: not the leader's word.
    for (const part of viewParts(view(5, [leader]))) h.deliver(part, "10.3.0.3");
    assert.equal(removed, 0);
    for (const part of viewParts(view(5, [leader]))) h.deliver(part);
    assert.equal(removed, 1);
    assert.equal(h.sync.removed, true);
    for (const part of viewParts(view(6, [leader]))) h.deliver(part);
    assert.equal(removed, 1, "said once");
    const file = await h.saved();
    assert.equal(file.name, "me", "the file keeps the name the view no longer has");
    h.sent.length = 0;
    h.sync.hello();
    await h.sync.close();
    assert.ok(!h.sent.some(([, m]) => m.t === "bye"), "a removed node says no bye");
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: the leader in use paces the hellos, never faster than the node's own interval", async () => {
  const h = await harness({ intervalMs: 20 });
  try {
    const paced: number[] = [];
    h.sync.onPace((ms) => paced.push(ms));
    h.sync.start(null);
    const hellos = h.hellos;
    // From anyone but the leader in use: not taken.
    h.deliver({ t: "pace", hi: 40 }, "10.0.0.9");
    assert.equal(h.sync.helloIntervalMs, 20);
    h.deliver({ t: "pace", hi: 40 });
    assert.equal(h.sync.helloIntervalMs, 40);
    assert.deepEqual(paced, [40]);
    const n = hellos().length;
    await eventually(
      () => Promise.resolve(hellos().slice(n).some((m) => m.hi === 40)),
      HANG_GUARD_MS,
    );
    // Shorter than its own: its own.
    h.deliver({ t: "pace", hi: 10 });
    assert.equal(h.sync.helloIntervalMs, 20);
    assert.deepEqual(paced, [40, 20]);
    const m = hellos().length;
    await eventually(
      () => Promise.resolve(hellos().slice(m).some((x) => x.hi === 20)),
      HANG_GUARD_MS,
    );
  } finally {
    await h.cleanup();
  }
});

/** A started node's sync with nothing sent yet, and the count of its hellos from now on. */
async function asking() {
  const h = await harness();
  h.sync.start(null);
  h.sent.length = 0;
  return { h, hellos: () => h.hellos().length };
}

Deno.test("node sync: news asked for and not come is asked for again, until it comes", async () => {
  const { h, hellos } = await asking();
  try {
    h.deliver({ t: "changed", v: 2 });
    assert.equal(hellos(), 1);
    // The hello (or its answer) was lost: the node asks again without waiting for its interval.
    await eventually(() => Promise.resolve(hellos() >= 2), HANG_GUARD_MS);
    // A second notice meanwhile says no hello of its own: nothing came since the last, whose
    // answer (or the next retry's) brings what the leader holds.
    h.deliver({ t: "changed", v: 3 });
    assert.equal(hellos(), 2);
    for (const part of viewParts(view(3))) h.deliver(part);
    assert.equal(h.held().version, 3);
  } finally {
    await h.cleanup();
  }
});

/** A leader's snapshot of `count` members at `version`, its own part last (as fanout.ts sends). */
function snapshot(version: number, count: number): ControlMessage[] {
  const others = Array.from(
    { length: count },
    (_, i) => member(`m${i}`, `10.3.${1 + (i >> 8)}.${i & 255}`, { publicKey: `K-${i}` }),
  );
  const parts = viewParts(view(version, [leader, ...others])) as Extract<
    ControlMessage,
    { t: "view" }
  >[];
  const n = parts.length + 1;
  return [
    ...parts.map((p) => ({ ...p, parts: n })),
    { ...parts[0], part: n - 1, parts: n, members: [self] },
  ];
}

Deno.test("node sync: a snapshot comes a window at a time; a lost part is asked for again; a snapshot the leader dropped starts over (resync)", async () => {
  const h = await harness();
  try {
    h.sync.start(null);
    h.sent.length = 0;
    const fetches = () =>
      h.sent.filter(([to, m]) => to === LEADER && m.t === "fetch").map(([, m]) =>
        m as Extract<ControlMessage, { t: "fetch" }>
      );
    const s5 = snapshot(5, 2500);
    assert.ok(s5.length > 2 * SNAPSHOT_WINDOW, `${s5.length} parts`);
    // The first window, one part lost: no next window asked for while it lacks.
    for (const p of s5.slice(0, SNAPSHOT_WINDOW)) {
      if ((p as { part: number }).part !== 7) h.deliver(p);
    }
    assert.deepEqual(fetches(), []);
    // News meanwhile is not asked for (a hello would have the snapshot sent again).
    h.deliver({ t: "changed", v: 9 });
    assert.deepEqual(h.hellos(), []);
    // Parts stop coming: the one lacking is asked for.
    await eventually(() => Promise.resolve(fetches().length > 0), HANG_GUARD_MS);
    assert.deepEqual(fetches()[0], { t: "fetch", h: 1, v: 5, part: 7 });
    // It comes: the window is whole, the next is asked for at once.
    h.deliver(s5[7]);
    assert.deepEqual(fetches().at(-1), { t: "fetch", h: 1, v: 5, part: SNAPSHOT_WINDOW });
    // Its hellos say where the snapshot stands.
    h.sync.hello();
    const hello = h.hellos().at(-1)!;
    assert.deepEqual([hello.fw, hello.sv, hello.sp], [true, 5, SNAPSHOT_WINDOW]);
    // The leader no longer keeps snapshot 5: it sends its newest from part 0, which the node
    // assembles instead, a window at a time.
    const s8 = snapshot(8, 2500);
    let asked = fetches().length;
    for (const p of s8) {
      h.deliver(p);
      const part = (p as { part: number }).part;
      if ((part + 1) % SNAPSHOT_WINDOW === 0 && part + 1 < s8.length) {
        assert.deepEqual(fetches().at(-1), { t: "fetch", h: 1, v: 8, part: part + 1 });
        assert.equal(fetches().length, ++asked);
      }
    }
    assert.equal(h.held().version, 8);
    assert.equal(h.held().members.length, 2502);
    assert.equal(h.held().members.filter((m) => m.publicKey === "K-me").length, 1);
    assert.equal(h.sync.removed, false);
    // The news heard while it came is asked for now.
    assert.equal(h.hellos().at(-1)!.v, 8);
    assert.equal(h.hellos().at(-1)!.sv, undefined);
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: a packed view from the leader applies; one that does not unpack is dropped and said, the view held kept", async () => {
  const log = logged();
  const h = await harness({ logger: log.logger });
  try {
    h.sync.start(null);
    const head = { t: "view" as const, v: 3, network: "10.3.0.0/24" };
    const packed = (chunks: Uint8Array[]) => packedParts(head, chunks).map((b) => parseMessage(b)!);
    for (const msg of packed(packBody({ members: [leader, self, other], remove: [] }, 100))) {
      h.deliver(msg);
    }
    assert.equal(h.held().version, 3);
    assert.deepEqual(h.held().members.map((m) => m.name), ["lead", "me", "o"]);
    // A body cut short (a forged or broken chunk): nothing applied, one line.
    const good = packBody({ members: [leader, self], remove: [] });
    for (const msg of packed([good[0].slice(0, 8)]).map((m) => ({ ...m, v: 4 }))) h.deliver(msg);
    assert.equal(h.held().version, 3);
    const said = log.lines.filter((l) => /did not unpack/.test(l));
    assert.equal(said.length, 1);
    assert.match(said[0], /version=4/);
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: a shared view comes by its manifest from the leader in use: pieces from the holder it named, a liar's refused and asked of the leader; the node then holds and serves them (hz)", async () => {
  const h = await harness();
  try {
    h.sync.start(null);
    assert.equal(h.hellos()[0].fs, true, "hellos say the node takes shared views");
    assert.equal(h.hellos()[0].hz, undefined, "and hold none yet");
    const holder = member("h", "10.3.0.4", { publicKey: "K-h" });
    const extra = [other, holder, member("x", "10.3.0.5", { publicKey: "K-x" })];
    const segments = [[leader, self], extra].map((s) => packSegment(s, 60));
    const entries = segments.flatMap((pieces) =>
      pieces.map((p, i) => ({
        digest: pieceDigest(p),
        ends: i === pieces.length - 1,
        fromLeader: false,
      }))
    );
    const pieces = segments.flat();
    assert.ok(pieces.length > 4, `${pieces.length} pieces`);
    const manifest = { v: 5, network: view(5).network, entries };
    // A manifest from another leader (not in use) is not taken.
    h.deliver({ t: "holders", v: 5, members: [holder] });
    for (const d of manifestDatagrams(manifest)) {
      h.deliver({ t: "manifest", d: parseManifestDatagram(d)! });
    }
    const asks = () =>
      h.sent.filter(([, m]) => m.t === "pget") as [
        string,
        Extract<ControlMessage, { t: "pget" }>,
      ][];
    assert.ok(
      asks().length > 0 && asks().every(([to]) => to === holder.address),
      "asked of the holder",
    );
    // A member not named, and the holder lying: refused, and the holder asked no more.
    h.deliver({ t: "piece", piece: pieces[0] }, other.address);
    h.deliver({ t: "piece", piece: new Uint8Array([1, 2, 3]) }, holder.address);
    h.deliver({ t: "piece", piece: pieces[1] }, holder.address);
    const c = h.sync.sharedViews();
    assert.equal(c.refused["not-named"], 1);
    assert.equal(c.refused.mismatch, 1);
    // A piece whose digest the manifest lists is good from any holder named, even a liar.
    assert.equal(c.pieces.holder, 1);
    assert.ok(asks().some(([to]) => to === LEADER), "what the liar was asked goes to the leader");
    for (const p of pieces) h.deliver({ t: "piece", piece: p });
    assert.equal(h.held().version, 5);
    assert.deepEqual(h.held().members.map((m) => m.publicKey).sort(), [
      "K-h",
      "K-lead",
      "K-me",
      "K-o",
      "K-x",
    ]);
    assert.equal(h.sync.sharedViews().pieces.leader, pieces.length - 1);
    assert.equal(h.sync.sharedViews().refused.duplicate, 1);
    h.sync.hello();
    assert.equal(h.hellos().at(-1)!.hz, 5, "the node says it holds the view's pieces");
    // It serves them to a member of its view, by digest, and nothing to a stranger.
    const before = h.sent.length;
    h.deliver({ t: "pget", v: 5, d: [digestText(entries[2].digest)] }, other.address);
    h.deliver({ t: "pget", v: 5, d: [digestText(entries[2].digest)] }, "10.3.0.77");
    const served = h.sent.slice(before);
    assert.equal(served.length, 1);
    assert.equal(served[0][0], other.address);
    assert.deepEqual(served[0][1], { t: "piece", piece: pieces[2] });
    assert.equal(h.sync.sharedViews().drops["not-member"], 1);
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: a shared view's fetch the leader cannot finish (plack) is asked again with a hello; the new manifest's pieces held already are not asked again (resync)", async () => {
  const h = await harness();
  try {
    h.sync.start(null);
    const holder = member("h", "10.3.0.4", { publicKey: "K-h" });
    const segs = (last: string) =>
      [[leader, self], [other, holder], [member("x", "10.3.0.5", { publicKey: last })]].map((s) =>
        packSegment(s, 60)
      );
    const manifestOf = (v: number, segments: Uint8Array[][]) => ({
      v,
      network: view(v).network,
      entries: segments.flatMap((pieces) =>
        pieces.map((p, i) => ({
          digest: pieceDigest(p),
          ends: i === pieces.length - 1,
          fromLeader: false,
        }))
      ),
    });
    const give = (v: number, segments: Uint8Array[][]) => {
      h.deliver({ t: "holders", v, members: [holder] });
      for (const d of manifestDatagrams(manifestOf(v, segments))) {
        h.deliver({ t: "manifest", d: parseManifestDatagram(d)! });
      }
    };
    const asked = (from: number) =>
      h.sent.slice(from).flatMap(([, m]) => m.t === "pget" ? m.d as string[] : []);
    const first = segs("K-x");
    give(5, first);
    // The holder gives the first two segments' pieces, lacks the rest; the leader lacks them too.
    const held = [...first[0], ...first[1]];
    for (const p of held) h.deliver({ t: "piece", piece: p }, holder.address);
    const lacking = first[2].map((p) => digestText(pieceDigest(p)));
    h.deliver({ t: "plack", v: 5, d: lacking }, holder.address);
    assert.ok(h.sent.some(([to, m]) => to === LEADER && m.t === "pget"), "asked of the leader");
    const hellos = h.hellos().length;
    h.deliver({ t: "plack", v: 5, d: lacking });
    // Within a second of the manifest the leader would take the hello for one that crossed it:
    // it goes once that second is over.
    assert.equal(h.hellos().length, hellos, "not at once");
    assert.ok(
      await eventually(() => Promise.resolve(h.hellos().length > hellos), HANG_GUARD_MS),
      "the failed fetch asks again with a hello",
    );
    assert.equal(h.hellos().length, hellos + 1);
    assert.equal(h.hellos().at(-1)!.sv, undefined, "no fetch under way");
    assert.deepEqual(h.sync.sharedViews().failed, { now: 0, held: 1 });
    // The new view changed the last segment only: only its pieces are asked.
    const second = segs("K-y");
    const at = h.sent.length;
    give(6, second);
    const want = second[2].map((p) => digestText(pieceDigest(p)));
    assert.deepEqual(asked(at).sort(), want.sort());
    for (const p of second[2]) h.deliver({ t: "piece", piece: p }, holder.address);
    assert.equal(h.held().version, 6);
    assert.ok(h.held().members.some((m) => m.publicKey === "K-y"));
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: a manifest or holders from a leader not in use are not taken; its pieces are not looked at", async () => {
  const h = await harness({ start: view(1, [leader, leader2, self]) });
  try {
    h.sync.start(null);
    const pieces = packSegment([leader, leader2, self], 60);
    const manifest = {
      v: 5,
      network: view(5).network,
      entries: pieces.map((p, i) => ({
        digest: pieceDigest(p),
        ends: i === pieces.length - 1,
        fromLeader: true,
      })),
    };
    h.deliver({ t: "holders", v: 5, members: [other] }, LEADER2);
    for (const d of manifestDatagrams(manifest)) {
      h.deliver({ t: "manifest", d: parseManifestDatagram(d)! }, LEADER2);
    }
    for (const p of pieces) h.deliver({ t: "piece", piece: p }, LEADER2);
    assert.equal(h.held().version, 1, "nothing from the leader not in use");
    assert.equal(h.sent.filter(([, m]) => m.t === "pget").length, 0);
    assert.equal(h.sync.sharedViews().refused["not-named"], pieces.length);
    // The same from the leader in use: taken.
    for (const d of manifestDatagrams(manifest)) {
      h.deliver({ t: "manifest", d: parseManifestDatagram(d)! });
    }
    for (const p of pieces) h.deliver({ t: "piece", piece: p });
    assert.equal(h.held().version, 5);
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: news told while its hello was out, past the answer that came, is asked for at once", async () => {
  const { h, hellos } = await asking();
  try {
    h.deliver({ t: "changed", v: 2 });
    h.deliver({ t: "changed", v: 3 });
    assert.equal(hellos(), 1, "one hello out");
    // The answer brings 2: 3 is asked for now, not at the next hello.
    for (const part of deltaParts(1, view(2), { upsert: [], remove: [] })) h.deliver(part);
    assert.equal(h.held().version, 2);
    assert.equal(hellos(), 2);
    // 3 comes: nothing more is asked.
    for (const part of deltaParts(2, view(3), { upsert: [], remove: [] })) h.deliver(part);
    assert.equal(h.held().version, 3);
    assert.equal(hellos(), 2);
  } finally {
    await h.cleanup();
  }
});

Deno.test("node sync: a node that carries says the id of the leader's push key it holds; one that does not (a page) says none, so the leader pushes to it itself", async () => {
  const signer = new PushSigner();
  const h = await harness();
  const page = await harness({ nat: { carries: false } });
  try {
    const ck = (x: typeof h) => {
      const hello = x.sent.findLast(([, m]) => m.t === "hello")?.[1];
      return hello?.t === "hello" ? hello.ck : "no hello";
    };
    for (const x of [h, page]) {
      x.sync.start(null);
      x.deliver({ t: "pushkey", k: signer.publicKey });
      x.sync.hello();
    }
    assert.equal(ck(h), signer.keyId);
    assert.equal(ck(page), undefined);
  } finally {
    await h.cleanup();
    await page.cleanup();
  }
});
