import assert from "node:assert/strict";
import { type Hello, HELLO_RATE, HelloRate } from "./hello_rate.ts";

const hello = (v: number): Hello => ({ t: "hello", v, endpoints: [] });

Deno.test("hello rate: past the burst a member's latest hello is held and taken when the rate allows", async () => {
  let t = 0;
  const taken: [string, number, string][] = [];
  let onTaken = () => {};
  const rate = new HelloRate((key, msg, from) => {
    taken.push([key, msg.v, from]);
    onTaken();
  }, () => t);
  try {
    for (let i = 0; i < HELLO_RATE.burst; i++) assert.equal(rate.hello("k1", hello(i), "a1"), true);
    assert.equal(rate.hello("k1", hello(10), "a1"), false);
    assert.equal(rate.hello("k1", hello(11), "a1"), false);
    assert.equal(rate.refused, 2);
    // The rate allows one more a second later: only the latest is taken.
    t += 1000 / HELLO_RATE.perSecond;
    await new Promise<void>((r) => onTaken = r);
    assert.deepEqual(taken, [["k1", 11, "a1"]]);
  } finally {
    rate.close();
  }
});

Deno.test("hello rate: a bye within the rate drops the held hello; one over it is refused", async () => {
  let t = 0;
  const taken: string[] = [];
  let onTaken = () => {};
  const rate = new HelloRate((key) => {
    taken.push(key);
    onTaken();
  }, () => t);
  try {
    for (const k of ["k1", "k2"]) {
      for (let i = 0; i <= HELLO_RATE.burst; i++) rate.hello(k, hello(i), `a-${k}`);
    }
    assert.equal(rate.bye("k1"), false);
    // Two hellos' worth later: the bye takes one, and k1's held hello would have the other.
    t += 2000 / HELLO_RATE.perSecond;
    assert.equal(rate.bye("k1"), true);
    // The held hellos' turn: k2's is taken, k1's is gone with its bye.
    await new Promise<void>((r) => onTaken = r);
    assert.deepEqual(taken, ["k2"]);
  } finally {
    rate.close();
  }
});

Deno.test("hello rate: a hello within the rate drops the member's older one held, which would undo it", async () => {
  let t = 0;
  const taken: [string, number][] = [];
  let onTaken = () => {};
  const rate = new HelloRate((key, msg) => {
    taken.push([key, msg.v]);
    onTaken();
  }, () => t);
  try {
    // Two members past their bursts (a change told again, news asked for): each has one held.
    for (const [k, v] of [["k1", 10], ["k2", 20]] as const) {
      for (let i = 0; i < HELLO_RATE.burst; i++) rate.hello(k, hello(i), `a-${k}`);
      assert.equal(rate.hello(k, hello(v), `a-${k}`), false);
    }
    // A second on, k1's next hello (its state now) goes on at once.
    t += 1000 / HELLO_RATE.perSecond;
    assert.equal(rate.hello("k1", hello(12), "a-k1"), true);
    // Later still, the held hellos' turn (k1's first): k2's is taken, k1's older one is gone.
    t += 2000 / HELLO_RATE.perSecond;
    await new Promise<void>((r) => onTaken = () => taken.some(([k]) => k === "k2") && r());
    assert.deepEqual(taken, [["k2", 20]]);
  } finally {
    rate.close();
  }
});
