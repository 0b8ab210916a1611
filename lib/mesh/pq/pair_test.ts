import assert from "node:assert/strict";
import { OFFER_RETRY_MS, type PqFailure, PqPair } from "./pair.ts";
import { compare } from "./kem.ts";
import { encodePq, parsePq, type PqMessage } from "./wire.ts";
import { generatePrivateKey, publicKeyOf } from "../../crypto/keys.ts";
import { seededRandom } from "../../../tests/fixtures/prng.ts";

const ROTATE = 5000;

/** Two sides of a pair, their messages queued (through the wire format) until delivered. */
function makePair() {
  const keys = [publicKeyOf(generatePrivateKey()), publicKeyOf(generatePrivateKey())];
  keys.sort(compare);
  const queue: { to: 0 | 1; bytes: Uint8Array }[] = [];
  const installed: { cur: Uint8Array; alt: Uint8Array | null }[] = [
    { cur: new Uint8Array(32), alt: null },
    { cur: new Uint8Array(32), alt: null },
  ];
  const handshakes = [0, 0];
  const failures: PqFailure[] = [];
  const side = (i: 0 | 1) =>
    new PqPair({
      me: keys[i],
      peer: keys[1 - i],
      send: (m) => queue.push({ to: (1 - i) as 0 | 1, bytes: encodePq(m) }),
      install: (c, a) => installed[i] = { cur: c.key.slice(), alt: a ? a.key.slice() : null },
      rehandshake: () => handshakes[i]++,
      rotateMs: ROTATE,
    }, 0);
  const sides = [side(0), side(1)] as const;
  const take = (m: { to: 0 | 1; bytes: Uint8Array }, now: number) => {
    const r = sides[m.to].handle(parsePq(m.bytes)!, now);
    if (r) failures.push(r);
  };
  return {
    keys,
    sides,
    queue,
    installed,
    handshakes,
    failures,
    take,
    /** Delivers every queued message (and what they cause) in order. */
    deliver(now = 0) {
      while (queue.length > 0) take(queue.shift()!, now);
    },
    /**
     * The rule that keeps handshakes working: whichever side answers, its current key is one of
     * the two the other side tries.
     */
    handshakesWork(): boolean {
      const holds = (x: number, y: number) =>
        same(installed[x].cur, installed[y].cur) ||
        (installed[y].alt !== null && same(installed[x].cur, installed[y].alt!));
      return holds(0, 1) && holds(1, 0);
    },
  };
}

const same = (a: Uint8Array, b: Uint8Array) => a.every((x, i) => x === b[i]);
const zero = (a: Uint8Array) => a.every((x) => x === 0);

Deno.test("a rotation: both sides end on the same new key; the next one is another", () => {
  const p = makePair();
  const [a, b] = p.sides;
  assert.ok(a.initiator && !b.initiator);
  assert.equal(b.tick(0, true), null); // the responder never starts
  assert.equal(p.queue.length, 0);
  a.tick(0, true);
  p.deliver();
  const first = p.installed[0].cur;
  assert.ok(!zero(first));
  assert.ok(same(first, p.installed[1].cur));
  assert.equal(a.current.rotation, 1);
  assert.equal(b.current.rotation, 1);
  assert.equal(a.rotations + b.rotations, 2);
  // The responder starts the handshake that puts the new key into a session.
  assert.deepEqual(p.handshakes, [0, 1]);
  // Not due yet; due after the interval.
  a.tick(ROTATE * 0.5, true);
  assert.equal(p.queue.length, 0);
  a.tick(ROTATE, true);
  p.deliver(ROTATE);
  assert.ok(same(p.installed[0].cur, p.installed[1].cur));
  assert.ok(!same(p.installed[0].cur, first));
  assert.equal(b.current.rotation, 2);
  assert.deepEqual(p.failures, []);
});

Deno.test("no session, no rotation; the pair stays on the base key", () => {
  const p = makePair();
  p.sides[0].tick(0, false);
  assert.equal(p.queue.length, 0);
  assert.equal(p.sides[0].current.rotation, 0);
});

Deno.test("a lost answer: the offer is sent again and answered with the same ciphertext", () => {
  const p = makePair();
  const [a, b] = p.sides;
  a.tick(0, true);
  p.take(p.queue.shift()!, 0); // offer
  const answer = p.queue.shift()!; // lost
  const bAlt = b.alternate!.key.slice();
  assert.ok(p.handshakesWork());
  a.tick(OFFER_RETRY_MS[0], true);
  p.take(p.queue.shift()!, OFFER_RETRY_MS[0]); // the same offer
  const again = p.queue[0];
  assert.deepEqual(again.bytes, answer.bytes);
  assert.ok(same(b.alternate!.key, bAlt));
  p.deliver(OFFER_RETRY_MS[0]);
  assert.ok(same(p.installed[0].cur, p.installed[1].cur));
  assert.equal(a.rotations, 1);
  assert.deepEqual(p.failures, []);
});

Deno.test("a lost confirmation: handshakes still work; the next offer moves the responder on", () => {
  const p = makePair();
  const [a, b] = p.sides;
  a.tick(0, true);
  p.take(p.queue.shift()!, 0); // offer
  p.take(p.queue.shift()!, 0); // answer
  p.queue.shift(); // the confirmation, lost
  assert.equal(a.current.rotation, 1);
  assert.equal(b.current.rotation, 0);
  assert.ok(p.handshakesWork());
  a.tick(ROTATE, true);
  p.take(p.queue.shift()!, ROTATE); // offer 2, saying a uses 1
  assert.equal(b.current.rotation, 1);
  assert.ok(p.handshakesWork());
  p.deliver(ROTATE);
  assert.equal(b.current.rotation, 2);
  assert.ok(same(p.installed[0].cur, p.installed[1].cur));
});

Deno.test("duplicates change nothing; a reordered old answer is counted stale", () => {
  const p = makePair();
  const [a, b] = p.sides;
  a.tick(0, true);
  const offer = p.queue.shift()!;
  p.take(offer, 0);
  p.take(offer, 0); // the offer twice: the same answer twice
  const [answer1, answer2] = p.queue.splice(0, 2);
  assert.deepEqual(answer1.bytes, answer2.bytes);
  p.take(answer1, 0);
  const confirm = p.queue.shift()!;
  p.take(answer2, 0); // a duplicate answer: confirmed again
  const confirmAgain = p.queue.shift()!;
  assert.deepEqual(confirmAgain.bytes, confirm.bytes);
  p.take(confirm, 0);
  p.take(confirmAgain, 0);
  assert.equal(b.rotations, 1);
  assert.deepEqual(p.handshakes, [0, 1]);
  const key = p.installed[0].cur.slice();
  // Rotation 2, then the old answer of rotation 1 arrives late.
  a.tick(ROTATE, true);
  p.deliver(ROTATE);
  p.take(answer1, ROTATE);
  assert.deepEqual(p.failures, ["stale"]);
  assert.ok(!same(p.installed[0].cur, key));
  assert.ok(same(p.installed[0].cur, p.installed[1].cur));
  // And the old offer: older than the last answered.
  p.take(offer, ROTATE);
  assert.deepEqual(p.failures, ["stale", "stale"]);
  assert.ok(p.handshakesWork());
});

Deno.test("any loss, duplication and order of the messages: every handshake works in every state", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const rnd = seededRandom(seed);
    const p = makePair();
    const [a] = p.sides;
    let now = 0;
    for (let step = 0; step < 60; step++) {
      now += 500;
      a.tick(now, true);
      // Shuffle, drop and duplicate what is in flight, then deliver some of it.
      const inFlight = p.queue.splice(0);
      for (const m of inFlight) {
        const r = rnd();
        if (r < 0.25) continue; // lost
        p.queue.splice(Math.floor(rnd() * (p.queue.length + 1)), 0, m);
        if (r > 0.85) p.queue.splice(Math.floor(rnd() * (p.queue.length + 1)), 0, m);
      }
      while (p.queue.length > 0 && rnd() < 0.8) {
        p.take(p.queue.shift()!, now);
        assert.ok(p.handshakesWork(), `seed ${seed} step ${step}`);
      }
    }
    // Quiet at the end: the exchange settles on one key.
    for (let i = 0; i < 40; i++) {
      now += 1000;
      a.tick(now, true);
      p.deliver(now);
    }
    assert.ok(same(p.installed[0].cur, p.installed[1].cur), `seed ${seed}`);
    assert.ok(a.rotations > 0);
    for (const f of p.failures) assert.ok(f === "stale" || f === "no-answer", f);
  }
});

Deno.test("a peer that never answers: retries with backoff, then given up and shown unanswered", () => {
  const p = makePair();
  const [a] = p.sides;
  a.tick(0, true);
  let now = 0;
  let offers = 1;
  for (const wait of OFFER_RETRY_MS) {
    assert.equal(a.tick(now + wait - 1, true), null);
    now += wait;
    assert.equal(a.tick(now, true), offers === OFFER_RETRY_MS.length ? "no-answer" : null);
    offers++;
  }
  assert.equal(p.queue.length, OFFER_RETRY_MS.length); // the first and 4 retries
  // Every retry is the same offer (its key is kept, not made again).
  assert.ok(p.queue.every((m) => same(m.bytes, p.queue[0].bytes)));
  assert.ok(a.unanswered && !a.pending);
  assert.equal(a.current.rotation, 0);
  // Tried again after the interval.
  p.queue.length = 0;
  a.tick(now + ROTATE, true);
  assert.equal(p.queue.length, 1);
});

Deno.test("messages for the other role, of another run or naming an unknown key are refused", () => {
  const p = makePair();
  const [a, b] = p.sides;
  const ek = new Uint8Array(1184);
  assert.equal(a.handle({ t: "offer", sid: 1, rotation: 1, have: 0, ek }, 0), "wrong-role");
  assert.equal(
    b.handle({ t: "answer", sid: 1, rotation: 1, ct: new Uint8Array(1088) }, 0),
    "wrong-role",
  );
  assert.equal(b.handle({ t: "offer", sid: 9, rotation: 3, have: 2, ek }, 0), "unknown-key");
  assert.equal(b.handle({ t: "confirm", sid: 8, rotation: 1 }, 0), "stale");
  a.tick(0, true);
  assert.equal(
    a.handle({ t: "answer", sid: 0, rotation: 1, ct: new Uint8Array(1088) }, 0),
    "stale",
  );
  // An encapsulation key that is no key (noble checks its encoding): counted, nothing changes.
  const bad = new Uint8Array(1184).fill(0xff);
  assert.equal(b.handle({ t: "offer", sid: 9, rotation: 4, have: 0, ek: bad }, 0), "kem-error");
  assert.equal(b.current.rotation, 0);
  assert.equal(b.alternate, null);
});

Deno.test("a reset goes back to the base key, keeps the one held second, rotates at once", () => {
  const p = makePair();
  const [a, b] = p.sides;
  a.tick(0, true);
  p.deliver();
  const held = b.current.key.slice();
  b.reset(10);
  assert.ok(zero(p.installed[1].cur));
  assert.ok(same(p.installed[1].alt!, held), "the key held is tried second");
  assert.ok(p.handshakesWork(), "a still holds it: handshakes work both ways");
  a.reset(10);
  assert.ok(p.handshakesWork());
  a.tick(11, true);
  p.deliver(11);
  assert.ok(same(p.installed[0].cur, p.installed[1].cur));
  assert.ok(!zero(p.installed[0].cur));
  assert.ok(zero(held) === false && !same(p.installed[0].cur, held));
  assert.deepEqual(p.failures, []);
});

Deno.test("a restarted initiator (a new run) starts from the base key with the responder", () => {
  const p = makePair();
  p.sides[0].tick(0, true);
  p.deliver();
  assert.equal(p.sides[1].current.rotation, 1);
  // The same responder, a new initiator run: its first offer says it holds no key.
  const fresh = new PqPair({
    me: p.keys[0],
    peer: p.keys[1],
    send: (m) => p.queue.push({ to: 1, bytes: encodePq(m) }),
    install: () => {},
    rehandshake: () => {},
    rotateMs: ROTATE,
  }, 0);
  fresh.tick(1, true);
  const offer = parsePq(p.queue.shift()!.bytes) as Extract<PqMessage, { t: "offer" }>;
  assert.equal(offer.have, 0);
  assert.equal(p.sides[1].handle(offer, 1), null);
  assert.equal(p.sides[1].current.rotation, 0);
  assert.equal(p.sides[1].alternate?.rotation, offer.rotation);
});
