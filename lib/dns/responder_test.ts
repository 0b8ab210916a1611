import assert from "node:assert/strict";
import { DEFAULT_MAX_UDP, DnsResponder, type ResponderOptions } from "./responder.ts";
import type { Forwarder, ForwardResult } from "./forward.ts";
import { type DnsStats, newDnsStats } from "./stats.ts";
import { DnsZone, type ZoneSource } from "./zone.ts";
import {
  buildQuery,
  decodeMessage,
  type DnsMessage,
  DnsType,
  emptyMessage,
  encodeMessage,
  Rcode,
} from "./wire.ts";
import { createLogger } from "../log/logger.ts";
import { member } from "../../tests/fixtures/members.ts";

/** 40 members all offering "web": an SRV answer that does not fit 512 bytes. */
function source(): ZoneSource {
  const members = [member("alpha", "10.200.0.1", { role: "leader" })];
  for (let i = 0; i < 40; i++) {
    members.push(member(`host${i}`, `10.200.1.${i + 1}`, {
      services: [{ name: "web", port: 80, protocol: "tcp" }],
    }));
  }
  return { view: () => ({ network: "10.200.0.0/16", version: 1, members }) };
}

/** A Forwarder stand-in: records calls and answers with `result`. */
class FakeForwarder {
  upstreams = [{ hostname: "192.0.2.53", port: 53 }];
  calls: { query: Uint8Array; variant: string }[] = [];
  constructor(public result: () => Promise<ForwardResult>) {}
  forward(query: Uint8Array, variant = ""): Promise<ForwardResult> {
    this.calls.push({ query: query.slice(), variant });
    return this.result();
  }
}

function setup(opts: Partial<ResponderOptions> = {}, src: ZoneSource = source()) {
  const stats = newDnsStats();
  const r = new DnsResponder({ zone: new DnsZone(src), stats, ...opts });
  return { r, stats };
}

function sync(r: DnsResponder, q: Uint8Array, tcp = false): DnsMessage {
  const out = r.respond(q, tcp, "127.0.0.1");
  assert.ok(out instanceof Uint8Array, "a synchronous answer");
  const res = decodeMessage(tcp ? out.subarray(2) : out);
  assert.ok(res.ok, res.ok ? "" : res.error);
  return res.message;
}

async function later(r: DnsResponder, q: Uint8Array, tcp = false): Promise<Uint8Array | null> {
  const out = r.respond(q, tcp, "127.0.0.1");
  assert.ok(out instanceof Promise, "a forwarded answer");
  return await out;
}

function asForwarder(f: FakeForwarder): Forwarder {
  return f as unknown as Forwarder;
}

Deno.test("zone answers: AA, id, RD and CD echoed, no RA without a forwarder", () => {
  const { r, stats } = setup();
  assert.equal(r.forwarding, false);
  const q = buildQuery(0x2222, "alpha.overlay.local", DnsType.A);
  q[3] |= 0x10; // CD
  const m = sync(r, q);
  assert.equal(m.id, 0x2222);
  assert.equal(m.qr, true);
  assert.equal(m.aa, true);
  assert.equal(m.rd, true);
  assert.equal(m.cd, true);
  assert.equal(m.ra, false);
  assert.equal(m.rcode, Rcode.NOERROR);
  assert.deepEqual(m.answers.map((a) => Array.from((a.data as { address: Uint8Array }).address)), [
    [10, 200, 0, 1],
  ]);
  const nx = sync(r, buildQuery(1, "nobody.overlay.local", DnsType.A, { rd: false }));
  assert.equal(nx.rcode, Rcode.NXDOMAIN);
  assert.equal(nx.rd, false);
  assert.equal(nx.authority[0].type, DnsType.SOA);
  assert.equal(stats.received, 2);
  assert.equal(stats.queries, 2);
  assert.deepEqual(stats.byTypeRcode, { "A|NOERROR": 1, "A|NXDOMAIN": 1 });
});

Deno.test("UDP size: 512 without EDNS, the client's size capped by ours, TC when over", () => {
  const { r, stats } = setup({ maxUdpSize: 1000 });
  const srv = "_web._tcp.overlay.local";
  // No EDNS: 512 bytes, truncated, no records at all.
  const plain = sync(r, buildQuery(1, srv, DnsType.SRV));
  assert.equal(plain.tc, true);
  assert.equal(plain.answers.length, 0);
  assert.equal(plain.edns, null);
  assert.equal(stats.truncated, 1);
  // EDNS 65000 but our limit is 1000: the reply fits 1000, says 1000, and is still truncated
  // (40 SRV records are about 1.4 KB).
  const out = r.respond(buildQuery(2, srv, DnsType.SRV, { udpSize: 65000 }), false, null);
  assert.ok(out instanceof Uint8Array);
  assert.ok(out.length <= 1000);
  const capped = decodeMessage(out);
  assert.ok(capped.ok);
  assert.equal(capped.message.tc, true);
  assert.equal(capped.message.edns?.udpSize, 1000);
  // A client size under 512 is taken as 512.
  const tiny = r.respond(
    buildQuery(3, "alpha.overlay.local", DnsType.A, { udpSize: 100 }),
    false,
    null,
  );
  assert.ok(tiny instanceof Uint8Array && tiny.length > 0);
  // Over TCP the whole answer comes, with its length prefix.
  const tcp = r.respond(buildQuery(4, srv, DnsType.SRV), true, null) as Uint8Array;
  assert.equal((tcp[0] << 8) | tcp[1], tcp.length - 2);
  assert.ok(tcp.length > 1000);
  const full = decodeMessage(tcp.subarray(2));
  assert.ok(full.ok);
  assert.equal(full.message.tc, false);
  assert.equal(full.message.answers.length, 40);
  assert.equal(stats.truncated, 2);
});

Deno.test("EDNS: our OPT advertises our size (default 4096) and echoes DO", () => {
  const { r } = setup();
  assert.equal(DEFAULT_MAX_UDP, 4096);
  const q = buildQuery(1, "alpha.overlay.local", DnsType.A, { udpSize: 1232 });
  q[q.length - 4] |= 0x80; // DO bit of the OPT TTL
  const m = sync(r, q);
  assert.deepEqual(m.edns, { udpSize: 4096, version: 0, dnssecOk: true, options: [] });
  // A configured size over 65535 or under 512 is clamped.
  const hi = setup({ maxUdpSize: 1 << 20 }).r;
  assert.equal(
    sync(hi, buildQuery(1, "alpha.overlay.local", 1, { udpSize: 512 })).edns?.udpSize,
    65535,
  );
  const lo = setup({ maxUdpSize: 10 }).r;
  assert.equal(
    sync(lo, buildQuery(1, "alpha.overlay.local", 1, { udpSize: 512 })).edns?.udpSize,
    512,
  );
});

Deno.test("a zone that throws gives SERVFAIL; the responder keeps answering", () => {
  let broken = true;
  const good = source();
  const src: ZoneSource = {
    view: () => {
      if (broken) throw new Error("view unavailable");
      return good.view();
    },
  };
  const lines: string[] = [];
  const { r, stats } = setup({ logger: createLogger({ sink: (l) => lines.push(l) }) }, src);
  const m = sync(r, buildQuery(9, "alpha.overlay.local", DnsType.A));
  assert.equal(m.rcode, Rcode.SERVFAIL);
  assert.equal(m.answers.length, 0);
  assert.equal(m.aa, false);
  assert.ok(lines.some((l) => l.includes("dns.zone_error")), lines.join("\n"));
  broken = false;
  assert.equal(sync(r, buildQuery(10, "alpha.overlay.local", DnsType.A)).rcode, Rcode.NOERROR);
  assert.deepEqual(stats.byTypeRcode, { "A|SERVFAIL": 1, "A|NOERROR": 1 });
});

Deno.test("the caller's query buffer may be reused after respond returns", async () => {
  const fwd = new FakeForwarder(() => Promise.resolve({ ok: false, reason: "timeout" }));
  const { r } = setup({ forwarder: asForwarder(fwd) });
  const q = buildQuery(5, "example.test", DnsType.A);
  const pending = later(r, q);
  const original = q.slice();
  q.fill(0);
  await pending;
  assert.deepEqual(fwd.calls[0].query, original);
});

Deno.test("forwarding: out-of-zone names go upstream; the answer gets the client's id", async () => {
  const upstream = emptyMessage();
  upstream.id = 0x9999; // the forwarder's own id: the responder must put the client's back
  upstream.qr = upstream.ra = upstream.rd = true;
  upstream.questions.push({ name: "example.test", type: DnsType.A, class: 1 });
  upstream.answers.push({
    name: "example.test",
    type: DnsType.A,
    class: 1,
    ttl: 300,
    data: { kind: "address", address: Uint8Array.of(192, 0, 2, 1) },
  });
  const answer = encodeMessage(upstream);
  const fwd = new FakeForwarder(() => Promise.resolve({ ok: true, answer, via: "udp" }));
  const { r, stats } = setup({ forwarder: asForwarder(fwd) });
  assert.equal(r.forwarding, true);
  // In-zone names are still answered here, now with RA.
  const local = sync(r, buildQuery(1, "alpha.overlay.local", DnsType.A));
  assert.equal(local.ra, true);
  assert.equal(fwd.calls.length, 0);

  const udp = await later(r, buildQuery(0x0102, "example.test", DnsType.A));
  assert.ok(udp !== null);
  assert.deepEqual(Array.from(udp.subarray(0, 2)), [0x01, 0x02]);
  assert.deepEqual(udp.subarray(2), answer.subarray(2));
  const tcp = await later(r, buildQuery(0x0304, "example.test", DnsType.A), true);
  assert.ok(tcp !== null);
  assert.equal((tcp[0] << 8) | tcp[1], answer.length);
  assert.deepEqual(Array.from(tcp.subarray(2, 4)), [0x03, 0x04]);
  assert.equal(stats.forwarded, 2);
  assert.equal(stats.byTypeRcode["A|NOERROR"], 3);
});

Deno.test("forwarding: the variant says RD, CD and EDNS/DO so unlike queries are not merged", async () => {
  const fwd = new FakeForwarder(() => Promise.resolve({ ok: false, reason: "error" }));
  const { r } = setup({ forwarder: asForwarder(fwd) });
  await later(r, buildQuery(1, "example.test", DnsType.A));
  await later(r, buildQuery(1, "example.test", DnsType.A, { rd: false }));
  await later(r, buildQuery(1, "example.test", DnsType.A, { udpSize: 1232 }));
  const dq = buildQuery(1, "example.test", DnsType.A, { rd: false, udpSize: 1232 });
  dq[dq.length - 4] |= 0x80;
  dq[3] |= 0x10;
  await later(r, dq);
  assert.deepEqual(fwd.calls.map((c) => c.variant), ["r", "", "re", "cd"]);
});

Deno.test("forwarding: failure is SERVFAIL; too big for UDP is TC with the upstream rcode", async () => {
  let result: ForwardResult = { ok: false, reason: "timeout" };
  const fwd = new FakeForwarder(() => Promise.resolve(result));
  const { r, stats } = setup({ forwarder: asForwarder(fwd) });
  const failed = decodeMessage((await later(r, buildQuery(7, "example.test", DnsType.A)))!);
  assert.ok(failed.ok);
  assert.equal(failed.message.rcode, Rcode.SERVFAIL);
  assert.equal(failed.message.ra, true);
  assert.deepEqual(failed.message.questions.map((q) => q.name), ["example.test"]);
  assert.equal(stats.forwardFailed, 1);

  const big = new Uint8Array(600);
  big[3] = Rcode.NXDOMAIN;
  result = { ok: true, answer: big, via: "tcp" };
  const tc = decodeMessage((await later(r, buildQuery(8, "example.test", DnsType.TXT)))!);
  assert.ok(tc.ok);
  assert.equal(tc.message.tc, true);
  assert.equal(tc.message.rcode, Rcode.NXDOMAIN);
  assert.equal(tc.message.answers.length, 0);
  assert.equal(stats.truncated, 1);
  // With EDNS room for it, the same answer is passed through.
  const through = await later(r, buildQuery(9, "example.test", DnsType.TXT, { udpSize: 1232 }));
  assert.equal(through?.length, 600);
  assert.deepEqual(stats.byTypeRcode, { "A|SERVFAIL": 1, "TXT|NXDOMAIN": 2 });
});

Deno.test("forwarding: a forwarder that throws costs one answer (null), counted as dropped", async () => {
  const lines: string[] = [];
  const fwd = new FakeForwarder(() => Promise.reject(new Error("boom")));
  const { r, stats } = setup({
    forwarder: asForwarder(fwd),
    logger: createLogger({ sink: (l) => lines.push(l) }),
  });
  assert.equal(await later(r, buildQuery(1, "example.test", DnsType.A)), null);
  assert.equal(stats.dropped, 1);
  assert.ok(lines.some((l) => l.includes("dns.internal_error") && l.includes("boom")));
  // Without upstreams the forwarder is not used: REFUSED.
  fwd.upstreams = [];
  assert.equal(r.forwarding, false);
  assert.equal(sync(r, buildQuery(2, "example.test", DnsType.A)).rcode, Rcode.REFUSED);
});

Deno.test("malformed input: FORMERR over TCP carries the length prefix; stats add up", () => {
  const { r, stats } = setup();
  const q = buildQuery(0x77, "alpha.overlay.local", DnsType.A);
  const out = r.respond(q.subarray(0, q.length - 1), true, null) as Uint8Array;
  assert.equal((out[0] << 8) | out[1], out.length - 2);
  const m = decodeMessage(out.subarray(2));
  assert.ok(m.ok);
  assert.equal(m.message.id, 0x77);
  assert.equal(m.message.rcode, Rcode.FORMERR);
  assert.equal(m.message.rd, true);
  assert.deepEqual<Partial<DnsStats>>(
    { received: stats.received, malformed: stats.malformed, queries: stats.queries },
    { received: 1, malformed: 1, queries: 0 },
  );
});

Deno.test("forwarding: only for the queriers forwardFor allows; the others REFUSED and counted", async () => {
  const answer = encodeMessage({ ...emptyMessage(), id: 1, qr: true });
  const fwd = new FakeForwarder(() => Promise.resolve({ ok: true, answer, via: "udp" }));
  const route = new FakeForwarder(() => Promise.resolve({ ok: true, answer, via: "udp" }));
  const { r, stats } = setup({
    forwarder: asForwarder(fwd),
    routes: [{ domain: "corp.example.", forwarder: asForwarder(route) }],
    forwardFor: (from) => from === "127.0.0.1",
  });
  for (const name of ["example.test", "db.corp.example"]) {
    const out = r.respond(buildQuery(2, name, DnsType.A), false, "10.9.0.2", "10.9.0.4");
    assert.ok(out instanceof Uint8Array, "answered at once, not forwarded");
    const m = decodeMessage(out);
    assert.ok(m.ok);
    assert.equal(m.message.rcode, Rcode.REFUSED);
  }
  assert.equal(stats.forwardRefused, 2);
  assert.equal(fwd.calls.length + route.calls.length, 0);
  // The mesh's own names are still answered, and this host's queries still go upstream.
  const own = r.respond(buildQuery(3, "alpha.overlay.local", DnsType.A), false, null, "10.9.0.4");
  assert.ok(own instanceof Uint8Array);
  assert.equal((decodeMessage(own) as { message: DnsMessage }).message.rcode, Rcode.NOERROR);
  for (const name of ["example.test", "db.corp.example"]) {
    const out = r.respond(buildQuery(4, name, DnsType.A), false, "127.0.0.1", "127.0.0.1");
    assert.ok(out instanceof Promise && (await out) !== null, "forwarded");
  }
  assert.equal(fwd.calls.length + route.calls.length, 2);
  assert.equal(stats.forwardRefused, 2);
});
