import assert from "node:assert/strict";
import { fromWire, MAX_CALLME_CANDIDATES, toWire } from "./callme_message.ts";

Deno.test("callme: our candidates go out as IP endpoints only, at most 16", () => {
  const list = [
    { kind: "lan" as const, endpoint: "192.168.1.5:51820" },
    { kind: "advertised" as const, endpoint: "vpn.example.com:51820" },
    { kind: "observed" as const, endpoint: "[2001:db8::1]:41641" },
    ...Array.from({ length: 20 }, (_, i) => ({
      kind: "observed" as const,
      endpoint: `203.0.113.${i}:1`,
    })),
  ];
  const wire = toWire(list);
  assert.equal(wire.length, MAX_CALLME_CANDIDATES);
  assert.deepEqual(wire.slice(0, 2), [
    { k: "lan", e: "192.168.1.5:51820" },
    { k: "observed", e: "[2001:db8::1]:41641" },
  ]);
});

Deno.test("callme: received candidates are held to --advertise's rules, names refused", () => {
  assert.deepEqual(
    fromWire([{ k: "lan", e: "192.168.1.5:51820" }, { k: "observed", e: "[2001:DB8::1]:1" }]),
    [{ kind: "lan", endpoint: "192.168.1.5:51820" }, {
      kind: "observed",
      endpoint: "[2001:db8::1]:1",
    }],
  );
  // Repeats are kept once.
  assert.equal(
    fromWire([{ k: "lan", e: "192.0.2.1:1" }, { k: "observed", e: "192.0.2.1:1" }])!
      .length,
    1,
  );
  assert.deepEqual(fromWire([]), []);
  for (
    const bad of [
      null,
      "x",
      [null],
      [{ k: "relay", e: "192.0.2.1:1" }],
      [{ k: "lan", e: "192.0.2.1:0" }],
      [{ k: "lan", e: "192.0.2.1" }],
      [{ k: "lan", e: "host.example:1" }],
      [{ k: "lan", e: 7 }],
      [{ k: "lan", e: "x".repeat(400) }],
      Array.from({ length: 17 }, (_, i) => ({ k: "lan", e: `192.0.2.${i}:1` })),
    ]
  ) assert.equal(fromWire(bad), null, JSON.stringify(bad));
});
