import assert from "node:assert/strict";
import {
  DEFAULT_HELLO_MS,
  deltaParts,
  encodeMessage,
  HOLDERS_MAX,
  MAX_PACED_HELLO_MS,
  pacedHelloMs,
  parseMessage,
  Prober,
  PROBER_MAX_ADDRESSES,
  ViewAssembler,
  viewParts,
} from "./protocol.ts";
import type { Member, MembershipView } from "../../members/member.ts";
import { digestText, manifestDatagrams, MAX_PIECE, PIECE, pieceDigest } from "./manifest.ts";
import { ASK_MAX } from "./piece_holder.ts";
import type { UserspaceStack } from "../../../drivers/userspace.ts";
import { HANG_GUARD_MS } from "../../../tests/fixtures/netns.ts";

function member(i: number): Member {
  return {
    name: `node-${i}`,
    publicKey: `key-${i}`.padEnd(44, "="),
    address: `10.0.${i >> 8}.${i & 255}`,
    endpoints: [`198.18.0.${i & 255}:51820`],
    labels: { role: i % 2 ? "web" : "db" },
    role: i === 0 ? "leader" : "node",
    services: [],
    joinedAt: 0,
  };
}

function view(n: number, version: number): MembershipView {
  return {
    network: "10.0.0.0/16",
    version,
    members: Array.from({ length: n }, (_, i) => member(i)),
  };
}

Deno.test("a large view is split into datagram-sized parts and reassembled in any order", () => {
  const v = view(300, 42);
  const parts = viewParts(v);
  assert.ok(parts.length > 5);
  for (const p of parts) assert.ok(new TextEncoder().encode(JSON.stringify(p)).length < 1400);
  const asm = new ViewAssembler();
  const shuffled = [...parts].reverse();
  let out: MembershipView | null = null;
  for (const [i, p] of shuffled.entries()) {
    out = asm.add(p as never, view(2, 0));
    if (i < shuffled.length - 1) assert.equal(out, null, `complete after ${i + 1} parts`);
  }
  assert.deepEqual(out, v);
});

Deno.test("deltas apply on top of the version they start from, or a later one they reach past", () => {
  const base = view(10, 5);
  const changed = { ...member(3), labels: { role: "app" } };
  const next: MembershipView = {
    network: base.network,
    version: 7,
    members: [
      ...base.members.filter((m) => m.name !== "node-4" && m.name !== "node-3"),
      changed,
      member(11),
    ],
  };
  const parts = deltaParts(5, next, {
    upsert: [changed, member(11)],
    remove: [member(4).publicKey],
  });
  const asm = new ViewAssembler();
  assert.equal(asm.add(parts[0] as never, view(10, 4)), null, "a base older than its own");
  assert.equal(asm.add(parts[0] as never, view(10, 7)), null, "a view as new as it");
  // A view past its base (a push or an answer applied since): brought to the delta's version.
  const later = asm.add(parts[0] as never, { ...base, version: 6 })!;
  assert.equal(later.version, 7);
  assert.deepEqual(
    later.members.map((m) => m.name).sort(),
    next.members.map((m) => m.name).sort(),
  );
  const out = asm.add(parts[0] as never, base)!;
  assert.equal(out.version, 7);
  assert.deepEqual(
    out.members.map((m) => m.name).sort(),
    next.members.map((m) => m.name).sort(),
  );
  assert.equal(out.members.find((m) => m.name === "node-3")!.labels.role, "app");
});

Deno.test("malformed control messages are rejected", () => {
  const enc = new TextEncoder();
  for (
    const bad of [
      "not json",
      "null",
      "[]",
      '{"t":"hello"}',
      '{"t":"hello","v":1,"endpoints":[1]}',
      '{"t":"view","v":1,"part":0,"parts":0,"members":[],"network":"x"}',
      '{"t":"delta","v":1,"from":0,"part":0,"parts":1,"members":[]}',
      '{"t":"probe","id":"x"}',
      '{"t":"nope"}',
      // Values out of bounds: a version no integer arithmetic keeps, a policy version of the
      // wrong type (it would make the leader resend the whole policy on every hello).
      '{"t":"hello","v":1e300,"endpoints":[]}',
      '{"t":"hello","v":-1,"endpoints":[]}',
      '{"t":"hello","v":1,"pv":"1","endpoints":[]}',
      '{"t":"changed","v":2,"pv":{"x":1}}',
      `{"t":"hello","v":1,"endpoints":[],"pad":"${"x".repeat(70_000)}"}`,
      '{"t":"lankey"}',
      '{"t":"lankey","k":7}',
      '{"t":"pace"}',
      '{"t":"pace","hi":5}',
      '{"t":"pace","hi":1.5e7}',
      '{"t":"pace","hi":"10000"}',
      '{"t":"callme","c":[]}',
      '{"t":"callme","to":"k"}',
      '{"t":"callme","to":1,"c":[]}',
      '{"t":"lease-ask","s":"svc"}',
      '{"t":"lease","s":"svc","h":"x","tk":1,"ttl":1}',
    ]
  ) {
    assert.equal(parseMessage(enc.encode(bad)), null, bad);
  }
  assert.ok(parseMessage(enc.encode('{"t":"hello","v":3,"endpoints":["1.2.3.4:5"]}')));
  // LAN candidates and the key id ride on hellos; the leader checks them, not the parser.
  assert.ok(parseMessage(enc.encode('{"t":"hello","v":3,"endpoints":[],"lan":[1],"lk":2}')));
  assert.ok(parseMessage(enc.encode('{"t":"lankey","k":"a2V5"}')));
  // A pace is its interval alone, whatever else came with it.
  assert.deepEqual(parseMessage(enc.encode('{"t":"pace","hi":10000,"x":1}')), {
    t: "pace",
    hi: 10000,
  });
  // Lease messages are checked by their own parser (lib/services/lease/protocol.ts).
  assert.deepEqual(parseMessage(enc.encode('{"t":"lease-ask","s":"svc","n":1,"x":2}')), {
    t: "lease-ask",
    s: "svc",
    n: 1,
  });
  // A call-me's shape only: its receiver checks the key and each candidate, and counts.
  assert.ok(parseMessage(enc.encode('{"t":"callme","to":"k","c":[{"k":"x"}]}')));
  assert.ok(parseMessage(enc.encode('{"t":"callme","from":"k","c":[]}')));
});

Deno.test("bye and bye-ok parse to their fields only; a bye without a key-sized k is dropped", () => {
  const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
  const k = member(1).publicKey;
  assert.deepEqual(parseMessage(enc({ t: "bye", k, extra: "x".repeat(100) })), { t: "bye", k });
  assert.deepEqual(parseMessage(enc({ t: "bye-ok", junk: 1 })), { t: "bye-ok" });
  assert.equal(parseMessage(enc({ t: "bye" })), null);
  assert.equal(parseMessage(enc({ t: "bye", k: 7 })), null);
  assert.equal(parseMessage(enc({ t: "bye", k: "k".repeat(65) })), null);
});

Deno.test("pacedHelloMs: the default interval up to 1,500 members, then a second for every 500, capped", () => {
  assert.equal(pacedHelloMs(0), DEFAULT_HELLO_MS);
  assert.equal(pacedHelloMs(1500), DEFAULT_HELLO_MS);
  assert.equal(pacedHelloMs(1501), 4000);
  assert.equal(pacedHelloMs(3000), 6000);
  assert.equal(pacedHelloMs(10_000), 20_000);
  assert.equal(pacedHelloMs(1_000_000), MAX_PACED_HELLO_MS);
  assert.equal(pacedHelloMs(10, 1), 10_000);
});

Deno.test("prober: probe counts per address stay bounded, follow the view, and count the rest", () => {
  const sent: string[] = [];
  const stack = {
    sendTo: (address: string) => void sent.push(address),
  } as unknown as UserspaceStack;
  const p = new Prober(stack);
  // A member routing a prefix may send from any address in it: past the bound, uncounted.
  for (let i = 0; i < PROBER_MAX_ADDRESSES + 10; i++) {
    const from = `fd00::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`;
    assert.ok(p.handle({ t: "probe", id: i }, from));
  }
  assert.equal(sent.length, PROBER_MAX_ADDRESSES + 10, "every probe is answered");
  assert.equal(p.untracked, 20, "10 probes and their 10 answers not counted");
  assert.equal(p.packets("fd00::0:0"), 2);
  // The view: only its addresses keep their counts; the others' room is free again.
  p.retain((a) => a === "fd00::0:0");
  assert.equal(p.packets("fd00::0:0"), 2);
  assert.equal(p.packets("fd00::0:1"), 0);
  p.handle({ t: "probe", id: 1 }, "10.0.0.9");
  assert.equal(p.packets("10.0.0.9"), 2);
  assert.equal(p.untracked, 20);
});

Deno.test("prober: a leader cut off from its store says stale in its answers; the prober keeps what each said", async () => {
  const sent: Uint8Array[] = [];
  const stack = {
    sendTo: (_address: string, _port: number, data: Uint8Array) => void sent.push(data),
  } as unknown as UserspaceStack;
  const leader = new Prober(stack);
  let cut = false;
  leader.answerStale(() => cut);
  leader.handle({ t: "probe", id: 1 }, "10.0.0.2");
  cut = true;
  leader.handle({ t: "probe", id: 2 }, "10.0.0.2");
  const answers = sent.map((d) => parseMessage(d));
  assert.deepEqual(answers, [{ t: "ack", id: 1 }, { t: "ack", id: 2, stale: true }]);
  // Only `true` counts; anything else is an ack without it (older agents send none).
  const bytes = new TextEncoder().encode(JSON.stringify({ t: "ack", id: 3, stale: "yes" }));
  assert.deepEqual(parseMessage(bytes), { t: "ack", id: 3 });

  const node = new Prober(stack);
  const rtt = node.probe("10.0.0.1", HANG_GUARD_MS);
  const id = (parseMessage(sent.at(-1)!) as { id: number }).id;
  // An answer to that probe from another address says nothing of the leader's store.
  node.handle({ t: "ack", id, stale: true }, "10.0.0.3");
  assert.notEqual(await rtt, null);
  assert.equal(node.staleAt("10.0.0.1"), false);
  assert.equal(node.staleAt("10.0.0.3"), false);
  const again = node.probe("10.0.0.1", HANG_GUARD_MS);
  node.handle({ t: "ack", id: id + 1, stale: true }, "10.0.0.1");
  await again;
  assert.equal(node.staleAt("10.0.0.1"), true);
  const current = node.probe("10.0.0.1", HANG_GUARD_MS);
  node.handle({ t: "ack", id: id + 2 }, "10.0.0.1");
  await current;
  assert.equal(node.staleAt("10.0.0.1"), false, "a later answer without it: current again");
  node.close();
});

Deno.test("prober: an answer read only after the probe's timeout was due (this process stalled) is answered with no RTT", async () => {
  const sent: Uint8Array[] = [];
  const stack = {
    sendTo: (_address: string, _port: number, data: Uint8Array) => void sent.push(data),
  } as unknown as UserspaceStack;
  const node = new Prober(stack);
  const answer = (p: Promise<number | null>) => {
    const id = (parseMessage(sent.at(-1)!) as { id: number }).id;
    node.handle({ t: "ack", id }, "10.0.0.1");
    return p;
  };
  // Answered at once: timed.
  const quick = await answer(node.probe("10.0.0.1", HANG_GUARD_MS));
  assert.ok(quick !== null && Number.isFinite(quick) && quick >= 0, `timed: ${quick}`);
  // The event loop is held past the 20 ms timeout (as a starved or blocked process is), so the
  // timer cannot run before the answer is read: its time is the stall's, not the path's.
  const probe = node.probe("10.0.0.1", 20);
  const until = performance.now() + 60;
  while (performance.now() < until) { /* a stalled event loop */ }
  const stalled = await answer(probe);
  assert.ok(stalled !== null && Number.isNaN(stalled), `answered, untimed: ${stalled}`);
  node.close();
});

Deno.test("shared views: pieces, manifests, holders, pget and plack parse with their bounds; encodeMessage gives a piece's datagram", () => {
  const enc = new TextEncoder();
  const piece = new Uint8Array([9, 8, 7]);
  const bytes = encodeMessage({ t: "piece", piece });
  assert.equal(bytes[0], PIECE);
  assert.deepEqual(parseMessage(bytes), { t: "piece", piece });
  assert.equal(parseMessage(new Uint8Array([PIECE])), null, "an empty piece");
  assert.equal(parseMessage(new Uint8Array(2 + MAX_PIECE).fill(PIECE)), null, "a piece too long");
  const digest = pieceDigest(piece);
  const [m] = manifestDatagrams({
    v: 4,
    network: "10.0.0.0/16",
    entries: [{ digest, ends: true, fromLeader: false }],
  });
  const got = parseMessage(m);
  assert.equal(got?.t, "manifest");
  assert.equal(got?.t === "manifest" && got.d.v, 4);
  assert.equal(parseMessage(m.subarray(0, m.length - 1)), null, "a manifest cut short");
  const d = digestText(digest);
  const holder = { publicKey: "k", address: "10.0.0.9", endpoints: [] };
  for (
    const bad of [
      `{"t":"holders","v":1,"members":[${
        Array(HOLDERS_MAX + 1).fill('{"publicKey":"k","address":"a","endpoints":[]}')
      }]}`,
      '{"t":"holders","v":1,"members":[{"publicKey":1}]}',
      '{"t":"holders","v":-1,"members":[]}',
      `{"t":"pget","v":1,"d":${JSON.stringify(Array(2 * ASK_MAX + 1).fill(d))}}`,
      '{"t":"pget","v":1,"d":"x"}',
      '{"t":"plack","v":1,"d":["short"]}',
      '{"t":"plack","v":1,"d":[]}',
    ]
  ) {
    assert.equal(parseMessage(enc.encode(bad)), null, bad.slice(0, 80));
  }
  assert.deepEqual(
    parseMessage(enc.encode(JSON.stringify({ t: "holders", v: 2, members: [holder], x: 1 }))),
    { t: "holders", v: 2, members: [holder] },
  );
  // A pget's digests are the holder's to check and count (piece_holder.ts): only its size here.
  assert.deepEqual(parseMessage(enc.encode('{"t":"pget","v":1,"d":["bad"]}')), {
    t: "pget",
    v: 1,
    d: ["bad"],
  });
  assert.deepEqual(parseMessage(enc.encode(JSON.stringify({ t: "plack", v: 1, d: [d] }))), {
    t: "plack",
    v: 1,
    d: [d],
  });
  const hello = parseMessage(enc.encode('{"t":"hello","v":1,"endpoints":[],"fs":true,"hz":3}'));
  assert.equal(hello?.t === "hello" && hello.fs === true && hello.hz, 3);
});
