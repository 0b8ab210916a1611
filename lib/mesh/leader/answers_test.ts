import assert from "node:assert/strict";
import { AnswerPacer, URGENT_TURNS } from "./answers.ts";

const parts = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => new TextEncoder().encode(`${tag}${i}`));
const turn = () => new Promise((r) => setTimeout(r, 0));

Deno.test("answers: a large answer goes a slice per turn, in order; a small one at once", async () => {
  const sent: string[] = [];
  const pacer = new AnswerPacer((to, b) => sent.push(`${to}:${new TextDecoder().decode(b)}`), {
    slice: 4,
    small: 2,
  });
  try {
    pacer.answer("k1", "a1", parts(6, "v"));
    pacer.answer("k2", "a2", parts(2, "d"));
    // The small answer went at once; the large one waits for the next turn.
    assert.deepEqual(sent, ["a2:d0", "a2:d1"]);
    assert.equal(pacer.busy("k1"), true);
    await turn();
    assert.deepEqual(sent.slice(2), ["a1:v0", "a1:v1", "a1:v2", "a1:v3"]);
    await turn();
    assert.deepEqual(sent.slice(6), ["a1:v4", "a1:v5"]);
    assert.equal(pacer.busy("k1"), false);
    assert.equal(pacer.pending, 0);
  } finally {
    pacer.close();
  }
});

Deno.test("answers: a member with an answer under way is not sent another", async () => {
  const sent: string[] = [];
  const pacer = new AnswerPacer((to, b) => sent.push(`${to}:${new TextDecoder().decode(b)}`), {
    slice: 3,
    small: 1,
  });
  try {
    pacer.answer("k1", "a1", parts(4, "v"));
    // Its next hellos while the view goes out: neither another view nor a delta.
    pacer.answer("k1", "a1", parts(4, "w"));
    pacer.answer("k1", "a1", parts(1, "d"));
    assert.equal(pacer.skipped, 2);
    while (pacer.pending > 0) await turn();
    assert.deepEqual(sent, ["a1:v0", "a1:v1", "a1:v2", "a1:v3"]);
    // Once out, the member is answered again.
    pacer.answer("k1", "a1", parts(1, "d"));
    assert.deepEqual(sent.at(-1), "a1:d0");
  } finally {
    pacer.close();
  }
});

Deno.test("answers: a member that left is forgotten; after close nothing is sent", async () => {
  const sent: string[] = [];
  const pacer = new AnswerPacer((to) => sent.push(to), { slice: 2, small: 1 });
  pacer.answer("k1", "a1", parts(5, "v"));
  pacer.answer("k2", "a2", parts(3, "v"));
  pacer.forget("k1");
  while (pacer.pending > 0) await turn();
  assert.deepEqual(sent, ["a2", "a2", "a2"]);
  pacer.answer("k3", "a3", parts(5, "v"));
  pacer.close();
  await turn();
  pacer.answer("k4", "a4", parts(1, "v"));
  assert.deepEqual(sent, ["a2", "a2", "a2"]);
});

Deno.test("answers: a push goes a slice per turn ahead of whole views; whenPushed waits for it", async () => {
  const sent: string[] = [];
  const pacer = new AnswerPacer((to, b) => sent.push(`${to}:${new TextDecoder().decode(b)}`), {
    slice: 3,
    small: 1,
  });
  try {
    pacer.answer("k1", "a1", parts(3, "v"));
    const sends: (string | Uint8Array)[] = [];
    for (const [to, b] of [["m1", "p0"], ["m2", "p1"], ["m3", "p2"], ["m4", "p3"]]) {
      sends.push(to, new TextEncoder().encode(b));
    }
    pacer.push(sends);
    assert.equal(pacer.pushing, 4);
    let out = -1;
    pacer.whenPushed(() => out = sent.length);
    // Nothing in this turn: the caller's turn (an API request, a bye) is not held by the push.
    assert.deepEqual(sent, []);
    await turn();
    // The push first, half the turn (a view waits), then the view.
    assert.deepEqual(sent, ["m1:p0", "m2:p1", "a1:v0"]);
    assert.equal(out, -1);
    await turn();
    // The push is out, and whenPushed heard of it then.
    assert.deepEqual(sent.slice(3), ["m3:p2", "m4:p3", "a1:v1"]);
    assert.equal(out, 5);
    assert.equal(pacer.pushing, 0);
    let now = false;
    pacer.whenPushed(() => now = true);
    assert.equal(now, true, "no push queued: at once");
    while (pacer.pending > 0) await turn();
    assert.deepEqual(sent.slice(6), ["a1:v2"]);
  } finally {
    pacer.close();
  }
});

Deno.test("answers: the next window of a snapshot a member is fetching goes ahead of views that start one", async () => {
  const sent: string[] = [];
  const pacer = new AnswerPacer((to, b) => sent.push(`${to}:${new TextDecoder().decode(b)}`), {
    slice: 2,
    small: 1,
  });
  try {
    pacer.answer("k1", "a1", parts(2, "v"));
    pacer.answer("k2", "a2", parts(2, "w"), true);
    assert.equal(pacer.busy("k2"), true);
    while (pacer.pending > 0) await turn();
    assert.deepEqual(sent, ["a2:w0", "a2:w1", "a1:v0", "a1:v1"]);
  } finally {
    pacer.close();
  }
});

Deno.test("answers: with answers waiting, a push gets half of each turn", async () => {
  const sent: string[] = [];
  const pacer = new AnswerPacer((to, b) => sent.push(`${to}:${new TextDecoder().decode(b)}`), {
    slice: 4,
    small: 1,
  });
  try {
    pacer.answer("k1", "a1", parts(4, "v"));
    const sends: (string | Uint8Array)[] = [];
    for (let i = 0; i < 6; i++) sends.push(`m${i}`, new TextEncoder().encode(`p${i}`));
    pacer.push(sends);
    await turn();
    assert.deepEqual(sent, ["m0:p0", "m1:p1", "a1:v0", "a1:v1"]);
    await turn();
    assert.deepEqual(sent.slice(4), ["m2:p2", "m3:p3", "a1:v2", "a1:v3"]);
    await turn();
    // Nothing waits: the push has the whole turn.
    assert.deepEqual(sent.slice(8), ["m4:p4", "m5:p5"]);
  } finally {
    pacer.close();
  }
});

Deno.test("answers: while an answer waits for the pushes (a bye's), they take whole, longer turns and views none", async () => {
  const sent: string[] = [];
  let urgent = true;
  const pacer = new AnswerPacer((to, b) => sent.push(`${to}:${new TextDecoder().decode(b)}`), {
    slice: 4,
    small: 1,
    urgent: () => urgent,
  });
  try {
    pacer.answer("k1", "a1", parts(8, "v"));
    const sends: (string | Uint8Array)[] = [];
    for (let i = 0; i < 20; i++) sends.push(`m${i}`, new TextEncoder().encode(`p${i}`));
    pacer.push(sends);
    let told = false;
    pacer.whenPushed(() => {
      told = true;
      urgent = false;
    });
    const pushedTo = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => `m${from + i}:p${from + i}`);
    await turn();
    // A turn URGENT_TURNS times as long (16 datagrams), all of it the push's.
    assert.equal(URGENT_TURNS, 4);
    assert.deepEqual(sent, pushedTo(0, 16));
    await turn();
    // The push is out within the turn, then the answer that waited; the rest goes to the views.
    assert.deepEqual(sent.slice(16), [
      ...pushedTo(16, 20),
      ...parts(8, "v").map((_, i) => `a1:v${i}`),
    ]);
    assert.equal(told, true);
  } finally {
    pacer.close();
  }
});
