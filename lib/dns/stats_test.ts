import assert from "node:assert/strict";
import { answerKey, countAnswer, newDnsStats, typeKey } from "./stats.ts";
import { DnsType, Rcode } from "./wire.ts";

Deno.test("newDnsStats: every counter at zero, a fresh object each time", () => {
  const s = newDnsStats();
  assert.deepEqual(s, {
    received: 0,
    queries: 0,
    byTypeRcode: {},
    forwarded: 0,
    forwardFailed: 0,
    forwardRefused: 0,
    malformed: 0,
    dropped: 0,
    truncated: 0,
    loops: 0,
    tcpConnections: 0,
    tcpRejected: 0,
    tcpOpen: 0,
  });
  s.received++;
  s.byTypeRcode.x = 1;
  assert.equal(newDnsStats().received, 0);
  assert.deepEqual(newDnsStats().byTypeRcode, {});
});

Deno.test("typeKey: known mnemonics, OTHER for the rest so the key set stays bounded", () => {
  assert.equal(typeKey(DnsType.A), "A");
  assert.equal(typeKey(DnsType.SRV), "SRV");
  assert.equal(typeKey(DnsType.ANY), "ANY");
  for (const t of [0, 3, 99, 256, 65535]) assert.equal(typeKey(t), "OTHER");
});

Deno.test("answerKey: TYPE|RCODE, NONE without a single question", () => {
  assert.equal(answerKey(DnsType.AAAA, Rcode.NOERROR), "AAAA|NOERROR");
  assert.equal(answerKey(1234, Rcode.REFUSED), "OTHER|REFUSED");
  assert.equal(answerKey(null, Rcode.FORMERR), "NONE|FORMERR");
  assert.equal(answerKey(DnsType.A, Rcode.BADVERS), "A|BADVERS");
  assert.equal(answerKey(DnsType.A, 9), "A|RCODE9");
});

Deno.test("countAnswer: one count per response under its key, nothing else touched", () => {
  const s = newDnsStats();
  countAnswer(s, DnsType.A, Rcode.NOERROR);
  countAnswer(s, DnsType.A, Rcode.NOERROR);
  countAnswer(s, DnsType.A, Rcode.NXDOMAIN);
  countAnswer(s, 777, Rcode.NOERROR);
  countAnswer(s, 778, Rcode.NOERROR);
  countAnswer(s, null, Rcode.FORMERR);
  assert.deepEqual(s.byTypeRcode, {
    "A|NOERROR": 2,
    "A|NXDOMAIN": 1,
    "OTHER|NOERROR": 2,
    "NONE|FORMERR": 1,
  });
  assert.deepEqual({ ...s, byTypeRcode: {} }, newDnsStats());
});
