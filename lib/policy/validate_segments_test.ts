import assert from "node:assert/strict";
import { parsePolicy } from "./parse.ts";

Deno.test("policy segments: every mistake is named with its line", () => {
  const bad: [string, RegExp][] = [
    ["segments:\n  - { name: Blue, vni: 1, select: '*' }\n", /line 2: .*bad segment name/],
    ["segments:\n  - { name: a-very-long-name, vni: 1, select: '*' }\n", /bad segment name/],
    [
      "segments:\n  - { name: b, vni: 0, select: '*' }\n",
      /bad vni: expected an integer 1-16777215/,
    ],
    ["segments:\n  - { name: b, vni: 16777216, select: '*' }\n", /bad vni/],
    ["segments:\n  - { name: b, vni: 1 }\n", /segment "b" needs select/],
    ["segments:\n  - { name: b, vni: 1, select: { cidrs: [10.0.0.0/8] } }\n", /not cidrs/],
    ["segments:\n  - { name: b, vni: 1, select: '*', mtu: 100 }\n", /bad mtu/],
    ["segments:\n  - { name: b, vni: 1, select: '*', driver: geneve }\n", /bad driver/],
    ["segments:\n  - { name: b, vni: 1, select: '*', rate: 1 }\n", /unknown key "rate"/],
    [
      "segments:\n  - { name: b, vni: 1, select: '*' }\n  - { name: b, vni: 2, select: '*' }\n",
      /line 3: segments\[1\]: duplicate segment name "b"/,
    ],
    [
      "segments:\n  - { name: b, vni: 1, select: '*' }\n  - { name: c, vni: 1, select: '*' }\n",
      /duplicate segment vni 1/,
    ],
    ["segments: blue\n", /segments must be a list/],
  ];
  for (const [text, re] of bad) assert.throws(() => parsePolicy(text), re, text);
});
