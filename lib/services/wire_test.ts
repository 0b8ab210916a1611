import assert from "node:assert/strict";
import { encode } from "npm:@msgpack/msgpack@^3.1.3";
import {
  actionNameProblem,
  decodeMessage,
  encodeMessage,
  MAX_CONTAINER_ITEMS,
  MAX_ERROR_MESSAGE,
  MAX_SUBSCRIPTION_ENTRIES,
  MAX_TTL_MS,
  MAX_VALUE_DEPTH,
  type ServiceMessage,
  valueProblem,
} from "./wire.ts";

const samples: ServiceMessage[] = [
  {
    kind: "request",
    id: 2 ** 40 + 7,
    service: "auth",
    action: "login",
    params: { user: "ann", n: [1, 2.5, -3], ok: true, none: null, raw: new Uint8Array([1, 2, 3]) },
    ttlMs: 5000,
  },
  { kind: "request", id: 0, service: "x", action: "a.b-c_d", params: null, ttlMs: 1 },
  { kind: "response", id: 9, ok: true, result: { token: "t" }, idempotent: false },
  { kind: "response", id: 9, ok: true, result: null, idempotent: true },
  {
    kind: "response",
    id: 10,
    ok: false,
    code: "remote-error",
    message: "backend said 503",
    status: 503,
    idempotent: true,
  },
  { kind: "response", id: 11, ok: false, code: "timeout", message: "", idempotent: false },
  {
    kind: "event",
    id: 1,
    topic: "status/updated",
    data: "hi",
    mode: "all",
    groups: [],
    loose: true,
  },
  {
    kind: "event",
    id: 2,
    topic: "jobs/eu",
    data: { n: 1 },
    mode: "one-per-service",
    groups: ["worker", "audit"],
    loose: false,
  },
  { kind: "event-ack", id: 77 },
  {
    kind: "subscriptions",
    version: 3,
    entries: [{ pattern: "status/*" }, { pattern: "jobs/>", group: "worker" }],
  },
  { kind: "subscriptions", version: 0, entries: [] },
  { kind: "ping", id: 5 },
  { kind: "pong", id: 5 },
  { kind: "subscriptions-ack", version: 1_700_000_000_123 },
];

Deno.test("wire: every kind of message survives a round trip", () => {
  for (const m of samples) assert.deepEqual(decodeMessage(encodeMessage(m)), m, m.kind);
});

Deno.test("wire: long error messages are cut to the limit", () => {
  const m = decodeMessage(encodeMessage({
    kind: "response",
    id: 1,
    ok: false,
    code: "remote-error",
    message: "x".repeat(MAX_ERROR_MESSAGE + 50),
    idempotent: false,
  }));
  assert.ok(m?.kind === "response" && !m.ok && m.message.length === MAX_ERROR_MESSAGE);
});

// A request whose params map has the key __proto__ (the decoder refuses it).
function protoKey(): Uint8Array {
  const head = encode([1, 1, "auth", "login"]).subarray(1);
  const key = new TextEncoder().encode("__proto__");
  return new Uint8Array([0x96, ...head, 0x81, 0xa0 | key.length, ...key, 0x80, 100]);
}

Deno.test("wire: malformed input decodes to null, never throws", () => {
  const raw = (v: unknown) => encode(v);
  const bad: [string, Uint8Array][] = [
    ["empty", new Uint8Array()],
    ["not msgpack", new Uint8Array([0xc1])],
    ["truncated", encodeMessage(samples[0]).subarray(0, 10)],
    ["trailing bytes", new Uint8Array([...encodeMessage(samples[8]), 0])],
    ["not an array", raw({ kind: 1 })],
    ["unknown kind", raw([9, 1])],
    ["negative id", raw([4, -1])],
    ["fractional id", raw([4, 1.5])],
    ["huge id", raw([4, 2 ** 60])],
    ["ack with more", raw([4, 1, 2])],
    ["ping with more", raw([6, 1, 2])],
    ["pong without id", raw([7])],
    ["subscriptions ack with more", raw([8, 1, []])],
    ["request short", raw([1, 1, "auth", "login", null])],
    ["request bad service", raw([1, 1, "Auth Svc", "login", null, 100])],
    ["request bad action", raw([1, 1, "auth", "../x", null, 100])],
    ["request zero ttl", raw([1, 1, "auth", "login", null, 0])],
    ["request long ttl", raw([1, 1, "auth", "login", null, MAX_TTL_MS + 1])],
    ["response bad flag", raw([2, 1, 2, null, false])],
    ["response ok no idem", raw([2, 1, 0, null])],
    ["response bad code", raw([2, 1, 1, "nope", "m", null, false])],
    ["response bad status", raw([2, 1, 1, "remote-error", "m", 42, false])],
    [
      "response message long",
      raw([2, 1, 1, "timeout", "x".repeat(MAX_ERROR_MESSAGE + 1), null, false]),
    ],
    ["event bad topic", raw([3, 1, "a/*", null, 0, [], true])],
    ["event bad mode", raw([3, 1, "a", null, 2, [], true])],
    ["event bad groups", raw([3, 1, "a", null, 1, ["Bad Group"], true])],
    ["event groups not list", raw([3, 1, "a", null, 1, "g", true])],
    ["subs bad pattern", raw([5, 1, [["a//b", null]]])],
    ["subs bad entry", raw([5, 1, [["a"]]])],
    ["subs too many", raw([5, 1, Array(MAX_SUBSCRIPTION_ENTRIES + 1).fill(["a", null])])],
    ["timestamp ext", new Uint8Array([0x92, 0x04, 0xd6, 0xff, 0, 0, 0, 5])],
    ["other ext", new Uint8Array([0x92, 0x04, 0xd4, 0x05, 0])],
    ["proto key", protoKey()],
  ];
  for (const [what, bytes] of bad) {
    assert.equal(decodeMessage(bytes), null, what);
  }
  // Random bytes: whatever they decode to, nothing throws.
  const r = new Uint8Array(64);
  for (let i = 0; i < 2000; i++) {
    crypto.getRandomValues(r);
    decodeMessage(r.subarray(0, i % 64));
  }
});

Deno.test("wire: payloads are plain data; anything else is named", () => {
  for (const ok of [null, undefined, 1, "s", true, [1, [2]], { a: { b: new Uint8Array(1) } }]) {
    assert.equal(valueProblem(ok), undefined);
  }
  assert.equal(valueProblem(Object.create(null)), undefined);
  const deep: unknown[] = [];
  let cur = deep;
  for (let i = 0; i < 70; i++) cur.push(cur = []);
  const bad: [unknown, RegExp][] = [
    [{ at: new Date() }, /\.at is a Date/],
    [[1, new Map()], /\[1\] is a Map/],
    [{ f: () => 1 }, /\.f is a function/],
    [10n, /the value is a bigint/],
    [{ s: Symbol("x") }, /is a symbol/],
    [new Uint16Array(2), /is a Uint16Array/],
    [deep, /nested over 64 deep/],
  ];
  for (const [v, why] of bad) assert.match(valueProblem(v) ?? "", why);
});

Deno.test("wire: action names", () => {
  for (const ok of ["login", "get.user", "a-b_c", "X9"]) {
    assert.equal(actionNameProblem(ok), undefined);
  }
  for (const bad of ["", "a/b", "..", ".", "a b", "x".repeat(65), 3]) {
    assert.match(actionNameProblem(bad) ?? "", /action name/, String(bad));
  }
});

Deno.test("wire: the __proto__ sample is otherwise well formed", () => {
  // The same bytes with another key decode, so the refusal above is about the key.
  const head = encode([1, 1, "auth", "login"]).subarray(1);
  const key = new TextEncoder().encode("__other__");
  const ok = new Uint8Array([0x96, ...head, 0x81, 0xa0 | key.length, ...key, 0x80, 100]);
  assert.deepEqual(decodeMessage(ok), {
    kind: "request",
    id: 1,
    service: "auth",
    action: "login",
    params: { __other__: {} },
    ttlMs: 100,
  });
});

Deno.test("decodeMessage: nesting past the limit is refused before decoding; at it, decoded", () => {
  // A request whose params nest a million arrays deep (a 1 MiB message): refused, quickly and
  // without building anything (the decoder alone took over a second and 145 MB for one).
  const depth = 1 << 20;
  const head = encodeMessage({
    kind: "request",
    id: 7,
    service: "svc",
    action: "act",
    params: null,
    ttlMs: 1000,
  });
  // The params are the encoding's 5th item; nil (0xc0) is replaced by the nested arrays.
  const at = head.indexOf(0xc0);
  const deep = new Uint8Array(head.length - 1 + depth + 1);
  deep.set(head.subarray(0, at));
  deep.fill(0x91, at, at + depth);
  deep[at + depth] = 0x01;
  deep.set(head.subarray(at + 1), at + depth + 1);
  const t0 = performance.now();
  const before = Deno.memoryUsage().heapUsed;
  assert.equal(decodeMessage(deep), null);
  const figures = {
    ms: performance.now() - t0,
    heapMb: (Deno.memoryUsage().heapUsed - before) / 2 ** 20,
  };
  console.log(`a ${deep.length}-byte message nested ${depth} deep: ${JSON.stringify(figures)}`);
  // At the limit a payload still travels.
  let v: unknown = 1;
  for (let i = 0; i < MAX_VALUE_DEPTH; i++) v = [v];
  const ok = decodeMessage(
    encodeMessage({
      kind: "request",
      id: 8,
      service: "svc",
      action: "act",
      params: v,
      ttlMs: 1000,
    }),
  );
  assert.ok(ok !== null && ok.kind === "request");
  assert.deepEqual(ok.params, v);
});

Deno.test("decodeMessage: arrays, maps and strings over the limits are refused; senders are told", () => {
  const big = new Array(MAX_CONTAINER_ITEMS + 1).fill(0);
  assert.match(valueProblem(big)!, /65537 items, over 65536/);
  const obj: Record<string, number> = {};
  for (let i = 0; i <= MAX_CONTAINER_ITEMS; i++) obj[`k${i}`] = i;
  assert.match(valueProblem({ a: obj })!, /keys, over/);
  const msg = (params: unknown) =>
    encodeMessage({ kind: "request", id: 1, service: "svc", action: "act", params, ttlMs: 1000 });
  assert.equal(decodeMessage(msg(big)), null);
  assert.equal(decodeMessage(msg(obj)), null);
  assert.ok(decodeMessage(msg(big.slice(1))) !== null, "at the limit");
  // An array header claiming 4 billion items in a few bytes is refused, not allocated.
  const claim = msg(null);
  const at = claim.indexOf(0xc0);
  const lie = new Uint8Array(claim.length + 4);
  lie.set(claim.subarray(0, at));
  lie.set([0xdd, 0xff, 0xff, 0xff, 0xff], at);
  assert.equal(decodeMessage(lie), null);
});

Deno.test("wire: hellos carry flags both ways; bad flags are refused", () => {
  for (const kind of ["hello", "hello-ack"] as const) {
    const m = { kind, id: 3, flags: 1 };
    assert.deepEqual(decodeMessage(encodeMessage(m)), m);
  }
  assert.equal(decodeMessage(new Uint8Array([0x93, 9, 1, 0xff])), null);
  assert.equal(decodeMessage(new Uint8Array([0x92, 9, 1])), null);
});
