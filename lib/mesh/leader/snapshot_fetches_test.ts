import assert from "node:assert/strict";
import { AnswerPacer } from "./answers.ts";
import type { ControlMessage } from "../sync/protocol.ts";
import type { Fanout } from "./fanout.ts";
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
