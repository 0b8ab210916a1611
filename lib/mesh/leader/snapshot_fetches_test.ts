import assert from "node:assert/strict";
import { AnswerPacer } from "./answers.ts";
import { type ControlMessage, parseMessage, ViewAssembler } from "../sync/protocol.ts";
import { Fanout } from "./fanout.ts";
import { LeaderCore } from "./core.ts";
import { generateKeyPair } from "../../crypto/keys.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { FETCH_IDLE_MS, FETCH_RATE, FETCHING_MAX, SnapshotFetches } from "./snapshot_fetches.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

// What each member's latest hello said it takes (packed parts or not).
const packed = new Map<string, boolean>();

// A fan-out whose snapshots (version 7) are three windows long, for every member.
const fanout = {
  keeps: (_key: string, v: number) => v === 7,
  needsView: () => true,
  newestSnapshot: () => 7,
  lastWindow: (_key: string, v: number, part: number) => v === 7 && part === 2,
  fetch: (key: string, _held: number, snap: { part: number } | null = null) => [
    enc.encode(`${key}:${snap?.part ?? 0}`),
  ],
  answer: (key: string) => [enc.encode(`${key}:delta`)],
  packs: (key: string, yes: boolean) => packed.set(key, yes),
} as unknown as Fanout;

function setup(members: Set<string>) {
  const sent: string[] = [];
  let t = 0;
  const answers = new AnswerPacer((_to, b) => sent.push(dec.decode(b)));
  const fetches = new SnapshotFetches({
    core: { memberByKey: (k: string) => members.has(k) ? ({} as never) : undefined },
    fanout: () => fanout,
    answers,
    now: () => t,
  });
  return { sent, fetches, answers, tick: (ms: number) => t += ms };
}

const hello: Extract<ControlMessage, { t: "hello" }> = {
  t: "hello",
  v: 0,
  endpoints: [],
  fw: true,
};

Deno.test("snapshot fetches: past FETCHING_MAX members wait in line, in order, and start as places free", () => {
  const keys = Array.from({ length: FETCHING_MAX + 3 }, (_, i) => `k${i}`);
  const { sent, fetches, answers } = setup(new Set(keys));
  try {
    for (const k of keys) fetches.hello(k, `a-${k}`, hello);
    // The first FETCHING_MAX got their first window; the others wait.
    assert.equal(sent.length, FETCHING_MAX);
    assert.deepEqual(sent.at(-1), `k${FETCHING_MAX - 1}:0`);
    // A member in line that is gone gives its place up.
    fetches.forget(`k${FETCHING_MAX}`);
    // A member fetching its last window frees its place: the next in line starts.
    fetches.fetch("k0", "a-k0", { t: "fetch", h: 0, v: 7, part: 2 });
    assert.deepEqual(sent.slice(FETCHING_MAX), [`k${FETCHING_MAX + 1}:0`, "k0:2"]);
    // A middle window keeps the place.
    fetches.fetch("k1", "a-k1", { t: "fetch", h: 0, v: 7, part: 1 });
    fetches.admit();
    assert.deepEqual(sent.slice(FETCHING_MAX + 2), ["k1:1"]);
  } finally {
    answers.close();
  }
});

Deno.test("snapshot fetches: places idle past FETCH_IDLE_MS free up; fetches past the rate are refused and counted", () => {
  const keys = Array.from({ length: FETCHING_MAX + 1 }, (_, i) => `k${i}`);
  const { sent, fetches, answers, tick } = setup(new Set(keys));
  try {
    for (const k of keys) fetches.hello(k, `a-${k}`, hello);
    assert.equal(sent.length, FETCHING_MAX);
    tick(FETCH_IDLE_MS + 1);
    fetches.admit();
    assert.deepEqual(sent.at(-1), `k${FETCHING_MAX}:0`);
    const before = sent.length;
    for (let i = 0; i < FETCH_RATE.burst + 5; i++) {
      fetches.fetch("k0", "a-k0", { t: "fetch", h: 0, v: 7, part: 1 });
    }
    assert.equal(fetches.refused, 5);
    assert.equal(sent.length - before, FETCH_RATE.burst);
  } finally {
    answers.close();
  }
});

Deno.test("snapshot fetches: what a member takes (packed parts or JSON ones) is what its latest hello says", () => {
  const { fetches, answers } = setup(new Set(["a", "b"]));
  packed.clear();
  try {
    fetches.hello("a", "a-a", { ...hello, fz: true });
    fetches.hello("b", "a-b", hello);
    assert.deepEqual([...packed], [["a", true], ["b", false]]);
    fetches.hello("a", "a-a", hello);
    assert.equal(packed.get("a"), false);
  } finally {
    answers.close();
    packed.clear();
  }
});

Deno.test("snapshot fetches: more than FETCHING_MAX members fetch whole views at once; those past it wait, then are served; none is lost", async () => {
  const WINDOW = 4;
  const core = await LeaderCore.open(null, {
    network: "10.7.0.0/24",
    hostname: "lead",
    publicKey: generateKeyPair().publicKey,
    endpoints: ["192.0.2.1:51820"],
  });
  const token = await core.createToken({ ttlMs: 60_000, uses: null, labels: {} });
  const members: Member[] = [];
  for (let i = 0; i < FETCHING_MAX + 6; i++) {
    const res = await core.join({
      tokenId: token.id,
      secret: token.secret,
      publicKey: generateKeyPair().publicKey,
      hostname: `n${i}`,
      labels: {},
      services: [],
      endpoints: [],
      time: Date.now(),
    }, null);
    if (!res.ok) throw new Error(res.error);
    members.push(res.member);
  }
  const fan = new Fanout(core, { window: WINDOW });
  // What each member got; datagrams sent so far, and when each member's first came.
  const inbox = new Map<string, Uint8Array[]>();
  const first = new Map<string, number>();
  let sent = 0;
  const answers = new AnswerPacer((to, bytes) => {
    if (!first.has(to)) first.set(to, sent);
    sent++;
    inbox.get(to)!.push(bytes);
  });
  const fetches = new SnapshotFetches({ core, fanout: () => fan, answers, now: () => 0 });
  const nodes = members.map((m) => ({
    m,
    asm: new ViewAssembler(),
    view: null as MembershipView | null,
    asked: 0,
    // Datagrams sent when it asked for its last window (its place then goes to the next).
    last: Infinity,
  }));
  const held = (n: (typeof nodes)[number]) => n.view?.version ?? 0;
  try {
    for (const n of nodes) inbox.set(n.m.address, []);
    // Every member says hello at once, each lacking its whole view.
    for (const n of nodes) {
      fetches.hello(n.m.publicKey, n.m.address, { t: "hello", v: 0, endpoints: [], fw: true });
    }
    // Each answer is sent paced: a node takes the parts that came, and asks for the next window
    // once it holds one whole (as node_sync.ts does).
    for (let turn = 0; turn < 1000 && nodes.some((n) => held(n) < core.view().version); turn++) {
      await new Promise((r) => setTimeout(r, 0));
      for (const n of nodes) {
        for (const bytes of inbox.get(n.m.address)!.splice(0)) {
          const msg = parseMessage(bytes) as ControlMessage;
          if (msg.t !== "view") continue;
          const v = n.asm.add(msg, n.view ?? { network: "", version: 0, members: [] });
          if (v) n.view = v;
        }
        const s = n.asm.snapshot();
        if (s && s.next % WINDOW === 0 && s.next > n.asked && !answers.busy(n.m.publicKey)) {
          n.asked = s.next;
          if (s.next + WINDOW >= s.parts) n.last = sent;
          fetches.fetch(n.m.publicKey, n.m.address, {
            t: "fetch",
            h: held(n),
            v: s.v,
            part: s.next,
          });
        }
      }
    }
    // The first FETCHING_MAX started at once; each one past them only once as many members as
    // were ahead of it in line, and one more, had asked for their last windows (places freed).
    for (const [i, n] of nodes.entries()) {
      const at = first.get(n.m.address);
      assert.ok(at !== undefined, `${n.m.name} was never served`);
      if (i < FETCHING_MAX) {
        assert.ok(at < FETCHING_MAX * WINDOW, `${n.m.name} started at once`);
        continue;
      }
      const freed = nodes.filter((o) => o.last <= at).length;
      assert.ok(freed >= i - FETCHING_MAX + 1, `${n.m.name} started with ${freed} places freed`);
    }
    // None is lost: every member holds the whole view.
    const all = JSON.stringify(core.view().members.map((m) => m.publicKey).sort());
    for (const n of nodes) {
      assert.equal(held(n), core.view().version, n.m.name);
      assert.equal(JSON.stringify(n.view!.members.map((m) => m.publicKey).sort()), all, n.m.name);
    }
  } finally {
    answers.close();
  }
});
