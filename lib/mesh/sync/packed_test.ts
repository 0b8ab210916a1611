import assert from "node:assert/strict";
import { deflateRawSync } from "node:zlib";
import type { MembershipView } from "../../members/member.ts";
import {
  MAX_PACKED_BODY,
  packBody,
  PACKED,
  PACKED_CHUNK,
  packedPart,
  packedParts,
  unpackBody,
  unpackPart,
} from "./packed.ts";
import { type ControlMessage, parseMessage, ViewAssembler, viewParts } from "./protocol.ts";
import { fleetMember } from "./testing/members.ts";

const enc = new TextEncoder();

const head = { t: "view" as const, v: 9, network: "10.6.0.0/16", network6: "fd00::/64" };
const empty: MembershipView = { network: "", version: 0, members: [] };

function assemble(parts: Uint8Array[], current = empty) {
  const a = new ViewAssembler();
  let out: MembershipView | null = null;
  for (const p of parts) {
    const msg = parseMessage(p) as Extract<ControlMessage, { t: "view" | "delta" }>;
    assert.ok(msg && (msg.t === "view" || msg.t === "delta"), "a view or delta part");
    out = a.add(msg, current) ?? out;
  }
  return { view: out, malformed: a.malformed };
}

Deno.test("packed: a view round-trips in under a third of the JSON parts' datagrams, each under the MTU", () => {
  const members = Array.from({ length: 500 }, (_, i) => fleetMember(i));
  const parts = packedParts(head, packBody({ members, remove: [] }));
  const plain = viewParts({ network: head.network, network6: head.network6, version: 9, members });
  assert.ok(parts.length * 3 < plain.length, `${parts.length} packed, ${plain.length} JSON`);
  for (const p of parts) { // An IPv6 overlay packet of 1,420 bytes (the MTU) carries 1,372.
    assert.ok(p.length <= 1372, `${p.length} bytes`);
  }
  assert.equal(parts[0][0], PACKED);
  const { view } = assemble(parts);
  assert.deepEqual(view, {
    network: head.network,
    network6: head.network6,
    version: 9,
    members,
  });
});

Deno.test("packed: a delta's upserts and removals apply to the view held; a plain own part after the packed ones wins", () => {
  const members = Array.from({ length: 40 }, (_, i) => fleetMember(i));
  const held: MembershipView = { network: head.network, version: 4, members };
  const moved = { ...members[3], endpoints: ["203.0.113.9:1"] };
  const own = { ...members[5], name: "own-record" };
  const dHead = { t: "delta" as const, v: 7, from: 4, network: head.network };
  const chunks = packBody({ members: [moved, own], remove: [members[0].publicKey] }, 64);
  assert.ok(chunks.length > 1, "cut into several chunks");
  const ownPart = enc.encode(JSON.stringify({
    ...dHead,
    part: chunks.length,
    parts: chunks.length + 1,
    members: [{ ...own, name: "own-last" }],
    remove: [],
  }));
  // Out of order, the own part first: the chunks are joined in part order all the same.
  const parts = [ownPart, ...packedParts(dHead, chunks, 1).reverse()];
  const { view } = assemble(parts, held);
  assert.equal(view!.version, 7);
  const byKey = new Map(view!.members.map((m) => [m.publicKey, m]));
  assert.equal(byKey.has(members[0].publicKey), false);
  assert.deepEqual(byKey.get(moved.publicKey)!.endpoints, ["203.0.113.9:1"]);
  assert.equal(byKey.get(own.publicKey)!.name, "own-last");
  assert.equal(view!.members.length, 39);
});

Deno.test("packed: malformed parts are dropped at parse, never thrown", () => {
  const good = packedPart(head, 0, 1, new Uint8Array([1, 2, 3]));
  const bad: Uint8Array[] = [
    new Uint8Array([PACKED]), // no length
    new Uint8Array([PACKED, 0, 50, 0x7b]), // header past the end
    Uint8Array.of(PACKED, 0, 3, ...enc.encode("{x}")), // header not JSON
    Uint8Array.of(PACKED, 0, 2, ...enc.encode("[]")), // header not an object
    Uint8Array.of(PACKED, 0, 4, ...enc.encode("null")),
    packedPart({ ...head, t: "policy" as never }, 0, 1, new Uint8Array(1)), // not a view
    packedPart({ ...head, network: 5 as never }, 0, 1, new Uint8Array(1)),
    packedPart(head, 0, 0, new Uint8Array(1)), // no parts
    packedPart(head, 0, 100_000, new Uint8Array(1)), // too many
    packedPart({ ...head, t: "delta" }, 0, 1, new Uint8Array(1)), // a delta without `from`
    packedPart({ ...head, network6: 6 as never }, 0, 1, new Uint8Array(1)),
  ];
  for (const b of bad) assert.equal(parseMessage(b), null, String([...b.slice(0, 8)]));
  assert.equal(unpackPart(new Uint8Array([0x7b, 0, 0])), null, "JSON is no packed part");
  // A JSON part may not carry a chunk of its own.
  const json = enc.encode(JSON.stringify({ ...head, part: 0, parts: 1, members: [], z: {} }));
  assert.equal(parseMessage(json), null);
  const msg = parseMessage(good) as Extract<ControlMessage, { t: "view" }>;
  assert.deepEqual(msg.z, new Uint8Array([1, 2, 3]));
  assert.deepEqual(msg.members, []);
});

Deno.test("packed: a body that does not unpack is a counted drop, never a crash", () => {
  const members = Array.from({ length: 30 }, (_, i) => fleetMember(i));
  const chunks = packBody({ members, remove: [] }, 256);
  const deflated = (o: unknown) => [deflateRawSync(enc.encode(JSON.stringify(o)))];
  const cases: Uint8Array[][] = [
    chunks.slice(0, -1), // a chunk lost (the parts say fewer)
    [Uint8Array.of(...chunks[0].slice(0, 10))], // truncated stream
    [crypto.getRandomValues(new Uint8Array(300))], // forged
    deflated({ members: "x" }),
    deflated({ members: [{ name: "no key" }] }),
    deflated({ members: [null] }),
    deflated({ members: [], remove: [5] }),
    deflated([1, 2]),
    [deflateRawSync(enc.encode("not json"))],
  ];
  for (const c of cases) {
    const { view, malformed } = assemble(packedParts(head, c));
    assert.equal(view, null);
    assert.equal(malformed, 1);
  }
  // Past the bound: a small stream that inflates to more than the body allowed.
  const bomb = deflateRawSync(new Uint8Array(MAX_PACKED_BODY + 1).fill(0x20));
  assert.equal(unpackBody([bomb]), null);
  assert.ok(bomb.length < PACKED_CHUNK * 100, `${bomb.length} bytes deflated`);
  // The bound is a parameter: a body just over it is refused, one under taken.
  const small = packBody({ members: members.slice(0, 2), remove: [] });
  const size = JSON.stringify({ members: members.slice(0, 2), remove: [] }).length;
  assert.equal(unpackBody(small, size - 1), null);
  assert.equal(unpackBody(small, size)!.members.length, 2);
});
