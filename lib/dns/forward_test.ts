import assert from "node:assert/strict";
import { parseResolvConf, parseUpstream } from "./forward.ts";
import { serveDns } from "./server.ts";
import { DnsResponder } from "./responder.ts";
import { newDnsStats } from "./stats.ts";
import { DnsZone } from "./zone.ts";
import { buildQuery, decodeMessage, DnsType, emptyMessage, encodeMessage, Rcode } from "./wire.ts";

Deno.test("resolv.conf: nameservers in order, comments and scoped addresses skipped", () => {
  const text = [
    "# generated",
    "search example.com",
    "nameserver 192.0.2.53",
    "nameserver   2001:db8::53   # v6",
    "; nameserver 198.51.100.1",
    "nameserver fe80::1%eth0",
    "nameserver not-an-ip",
    "options edns0",
    "nameserver 198.51.100.7",
  ].join("\n");
  assert.deepEqual(parseResolvConf(text), ["192.0.2.53", "2001:db8::53", "198.51.100.7"]);
});

Deno.test("upstream text: address, address:port, [v6]:port, bare v6", () => {
  assert.deepEqual(parseUpstream("192.0.2.1"), { hostname: "192.0.2.1", port: 53 });
  assert.deepEqual(parseUpstream("192.0.2.1:5353"), { hostname: "192.0.2.1", port: 5353 });
  assert.deepEqual(parseUpstream("[2001:db8::1]:54"), { hostname: "2001:db8::1", port: 54 });
  assert.deepEqual(parseUpstream("2001:db8::1"), { hostname: "2001:db8::1", port: 53 });
  for (const bad of ["example.com", "192.0.2.1:0", "192.0.2.1:70000", "[::1]:x", ""]) {
    assert.throws(() => parseUpstream(bad), Error, bad);
  }
});

Deno.test({
  name: "forward: true reads the resolver file; our own address is never an upstream",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const probe = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const file = await Deno.makeTempFile();
    try {
      await Deno.writeTextFile(file, "nameserver 192.0.2.53\nnameserver 127.0.0.1\n");
      const source = { view: () => ({ network: "10.0.0.0/24", version: 1, members: [] }) };
      const s = await serveDns({
        addresses: ["127.0.0.1"],
        port,
        source,
        forward: true,
        resolvConf: file,
      });
      try {
        assert.deepEqual(s.upstreams, ["192.0.2.53:53", "127.0.0.1:53"]);
      } finally {
        await s.close();
      }
      // Our own address and port, or the wildcard with our port, would loop: left out.
      for (const self of [`127.0.0.1:${port}`, `0.0.0.0:${port}`]) {
        const g = await serveDns({
          addresses: ["127.0.0.1"],
          port,
          source,
          forward: [self, "192.0.2.53", `127.0.0.1:${port + 1}`],
        });
        assert.deepEqual(g.upstreams, ["192.0.2.53:53", `127.0.0.1:${port + 1}`]);
        await g.close();
      }
      await assert.rejects(
        serveDns({ addresses: ["127.0.0.1"], port: 0, source, forward: ["nonsense"] }),
      );
    } finally {
      await Deno.remove(file);
    }
  },
});

Deno.test("responder: FORMERR, NOTIMP, BADVERS, responses dropped, REFUSED", () => {
  const zone = new DnsZone({ view: () => ({ network: "10.0.0.0/24", version: 1, members: [] }) });
  const stats = newDnsStats();
  const r = new DnsResponder({ zone, stats });
  const answer = (bytes: Uint8Array) => {
    const out = r.respond(bytes, false, "127.0.0.1");
    assert.ok(!(out instanceof Promise));
    return out === null ? null : decodeMessage(out);
  };
  const q = buildQuery(5, "example.test", DnsType.A);
  const refused = answer(q);
  assert.ok(refused?.ok);
  assert.equal(refused.message.rcode, Rcode.REFUSED);
  assert.equal(refused.message.ra, false);
  // Two questions: FORMERR.
  const two = buildQuery(6, "a.overlay.local", DnsType.A);
  two[5] = 2;
  const twoAns = answer(
    Uint8Array.from([...two.subarray(0, 12), ...two.subarray(12), ...two.subarray(12)]),
  );
  assert.ok(twoAns?.ok);
  assert.equal(twoAns.message.rcode, Rcode.FORMERR);
  // Opcode STATUS (2): NOTIMP with the question echoed.
  const status = buildQuery(7, "overlay.local", DnsType.SOA);
  status[2] |= 2 << 3;
  const st = answer(status);
  assert.ok(st?.ok);
  assert.equal(st.message.rcode, Rcode.NOTIMP);
  assert.equal(st.message.questions.length, 1);
  // Opcode NOTIFY with five 200-byte questions: too big to echo in 512 bytes, still NOTIMP.
  const many = emptyMessage();
  many.id = 10;
  many.opcode = 4;
  for (let i = 0; i < 5; i++) {
    many.questions.push({
      name: `${i}.${"a".repeat(60)}.${"b".repeat(60)}.${"c".repeat(60)}`,
      type: 1,
      class: 1,
    });
  }
  const nt = answer(encodeMessage(many));
  assert.ok(nt?.ok);
  assert.equal(nt.message.rcode, Rcode.NOTIMP);
  assert.equal(nt.message.questions.length, 0);
  // EDNS version 1: BADVERS, with an OPT to carry it.
  const v1 = buildQuery(8, "overlay.local", DnsType.SOA, { udpSize: 1232 });
  v1[v1.length - 5] = 1; // the version byte of the OPT TTL
  const bv = answer(v1);
  assert.ok(bv?.ok);
  assert.equal(bv.message.rcode, Rcode.BADVERS);
  assert.notEqual(bv.message.edns, null);
  // A response is never answered; nor is a message without a header.
  const resp = buildQuery(9, "overlay.local", DnsType.SOA);
  resp[2] |= 0x80;
  assert.equal(answer(resp), null);
  assert.equal(answer(new Uint8Array(5)), null);
  // A broken body with a readable header: FORMERR with the id.
  const broken = answer(q.subarray(0, q.length - 2));
  assert.ok(broken?.ok);
  assert.equal(broken.message.id, 5);
  assert.equal(broken.message.rcode, Rcode.FORMERR);
  assert.equal(stats.malformed, 2);
  assert.equal(stats.dropped, 2);
  // One count per response sent, by the question's type (NONE without a single question).
  assert.deepEqual(stats.byTypeRcode, {
    "A|REFUSED": 1,
    "NONE|FORMERR": 2,
    "SOA|NOTIMP": 1,
    "NONE|NOTIMP": 1,
    "SOA|BADVERS": 1,
  });
  assert.equal(stats.queries, 2); // the NOTIMP ones are not queries
  // TCP answers carry their length prefix.
  const tcp = r.respond(q, true, null) as Uint8Array;
  assert.equal((tcp[0] << 8) | tcp[1], tcp.length - 2);
});

Deno.test("upstreams: bracketed addresses without a port, names and ports refused clearly", () => {
  assert.deepEqual(parseUpstream("[2001:db8::1]"), { hostname: "2001:db8::1", port: 53 });
  assert.deepEqual(parseUpstream(" 192.0.2.1:53 "), { hostname: "192.0.2.1", port: 53 });
  assert.throws(() => parseUpstream("192.0.2.1:0"), /invalid DNS upstream port in "192.0.2.1:0"/);
  assert.throws(() => parseUpstream("ns.example:53"), /invalid DNS upstream "ns.example:53"/);
  assert.throws(() => parseUpstream("[fe80::1%eth0]:53"), /invalid DNS upstream/);
});
