import assert from "node:assert/strict";
import {
  buildQuery,
  canonicalName,
  decodeMessage,
  DnsClass,
  type DnsMessage,
  DnsType,
  DnsWriter,
  emptyMessage,
  encodeInto,
  encodeMessage,
  nameToLabels,
  readQuestion,
  type ResourceRecord,
} from "./wire.ts";
import { seededRandom } from "../../tests/fixtures/prng.ts";

function header(id: number, flags: number, qd: number, an: number, ns: number, ar: number) {
  return [id >> 8, id & 0xff, flags >> 8, flags & 0xff, 0, qd, 0, an, 0, ns, 0, ar];
}

function wireName(name: string): number[] {
  const out: number[] = [];
  for (const l of nameToLabels(name)) out.push(l.length, ...l);
  out.push(0);
  return out;
}

function fail(bytes: number[] | Uint8Array) {
  const r = decodeMessage(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
  assert.equal(r.ok, false, "expected a parse error");
  return r as Extract<typeof r, { ok: false }>;
}

function rr(name: string, type: number, data: ResourceRecord["data"]): ResourceRecord {
  return { name, type, class: DnsClass.IN, ttl: 30, data };
}

Deno.test("every record type survives encode and decode, with compression", () => {
  const m = emptyMessage();
  m.id = 0xbeef;
  m.qr =
    m.aa =
    m.rd =
    m.ra =
      true;
  m.rcode = 3;
  m.questions.push({ name: "web.overlay.local", type: DnsType.SRV, class: DnsClass.IN });
  m.answers.push(
    rr("web.overlay.local", DnsType.A, { kind: "address", address: Uint8Array.of(10, 0, 0, 1) }),
    rr("web.overlay.local", DnsType.AAAA, {
      kind: "address",
      address: Uint8Array.from({ length: 16 }, (_, i) => i),
    }),
    rr("web.overlay.local", DnsType.SRV, {
      kind: "srv",
      priority: 10,
      weight: 5,
      port: 8080,
      target: "h1.overlay.local",
    }),
    rr("web.overlay.local", DnsType.TXT, { kind: "txt", texts: ["env=prod", "", "ü=1"] }),
    rr("1.0.0.10.in-addr.arpa", DnsType.PTR, { kind: "name", name: "h1.overlay.local" }),
    rr("overlay.local", DnsType.MX, { kind: "mx", preference: 5, exchange: "mx.overlay.local" }),
    rr("overlay.local", 99, { kind: "raw", bytes: Uint8Array.of(1, 2, 3) }),
  );
  m.authority.push(rr("overlay.local", DnsType.SOA, {
    kind: "soa",
    mname: "ns.overlay.local",
    rname: "hostmaster.overlay.local",
    serial: 0xfffffffe,
    refresh: 60,
    retry: 10,
    expire: 3600,
    minimum: 10,
  }));
  m.additional.push(rr("ns.overlay.local", DnsType.NS, { kind: "name", name: "ns.overlay.local" }));
  m.edns = {
    udpSize: 1232,
    version: 0,
    dnssecOk: true,
    options: [{ code: 10, data: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8) }],
  };
  const bytes = encodeMessage(m);
  const r = decodeMessage(bytes);
  assert.ok(r.ok, r.ok ? "" : r.error);
  assert.deepEqual(r.message, m);
  // "overlay" is spelled out twice: in the question and in the SRV target, which RFC 2782 says
  // is never compressed; every other copy is a 2-byte pointer.
  const text = new TextDecoder("latin1").decode(bytes);
  assert.equal(text.split("overlay").length - 1, 2);
  // Names compare case-insensitively, so a differently cased copy compresses too, and reads
  // back in the case written first.
  const c = emptyMessage();
  c.questions.push({ name: "Web.Overlay.Local", type: DnsType.A, class: DnsClass.IN });
  c.answers.push(
    rr("web.overlay.local", DnsType.A, { kind: "address", address: new Uint8Array(4) }),
  );
  const cb = encodeMessage(c);
  assert.equal(cb.length, 12 + 19 + 4 + 2 + 10 + 4);
  const cr = decodeMessage(cb);
  assert.ok(cr.ok);
  assert.equal(cr.message.answers[0].name, "Web.Overlay.Local");
});

Deno.test("escaped labels round-trip and compare case-insensitively", () => {
  const name = "a\\.b.\\000\\255x.Z\\\\";
  const labels = nameToLabels(name);
  assert.deepEqual(labels.map((l) => Array.from(l)), [
    [0x61, 0x2e, 0x62],
    [0, 255, 0x78],
    [0x5a, 0x5c],
  ]);
  const m = emptyMessage();
  m.questions.push({ name, type: DnsType.A, class: DnsClass.IN });
  const r = decodeMessage(encodeMessage(m));
  assert.ok(r.ok);
  assert.equal(r.message.questions[0].name, name);
  assert.equal(canonicalName("Foo.BAR."), "foo.bar");
  assert.equal(canonicalName("a\\."), "a\\.");
  assert.equal(canonicalName("a\\\\."), "a\\\\");
  // Compression must not merge names that differ only by an escaped dot.
  const m2 = emptyMessage();
  m2.questions.push({ name: "x.a.b", type: 1, class: 1 }, { name: "y.a\\.b", type: 1, class: 1 });
  const r2 = decodeMessage(encodeMessage(m2));
  assert.ok(r2.ok);
  assert.deepEqual(r2.message.questions.map((q) => q.name), ["x.a.b", "y.a\\.b"]);
});

Deno.test("the encoder rejects invalid names", () => {
  assert.throws(() => nameToLabels("a..b"), RangeError);
  assert.throws(() => nameToLabels("x".repeat(64)), RangeError);
  assert.throws(() => nameToLabels(Array(130).fill("ab").join(".")), RangeError);
  assert.throws(() => nameToLabels("a\\9"), RangeError);
  assert.doesNotThrow(() => nameToLabels("x".repeat(63) + "."));
});

Deno.test("EDNS: payload size, version, DO bit and extended rcode are read", () => {
  const q = buildQuery(7, "x.overlay.local", DnsType.A, { udpSize: 1400 });
  const r = decodeMessage(q);
  assert.ok(r.ok);
  assert.deepEqual(r.message.edns, { udpSize: 1400, version: 0, dnssecOk: false, options: [] });
  assert.equal(r.message.additional.length, 0);
  const m = emptyMessage();
  m.qr = true;
  m.rcode = 16; // BADVERS: needs the OPT's upper bits
  m.edns = { udpSize: 512, version: 0, dnssecOk: false, options: [] };
  const back = decodeMessage(encodeMessage(m));
  assert.ok(back.ok);
  assert.equal(back.message.rcode, 16);
  const noEdns = emptyMessage();
  noEdns.rcode = 16;
  assert.throws(() => encodeMessage(noEdns), RangeError);
});

Deno.test("malformed: short and truncated headers", () => {
  for (let n = 0; n < 12; n++) {
    const f = fail(new Uint8Array(n));
    assert.equal(f.error, "short-header");
    assert.equal(f.header, null);
  }
  const f = fail(header(0x1234, 0x0100, 1, 0, 0, 0));
  assert.equal(f.error, "truncated");
  assert.deepEqual(f.header, { id: 0x1234, qr: false, opcode: 0, rd: true });
});

Deno.test("malformed: wrong section counts and trailing garbage", () => {
  const q = [...wireName("a.b"), 0, 1, 0, 1];
  assert.ok(decodeMessage(Uint8Array.from([...header(1, 0, 1, 0, 0, 0), ...q])).ok);
  assert.equal(fail([...header(1, 0, 2, 0, 0, 0), ...q]).error, "truncated");
  assert.equal(fail([...header(1, 0, 1, 1, 0, 0), ...q]).error, "truncated");
  assert.equal(fail([...header(1, 0, 1, 0, 0, 0xff), ...q]).error, "truncated");
  assert.equal(fail([...header(1, 0, 0, 0, 0, 0), ...q]).error, "trailing-data");
  assert.equal(fail([...header(1, 0, 1, 0, 0, 0), ...q, 0]).error, "trailing-data");
  // Question cut inside its type field.
  assert.equal(fail([...header(1, 0, 1, 0, 0, 0), ...q.slice(0, -3)]).error, "truncated");
});

Deno.test("malformed: label overflow, reserved label types, overlong names", () => {
  const h = header(1, 0, 1, 0, 0, 0);
  assert.equal(fail([...h, 64, ...Array(64).fill(0x61), 0, 0, 1, 0, 1]).error, "label-too-long");
  assert.equal(fail([...h, 0x7f, 0x61, 0, 0, 1, 0, 1]).error, "label-too-long");
  assert.equal(fail([...h, 0x80, 0x61, 0, 0, 1, 0, 1]).error, "bad-label-type");
  // 4 labels of 63 = 256 bytes with the root: one too many.
  const long: number[] = [];
  for (let i = 0; i < 4; i++) long.push(63, ...Array(63).fill(0x61));
  assert.equal(fail([...h, ...long, 0, 0, 1, 0, 1]).error, "name-too-long");
  // 3 of 63 + one of 61 = 255 bytes exactly is fine.
  const max = long.slice(0, 192);
  max.push(61, ...Array(61).fill(0x62));
  assert.ok(decodeMessage(Uint8Array.from([...h, ...max, 0, 0, 1, 0, 1])).ok);
  // A label length that runs off the end.
  assert.equal(fail([...h, 10, 0x61, 0x61]).error, "truncated");
});

Deno.test("malformed: compression loops, forward pointers and too many hops", () => {
  const h1 = header(1, 0, 1, 0, 0, 0);
  // Pointer to itself.
  assert.equal(fail([...h1, 0xc0, 12, 0, 1, 0, 1]).error, "bad-pointer");
  // Forward pointer (to the type field after it).
  assert.equal(fail([...h1, 0xc0, 14, 0, 1, 0, 1]).error, "bad-pointer");
  // Pointer into the header.
  assert.equal(fail([...h1, 0xc0, 4, 0, 1, 0, 1]).error, "bad-pointer");
  // A label then a pointer back to the start of the same name: a loop.
  assert.equal(fail([...h1, 1, 0x61, 0xc0, 12, 0, 1, 0, 1]).error, "bad-pointer");
  // Pointer past the end.
  assert.equal(fail([...h1, 0xff, 0xff, 0, 1, 0, 1]).error, "bad-pointer");
  // Two names pointing at each other: the second is fine, the first points forward.
  const loop = [...header(1, 0, 2, 0, 0, 0), 0xc0, 18, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1];
  assert.equal(fail(loop).error, "bad-pointer");
  // Half a pointer at the end.
  assert.equal(fail([...h1, 0xc0]).error, "truncated");
  // A backward chain: question k points at question k-1; 64 hops are allowed, 65 are not.
  const chain = (n: number) => {
    const body: number[] = [1, 0x61, 0, 0, 1, 0, 1];
    let prev = 12;
    for (let k = 1; k <= n; k++) {
      const at = 12 + body.length;
      body.push(0xc0 | (prev >> 8), prev & 0xff, 0, 1, 0, 1);
      prev = at;
    }
    return Uint8Array.from([...header(1, 0, n + 1, 0, 0, 0), ...body]);
  };
  const ok = decodeMessage(chain(64));
  assert.ok(ok.ok);
  assert.equal(ok.message.questions[64].name, "a");
  assert.equal(fail(chain(65)).error, "pointer-loop");
});

Deno.test("malformed: record data that does not fit its length or type", () => {
  const q = [...wireName("a"), 0, 1, 0, 1];
  const rec = (type: number, rdata: number[], rdlen = rdata.length) => [
    0xc0,
    12,
    0,
    type,
    0,
    1,
    0,
    0,
    0,
    10,
    rdlen >> 8,
    rdlen & 0xff,
    ...rdata,
  ];
  const msg = (r: number[]) => [...header(1, 0x8000, 1, 1, 0, 0), ...q, ...r];
  assert.ok(decodeMessage(Uint8Array.from(msg(rec(1, [1, 2, 3, 4])))).ok);
  assert.equal(fail(msg(rec(1, [1, 2, 3, 4, 5]))).error, "bad-rdata");
  assert.equal(fail(msg(rec(28, [1, 2, 3, 4]))).error, "bad-rdata");
  assert.equal(fail(msg(rec(1, [1, 2, 3, 4], 9))).error, "truncated");
  // A PTR whose name runs past its rdlength.
  assert.equal(fail(msg([...rec(12, [1, 0x62], 2), 0])).error, "bad-rdata");
  // A TXT whose string runs past its rdlength, and an empty TXT.
  assert.equal(fail(msg(rec(16, [5, 0x61]))).error, "bad-rdata");
  assert.equal(fail(msg(rec(16, []))).error, "bad-rdata");
  // SRV cut short.
  assert.equal(fail(msg(rec(33, [0, 1, 0]))).error, "truncated");
});

Deno.test("malformed: OPT twice, outside additional, or with a name", () => {
  const q = [...wireName("a"), 0, 1, 0, 1];
  const opt = [0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0];
  assert.ok(decodeMessage(Uint8Array.from([...header(1, 0, 1, 0, 0, 1), ...q, ...opt])).ok);
  assert.equal(fail([...header(1, 0, 1, 0, 0, 2), ...q, ...opt, ...opt]).error, "bad-opt");
  assert.equal(fail([...header(1, 0, 1, 1, 0, 0), ...q, ...opt]).error, "bad-opt");
  const named = [0xc0, 12, ...opt.slice(1)];
  assert.equal(fail([...header(1, 0, 1, 0, 0, 1), ...q, ...named]).error, "bad-opt");
  // An option whose length runs past the OPT data.
  const badOption = [0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 4, 0, 10, 0, 9];
  assert.equal(fail([...header(1, 0, 1, 0, 0, 1), ...q, ...badOption]).error, "bad-opt");
});

Deno.test("truncation: answers that do not fit leave no records and set TC; OPT stays", () => {
  const m = emptyMessage();
  m.qr = true;
  m.questions.push({ name: "web.overlay.local", type: DnsType.A, class: DnsClass.IN });
  for (let i = 0; i < 60; i++) {
    m.answers.push(
      rr("web.overlay.local", DnsType.A, { kind: "address", address: Uint8Array.of(10, 0, 1, i) }),
    );
  }
  m.edns = { udpSize: 4096, version: 0, dnssecOk: false, options: [] };
  const w = new DnsWriter(2);
  const info = encodeInto(w, m, 512);
  assert.equal(info.truncated, true);
  assert.ok(info.length <= 512);
  const r = decodeMessage(w.view());
  assert.ok(r.ok);
  assert.equal(r.message.tc, true);
  assert.equal(r.message.answers.length, 0);
  assert.notEqual(r.message.edns, null);
  // The full answer fits in 1232 (60 * 16 + question + OPT).
  const big = encodeInto(w, m, 1232);
  assert.equal(big.truncated, false);
  const r2 = decodeMessage(w.view());
  assert.ok(r2.ok);
  assert.equal(r2.message.answers.length, 60);
  assert.equal(r2.message.tc, false);
});

Deno.test("truncation: additional records that do not fit are dropped without TC", () => {
  const m = emptyMessage();
  m.qr = true;
  m.questions.push({ name: "_web._tcp.overlay.local", type: DnsType.SRV, class: DnsClass.IN });
  for (let i = 0; i < 10; i++) {
    m.answers.push(rr("_web._tcp.overlay.local", DnsType.SRV, {
      kind: "srv",
      priority: 10,
      weight: 1,
      port: 80,
      target: `host${i}.overlay.local`,
    }));
    m.additional.push(
      rr(`host${i}.overlay.local`, DnsType.AAAA, { kind: "address", address: new Uint8Array(16) }),
    );
  }
  const full = encodeMessage(m);
  const w = new DnsWriter();
  const info = encodeInto(w, m, full.length - 1);
  assert.equal(info.truncated, false);
  const r = decodeMessage(w.view());
  assert.ok(r.ok);
  assert.equal(r.message.tc, false);
  assert.equal(r.message.answers.length, 10);
  assert.equal(r.message.additional.length, 9);
});

Deno.test("readQuestion reads the first question without the rest", () => {
  const q = buildQuery(99, "Example.COM", DnsType.AAAA);
  const got = readQuestion(Uint8Array.from([...q, 1, 2, 3]));
  assert.deepEqual(got?.question, { name: "Example.COM", type: DnsType.AAAA, class: 1 });
  assert.equal(got?.header.id, 99);
  assert.equal(readQuestion(q.subarray(0, 14)), null);
  assert.equal(readQuestion(new Uint8Array(5)), null);
});

Deno.test("fuzz: decode never throws, on random bytes and on mutations of real messages", () => {
  const rand = seededRandom(12345);
  const seeds: Uint8Array[] = [];
  const big: DnsMessage = emptyMessage();
  big.qr = true;
  big.questions.push({ name: "_web._tcp.overlay.local", type: DnsType.SRV, class: 1 });
  big.answers.push(
    rr("_web._tcp.overlay.local", DnsType.SRV, {
      kind: "srv",
      priority: 1,
      weight: 2,
      port: 3,
      target: "h.overlay.local",
    }),
    rr("_web._tcp.overlay.local", DnsType.TXT, { kind: "txt", texts: ["a=b"] }),
  );
  big.authority.push(rr("overlay.local", DnsType.SOA, {
    kind: "soa",
    mname: "ns.overlay.local",
    rname: "h.overlay.local",
    serial: 1,
    refresh: 2,
    retry: 3,
    expire: 4,
    minimum: 5,
  }));
  big.edns = { udpSize: 1232, version: 0, dnssecOk: false, options: [] };
  seeds.push(encodeMessage(big), buildQuery(1, "node-1-2.overlay.local", DnsType.A));
  let ok = 0;
  for (let i = 0; i < 100_000; i++) {
    let buf: Uint8Array;
    if (i % 2 === 0) {
      buf = new Uint8Array(Math.floor(rand() * 80));
      for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(rand() * 256);
    } else {
      const seed = seeds[i % seeds.length];
      buf = seed.slice(0, 1 + Math.floor(rand() * seed.length));
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++) buf[Math.floor(rand() * buf.length)] = rand() * 256;
    }
    const r = decodeMessage(buf);
    if (r.ok) {
      ok++;
      // Whatever decodes must encode again (no invalid names slip through).
      encodeMessage(r.message);
    } else {
      assert.equal(typeof r.error, "string");
    }
  }
  assert.ok(ok < 100_000);
});
