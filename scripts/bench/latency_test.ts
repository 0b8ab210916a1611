/**
 * The latency bench's own logic (no lab, no root): matching a traced ping's events on both
 * agents into the steps of its round trip, and reading ping's output. Figures never asserted.
 */
import assert from "node:assert/strict";
import {
  parseRtts,
  pingSteps,
  roundOrder,
  shuffledOrder,
  STEPS,
  type TraceEvent,
  v8FlagsOf,
  weftVariantOf,
} from "./latency.ts";
import { JIT_V8_FLAGS } from "../../lib/agent/jit.ts";

const ev = (k: string, t: number, a = 0, b = 0, c = 0): TraceEvent => ({ k, t, a, b, c });

Deno.test("pingSteps: one ping's events on both agents, step by step", () => {
  const sent = 1000;
  // a sends the request and gets the reply; b answers. Times in µs.
  const a = [
    ev("poll-wake", 1010, 1),
    ev("tun-read", 1012, 8, 1, sent),
    ev("udp-send", 1020),
    ev("udp-flush", 1030, 1),
    ev("poll-wake", 1100, 1),
    ev("udp-recv", 1102),
    ev("tun-write", 1110, 0, 1, sent),
    ev("tun-written", 1115),
  ];
  const b = [
    ev("poll-wake", 1025, 1), // before a's sendmmsg returned: the kernel delivered in it
    ev("udp-recv", 1027),
    ev("tun-write", 1040, 8, 1, sent),
    ev("tun-written", 1045),
    ev("poll-wake", 1050, 1),
    ev("tun-read", 1051, 0, 1, sent),
    ev("udp-send", 1060),
    ev("udp-flush", 1070, 1),
  ];
  const steps = pingSteps(a, b, sent, 0.112)!;
  assert.equal(steps.length, STEPS.length + 2);
  assert.deepEqual(steps.slice(0, STEPS.length), [
    10, // ping → a wakes
    2,
    8,
    5, // a's sendmmsg called → b wakes
    2,
    13,
    5,
    5,
    1,
    9,
    40, // b's sendmmsg called → a wakes
    2,
    8,
    5,
    -3, // ping's receive time is the kernel's, before the TUN write returns
  ]);
  assert.deepEqual(steps.slice(STEPS.length), [10, 10]); // each sendmmsg's duration
  // A ping whose events are not all there is left out.
  assert.equal(pingSteps(a, b.slice(0, 4), sent, 0.112), null);
  assert.equal(pingSteps(a, b, 999, 0.112), null);
});

Deno.test("parseRtts: seq → RTT from ping's lines", () => {
  const out = "64 bytes from 10.79.0.2: icmp_seq=1 ttl=64 time=0.512 ms\n" +
    "64 bytes from 10.79.0.2: icmp_seq=3 ttl=64 time=1.03 ms\n";
  assert.deepEqual([...parseRtts(out)], [[1, 0.512], [3, 1.03]]);
});

Deno.test("roundOrder: every variant once a round, each first in turn", () => {
  const rounds = [0, 1, 2, 3].map((r) => roundOrder(3, r));
  for (const order of rounds) assert.deepEqual([...order].sort(), [0, 1, 2]);
  assert.deepEqual(rounds.map((o) => o[0]), [0, 1, 2, 0]);
});

Deno.test("v8FlagsOf: flags alone, or after weft's own with +", () => {
  assert.deepEqual(v8FlagsOf("--a,--b=2"), ["--a", "--b=2"]);
  assert.deepEqual(v8FlagsOf(""), []);
  assert.deepEqual(v8FlagsOf("+--no-maglev"), [...JIT_V8_FLAGS, "--no-maglev"]);
});

Deno.test("shuffledOrder: each variant leads in turn from the seed's, the rest drawn", () => {
  const orders = Array.from({ length: 12 }, (_, r) => shuffledOrder(4, r, 7));
  for (const order of orders) assert.deepEqual([...order].sort(), [0, 1, 2, 3]);
  assert.deepEqual(orders, Array.from({ length: 12 }, (_, r) => shuffledOrder(4, r, 7)));
  assert.deepEqual(orders.map((o) => o[0]), [3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2]);
  // Round 0 is led by the seed's variant.
  assert.deepEqual([0, 1, 2, 3].map((seed) => shuffledOrder(4, 0, seed)[0]), [0, 1, 2, 3]);
  // Not rotation's fixed neighbours: who follows variant 0 changes over the rounds.
  const after0 = new Set(orders.map((o) => o[(o.indexOf(0) + 1) % 4]));
  assert.ok(after0.size > 1, `variant 0 always followed by ${[...after0]}`);
});

Deno.test("weftVariantOf: a name with variables, or a name alone for weft as it is", () => {
  assert.deepEqual(weftVariantOf("nowarm=WEFT_WARM_UP=0"), {
    name: "nowarm",
    env: { WEFT_WARM_UP: "0" },
  });
  assert.deepEqual(weftVariantOf("x=A=1,2,B_C=3"), { name: "x", env: { A: "1,2", B_C: "3" } });
  assert.deepEqual(weftVariantOf("same"), { name: "same", env: {} });
  assert.deepEqual(weftVariantOf("same="), { name: "same", env: {} });
  assert.throws(() => weftVariantOf("bad=novalue"), Error, "expected ENV=VALUE");
});
