import assert from "node:assert/strict";
import { buildQuery, DnsWriter, emptyMessage, encodeInto, encodeMessage } from "./encode.ts";
import { decodeMessage } from "./decode.ts";
import { DnsClass, type DnsMessage, DnsType, type ResourceRecord } from "./message.ts";

function rr(name: string, type: number, data: ResourceRecord["data"]): ResourceRecord {
  return { name, type, class: DnsClass.IN, ttl: 60, data };
}

function roundTrip(bytes: Uint8Array): DnsMessage {
  const r = decodeMessage(bytes);
  assert.ok(r.ok, r.ok ? "" : r.error);
  return r.message;
}

Deno.test("emptyMessage: a fresh query with every field at its default", () => {
  const m: DnsMessage = emptyMessage();
  assert.deepEqual(emptyMessage(), {
    id: 0,
    qr: false,
    opcode: 0,
    aa: false,
    tc: false,
    rd: false,
    ra: false,
    ad: false,
    cd: false,
    rcode: 0,
    questions: [],
    answers: [],
    authority: [],
    additional: [],
    edns: null,
  });
  // Each call gives new arrays.
  m.questions.push({ name: "x", type: 1, class: 1 });
  assert.equal(emptyMessage().questions.length, 0);
  assert.deepEqual(Array.from(encodeMessage(emptyMessage())), new Array(12).fill(0));
});

Deno.test("buildQuery: one IN question, RD by default, EDNS only when asked", () => {
  const q = roundTrip(buildQuery(0x1234, "Host.Example", DnsType.AAAA));
  assert.equal(q.id, 0x1234);
  assert.equal(q.rd, true);
  assert.equal(q.qr, false);
  assert.deepEqual(q.questions, [{ name: "Host.Example", type: DnsType.AAAA, class: 1 }]);
  assert.equal(q.edns, null);
  const e = roundTrip(buildQuery(1, "x", DnsType.A, { rd: false, udpSize: 1232 }));
  assert.equal(e.rd, false);
  assert.deepEqual(e.edns, { udpSize: 1232, version: 0, dnssecOk: false, options: [] });
});

Deno.test("header: every flag and field is written where the decoder reads it", () => {
  const flags = ["qr", "aa", "tc", "rd", "ra", "ad", "cd"] as const;
  for (const f of flags) {
    const m = emptyMessage();
    m[f] = true;
    m.id = 0xfedc;
    m.opcode = 2;
    m.rcode = 5;
    const back = roundTrip(encodeMessage(m));
    for (const g of flags) assert.equal(back[g], g === f, `${f}: ${g}`);
    assert.equal(back.id, 0xfedc);
    assert.equal(back.opcode, 2);
    assert.equal(back.rcode, 5);
  }
});

Deno.test("compression: later copies point at the first, in rdata only for RFC 1035 types", () => {
  const m = emptyMessage();
  m.questions.push({ name: "a.example", type: DnsType.MX, class: 1 });
  m.answers.push(rr("a.example", DnsType.MX, { kind: "mx", preference: 1, exchange: "example" }));
  const bytes = encodeMessage(m);
  // Question name 11 bytes; the owner is a pointer to 12; after the preference, the exchange
  // is a pointer to 14 ("example" inside the question name).
  const ans = 12 + 11 + 4;
  assert.deepEqual(Array.from(bytes.subarray(ans, ans + 2)), [0xc0, 12]);
  assert.deepEqual(Array.from(bytes.subarray(ans + 14, ans + 16)), [0xc0, 14]);
  assert.equal(bytes.length, ans + 16);
  // An unknown type's data is opaque: nothing in it is touched; the owner is still compressed.
  const raw = emptyMessage();
  raw.questions.push({ name: "a.example", type: 99, class: 1 });
  raw.answers.push(rr("a.example", 99, { kind: "raw", bytes: Uint8Array.of(0xc0, 12) }));
  const rb = encodeMessage(raw);
  assert.equal(rb.length, 12 + 11 + 4 + 2 + 10 + 2);
  assert.deepEqual(roundTrip(rb).answers[0].data, { kind: "raw", bytes: Uint8Array.of(0xc0, 12) });
});

Deno.test("compression: an escaped spelling and a plain one share their suffixes", () => {
  const m = emptyMessage();
  m.questions.push({ name: "x.example", type: 1, class: 1 });
  // "\101xample" is "example" written with an escape: the escaped path must find the plain key.
  m.questions.push({ name: "y.\\101xample", type: 1, class: 1 });
  const bytes = encodeMessage(m);
  assert.equal(bytes.length, 12 + (11 + 4) + (2 + 2 + 4));
  assert.deepEqual(roundTrip(bytes).questions.map((q) => q.name), ["x.example", "y.example"]);
});

Deno.test("DnsWriter: a prefix base does not shift compression offsets", () => {
  const m = emptyMessage();
  m.questions.push({ name: "a.b", type: 1, class: 1 }, { name: "c.a.b", type: 1, class: 1 });
  const w = new DnsWriter(2);
  assert.equal(w.base, 2);
  const info = encodeInto(w, m, 512);
  assert.equal(w.view().length, info.length);
  assert.deepEqual(w.view(), encodeMessage(m));
  assert.equal(w.buf.length, 2 + 65535);
  // Reuse: a second message does not point at names of the first.
  const other = emptyMessage();
  other.questions.push({ name: "z.a.b", type: 1, class: 1 });
  encodeInto(w, other, 512);
  assert.deepEqual(roundTrip(w.view()).questions[0].name, "z.a.b");
  assert.equal(w.view().length, 12 + 7 + 4);
});

Deno.test("DnsWriter: raw writes, limits and rewind", () => {
  const w = new DnsWriter();
  w.reset(8);
  assert.equal(w.limit, 8);
  w.u8(0x01);
  w.u16(0x0203);
  w.u32(0x04050607);
  assert.deepEqual(Array.from(w.view()), [1, 2, 3, 4, 5, 6, 7]);
  // Past the limit: thrown, nothing written.
  assert.throws(() => w.u16(0));
  assert.equal(w.pos, 7);
  w.limit = 100_000; // capped to the largest message
  assert.equal(w.limit, 65535);
  w.reset(100);
  w.name("foo.bar", true);
  const mark = w.pos;
  w.name("x.foo.bar", true);
  assert.equal(w.pos - mark, 2 + 2); // "x" then a pointer
  // Rewinding forgets names written after the mark: "x.foo.bar" is spelled out again.
  w.rewind(mark);
  w.name("bar", true);
  w.name("x.foo.bar", true);
  assert.equal(w.pos - mark, 2 + 2 + 2);
});

Deno.test("encodeInto: a limit too small for the question is an error, not truncation", () => {
  const m = emptyMessage();
  m.questions.push({ name: "long.example", type: 1, class: 1 });
  assert.throws(() => encodeInto(new DnsWriter(), m, 20), RangeError);
  assert.throws(() => encodeInto(new DnsWriter(), emptyMessage(), 11), RangeError);
  // With EDNS the OPT's room is reserved up front.
  m.edns = { udpSize: 512, version: 0, dnssecOk: false, options: [] };
  const exact = 12 + 14 + 4;
  assert.throws(() => encodeInto(new DnsWriter(), m, exact), RangeError);
  assert.equal(encodeInto(new DnsWriter(), m, exact + 11).length, exact + 11);
});

Deno.test("encodeInto: TC from the message is kept; truncation reports and sets it", () => {
  const m = emptyMessage();
  m.tc = true;
  m.questions.push({ name: "x", type: 1, class: 1 });
  const w = new DnsWriter();
  assert.deepEqual(encodeInto(w, m, 512), { length: 12 + 3 + 4, truncated: false });
  assert.equal(roundTrip(w.view()).tc, true);
  // An authority record that does not fit truncates too (not only answers).
  const a = emptyMessage();
  a.questions.push({ name: "x", type: 1, class: 1 });
  a.authority.push(rr("x", DnsType.TXT, { kind: "txt", texts: ["y".repeat(200)] }));
  const info = encodeInto(w, a, 100);
  assert.equal(info.truncated, true);
  const back = roundTrip(w.view());
  assert.equal(back.tc, true);
  assert.equal(back.authority.length, 0);
  assert.equal(info.length, 12 + 3 + 4);
});

Deno.test("encodeInto: invalid data throws RangeError", () => {
  const long = emptyMessage();
  long.answers.push(rr("x", DnsType.TXT, { kind: "txt", texts: ["é".repeat(128)] }));
  assert.throws(() => encodeMessage(long), RangeError); // 256 bytes in UTF-8
  const name = emptyMessage();
  name.answers.push(rr("a..b", DnsType.A, { kind: "address", address: new Uint8Array(4) }));
  assert.throws(() => encodeMessage(name), RangeError);
  const target = emptyMessage();
  target.answers.push(rr("a", DnsType.CNAME, { kind: "name", name: "x".repeat(64) }));
  assert.throws(() => encodeMessage(target), RangeError);
});

Deno.test("encodeMessage: returns a copy sized to the message", () => {
  const m = emptyMessage();
  m.questions.push({ name: "x", type: 1, class: 1 });
  const a = encodeMessage(m);
  const b = encodeMessage(m);
  assert.equal(a.length, 19);
  assert.equal(a.buffer.byteLength, 19);
  a[0] = 9;
  assert.equal(b[0], 0);
  // The default limit is the largest message: 4000 A records (64 KB) still fit untruncated.
  const big = emptyMessage();
  big.questions.push({ name: "x", type: 1, class: 1 });
  for (let i = 0; i < 4000; i++) {
    big.answers.push(
      rr("x", DnsType.A, { kind: "address", address: Uint8Array.of(10, 0, i >> 8, i) }),
    );
  }
  const out = roundTrip(encodeMessage(big));
  assert.equal(out.tc, false);
  assert.equal(out.answers.length, 4000);
});
