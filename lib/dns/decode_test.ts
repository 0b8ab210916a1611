import assert from "node:assert/strict";
import { decodeMessage, readQuestion } from "./decode.ts";
import { DnsType } from "./message.ts";

function header(id: number, flags: number, qd: number, an: number, ns: number, ar: number) {
  return [id >> 8, id & 0xff, flags >> 8, flags & 0xff, 0, qd, 0, an, 0, ns, 0, ar];
}

/** Question "a" type A class IN. */
const QA = [1, 0x61, 0, 0, 1, 0, 1];

/** A record owned by a pointer to the question name. */
function rec(type: number, rdata: number[], ttl = 10): number[] {
  return [
    0xc0,
    12,
    type >> 8,
    type & 0xff,
    0,
    1,
    ttl >>> 24,
    (ttl >>> 16) & 0xff,
    (ttl >>> 8) & 0xff,
    ttl & 0xff,
    rdata.length >> 8,
    rdata.length & 0xff,
    ...rdata,
  ];
}

function decoded(bytes: number[]) {
  const r = decodeMessage(Uint8Array.from(bytes));
  assert.ok(r.ok, r.ok ? "" : r.error);
  return r.message;
}

Deno.test("every header flag is read from its own bit", () => {
  const bits: [string, number][] = [
    ["qr", 0x8000],
    ["aa", 0x0400],
    ["tc", 0x0200],
    ["rd", 0x0100],
    ["ra", 0x0080],
    ["ad", 0x0020],
    ["cd", 0x0010],
  ];
  for (const [flag, bit] of bits) {
    const m = decoded([...header(1, bit, 0, 0, 0, 0)]) as unknown as Record<string, unknown>;
    for (const [other] of bits) assert.equal(m[other], other === flag, `${flag}: ${other}`);
    assert.equal(m.opcode, 0);
    assert.equal(m.rcode, 0);
  }
  // The Z bit (0x0040) is ignored; opcode and rcode take their 4 bits each.
  const m = decoded([...header(1, 0x0040 | (15 << 11) | 0x000f, 0, 0, 0, 0)]);
  assert.equal(m.opcode, 15);
  assert.equal(m.rcode, 15);
  assert.equal(m.edns, null);
});

Deno.test("records: TTL is unsigned, addresses are copies, names decode with escapes", () => {
  const buf = Uint8Array.from([
    ...header(7, 0x8000, 1, 2, 0, 0),
    ...QA,
    ...rec(DnsType.A, [10, 0, 0, 1], 0xffffffff),
    ...rec(DnsType.CNAME, [3, 0x41, 0x2e, 0x20, 0xc0, 12]),
  ]);
  const r = decodeMessage(buf);
  assert.ok(r.ok);
  const [a, cname] = r.message.answers;
  assert.equal(a.ttl, 0xffffffff);
  assert.equal(a.name, "a");
  assert.deepEqual(a.data, { kind: "address", address: Uint8Array.of(10, 0, 0, 1) });
  buf[12 + QA.length + 12] = 99; // the first address byte in the input
  assert.equal((a.data as { address: Uint8Array }).address[0], 10);
  // A label holding '.', and ' ' followed by a pointer to "a".
  assert.deepEqual(cname.data, { kind: "name", name: "A\\.\\032.a" });
});

Deno.test("TXT: UTF-8 strings as text; any other bytes keep the whole record raw", () => {
  const ok = decoded([
    ...header(1, 0x8000, 1, 1, 0, 0),
    ...QA,
    ...rec(DnsType.TXT, [2, 0x68, 0x69, 0, 2, 0xc3, 0xa9]),
  ]);
  assert.deepEqual(ok.answers[0].data, { kind: "txt", texts: ["hi", "", "é"] });
  const rdata = [1, 0x61, 1, 0xff, 1, 0x62];
  const raw = decoded([...header(1, 0x8000, 1, 1, 0, 0), ...QA, ...rec(DnsType.TXT, rdata)]);
  assert.deepEqual(raw.answers[0].data, { kind: "raw", bytes: Uint8Array.from(rdata) });
});

Deno.test("MX, SOA and SRV fields; unknown types as raw bytes", () => {
  const soa = [
    0xc0,
    12,
    0xc0,
    12,
    ...[0, 0, 0, 1],
    ...[0, 0, 0, 2],
    ...[0, 0, 0, 3],
    ...[0, 0, 0, 4],
    ...[0xff, 0xff, 0xff, 0xff],
  ];
  const m = decoded([
    ...header(1, 0x8000, 1, 3, 1, 0),
    ...QA,
    ...rec(DnsType.MX, [0, 10, 0xc0, 12]),
    ...rec(DnsType.SRV, [0, 1, 0, 2, 0x1f, 0x90, 0]),
    ...rec(4242, [9, 8, 7]),
    ...rec(DnsType.SOA, soa),
  ]);
  assert.deepEqual(m.answers.map((r) => r.data), [
    { kind: "mx", preference: 10, exchange: "a" },
    { kind: "srv", priority: 1, weight: 2, port: 8080, target: "" },
    { kind: "raw", bytes: Uint8Array.of(9, 8, 7) },
  ]);
  assert.deepEqual(m.authority[0].data, {
    kind: "soa",
    mname: "a",
    rname: "a",
    serial: 1,
    refresh: 2,
    retry: 3,
    expire: 4,
    minimum: 0xffffffff,
  });
  // An MX with bytes left over after its name reads past nothing but still does not fit.
  const bad = decodeMessage(Uint8Array.from([
    ...header(1, 0x8000, 1, 1, 0, 0),
    ...QA,
    ...rec(DnsType.MX, [0, 10, 0xc0, 12, 0]),
  ]));
  assert.equal(bad.ok, false);
  assert.equal(!bad.ok && bad.error, "bad-rdata");
});

Deno.test("EDNS: options in order, extended rcode bits, OPT not listed in additional", () => {
  const opt = [
    0,
    0,
    41,
    0x04,
    0xd0, // udp size 1232
    0x01, // extended rcode upper bits: 1 -> rcode 16 + low bits
    0x00, // version
    0x80,
    0x00, // DO
    0,
    10,
    ...[0, 10, 0, 2, 0xaa, 0xbb],
    ...[0, 12, 0, 0],
  ];
  const m = decoded([...header(3, 0x8003, 1, 0, 0, 1), ...QA, ...opt]);
  assert.equal(m.rcode, 16 + 3);
  assert.deepEqual(m.edns, {
    udpSize: 1232,
    version: 0,
    dnssecOk: true,
    options: [{ code: 10, data: Uint8Array.of(0xaa, 0xbb) }, { code: 12, data: new Uint8Array() }],
  });
  assert.equal(m.additional.length, 0);
  // An option header cut inside the OPT data.
  const cut = [0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 2, 0, 10];
  const r = decodeMessage(Uint8Array.from([...header(3, 0, 1, 0, 0, 1), ...QA, ...cut]));
  assert.equal(!r.ok && r.error, "bad-opt");
});

Deno.test("a failed decode carries the header fields, QR included, for FORMERR or a drop", () => {
  const r = decodeMessage(Uint8Array.from([...header(0x4242, 0x8000 | (2 << 11), 1, 0, 0, 0)]));
  assert.equal(r.ok, false);
  assert.deepEqual(!r.ok && r.header, { id: 0x4242, qr: true, opcode: 2, rd: false });
});

Deno.test("readQuestion: the first question even when the rest would not decode", () => {
  // Two questions, the second a compression loop, then an answer count with no answer.
  const buf = Uint8Array.from([
    ...header(77, 0x8180, 2, 1, 0, 0),
    3,
    0x57,
    0x77,
    0x77,
    0,
    0,
    28,
    0,
    1,
    0xc0,
    0x20,
    0,
    1,
    0,
    1,
  ]);
  assert.equal(decodeMessage(buf).ok, false);
  assert.deepEqual(readQuestion(buf), {
    header: { id: 77, qr: true, opcode: 0, rd: true },
    question: { name: "Www", type: 28, class: 1 },
  });
  // No question, or a broken first one: null.
  assert.equal(readQuestion(Uint8Array.from(header(1, 0, 0, 0, 0, 0))), null);
  assert.equal(readQuestion(Uint8Array.from([...header(1, 0, 1, 0, 0, 0), 0xc0, 12, 0, 1])), null);
  assert.equal(
    readQuestion(Uint8Array.from([...header(1, 0, 1, 0, 0, 0), ...QA.slice(0, 5)])),
    null,
  );
});

/** A header with 16-bit counts. */
function header16(qd: number, an = 0): number[] {
  return [0x12, 0x34, 0x81, 0x00, qd >> 8, qd & 255, an >> 8, an & 255, 0, 0, 0, 0];
}

/** A record of type A (4 bytes of data) owned by the name `owner` (wire bytes). */
function aRecord(owner: number[]): number[] {
  return [...owner, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1];
}

Deno.test("names read again through a pointer are the names written out, wherever it lands", () => {
  // Question "www.example.test" at 12; "example.test" starts at 16, "test" at 24.
  const q = [
    3,
    ...[..."www"].map((c) => c.charCodeAt(0)),
    7,
    ...[..."example"].map((c) => c.charCodeAt(0)),
    4,
    ...[..."test"].map((c) => c.charCodeAt(0)),
    0,
    0,
    1,
    0,
    1,
  ];
  const owners = [
    [0xc0, 12], // the whole question name
    [0xc0, 12], // again: the name known from the first pointer
    [0xc0, 16], // its middle
    [0xc0, 16],
    [2, 0x61, 0x62, 0xc0, 16], // a label, then a pointer to a known name
    [2, 0x63, 0x64, 0xc0, 24], // a label, then a pointer to a name not known yet
    [0xc0, 24], // known from there on, without the label before it
    [1, 0x2e, 0xc0, 12], // a label that needs an escape, then the question
  ];
  const m = decoded([...header16(1, owners.length), ...q, ...owners.flatMap(aRecord)]);
  assert.deepEqual(m.answers.map((r) => r.name), [
    "www.example.test",
    "www.example.test",
    "example.test",
    "example.test",
    "ab.example.test",
    "cd.test",
    "test",
    "\\..www.example.test",
  ]);
});

Deno.test("a name known from a pointer still counts against 255 bytes and 64 pointers", () => {
  // A question of 253 wire bytes: through a pointer it fits, with 2 bytes more, not 3.
  const label = [62, ...Array(62).fill(0x61)];
  const q = [...label, ...label, ...label, ...label, 0, 0, 1, 0, 1];
  const fits = [...header16(1, 2), ...q, ...aRecord([0xc0, 12]), ...aRecord([0xc0, 12])];
  const ok = decodeMessage(Uint8Array.from(fits));
  assert.ok(ok.ok && ok.message.answers[1].name.length === 4 * 62 + 3);
  const plus = (extra: number[]) =>
    decodeMessage(
      Uint8Array.from([...header16(1, 2), ...q, ...aRecord([0xc0, 12]), ...aRecord(extra)]),
    );
  const at255 = plus([1, 0x62, 0xc0, 12]);
  assert.ok(at255.ok, "255 bytes is a name");
  const at256 = plus([2, 0x62, 0x63, 0xc0, 12]);
  assert.equal(at256.ok ? "ok" : at256.error, "name-too-long");
  // Names each one label and a pointer to the one before: the 64th takes 64 pointers, the 65th
  // one too many, though the names before it are known.
  const chain = (n: number) => {
    const b = [...header16(n + 1), 1, 0x61, 0, 0, 1, 0, 1];
    for (let i = 1, prev = 12; i <= n; i++) {
      const at = b.length;
      b.push(1, 0x61, 0xc0 | (prev >> 8), prev & 255, 0, 1, 0, 1);
      prev = at;
    }
    return decodeMessage(Uint8Array.from(b));
  };
  const at64 = chain(64);
  assert.ok(at64.ok && at64.message.questions[64].name === Array(65).fill("a").join("."));
  const at65 = chain(65);
  assert.equal(at65.ok ? "ok" : at65.error, "pointer-loop");
});
