import assert from "node:assert/strict";
import {
  CLASSIC_UDP_SIZE,
  DnsClass,
  DnsType,
  HEADER_SIZE,
  MAX_LABEL,
  MAX_MESSAGE,
  MAX_NAME_WIRE,
  OPCODE_QUERY,
  Rcode,
  rcodeName,
  typeName,
} from "./message.ts";

Deno.test("type, class and rcode numbers are the IANA ones", () => {
  assert.deepEqual(
    { ...DnsType },
    {
      A: 1,
      NS: 2,
      CNAME: 5,
      SOA: 6,
      PTR: 12,
      MX: 15,
      TXT: 16,
      AAAA: 28,
      SRV: 33,
      OPT: 41,
      IXFR: 251,
      AXFR: 252,
      MAILB: 253,
      MAILA: 254,
      ANY: 255,
    },
  );
  assert.deepEqual({ ...DnsClass }, { IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 });
  assert.deepEqual(
    { ...Rcode },
    { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 },
  );
});

Deno.test("protocol limits", () => {
  assert.equal(OPCODE_QUERY, 0);
  assert.equal(MAX_MESSAGE, 65535);
  assert.equal(CLASSIC_UDP_SIZE, 512);
  assert.equal(MAX_NAME_WIRE, 255);
  assert.equal(MAX_LABEL, 63);
  assert.equal(HEADER_SIZE, 12);
});

Deno.test("typeName: every known mnemonic, TYPE<n> (RFC 3597) otherwise", () => {
  for (const [name, n] of Object.entries(DnsType)) assert.equal(typeName(n), name);
  assert.equal(typeName(0), "TYPE0");
  assert.equal(typeName(99), "TYPE99");
  assert.equal(typeName(65535), "TYPE65535");
});

Deno.test("rcodeName: every known mnemonic, RCODE<n> otherwise", () => {
  for (const [name, n] of Object.entries(Rcode)) assert.equal(rcodeName(n), name);
  assert.equal(rcodeName(6), "RCODE6");
  assert.equal(rcodeName(15), "RCODE15");
  assert.equal(rcodeName(17), "RCODE17");
});

Deno.test("the tables are frozen at the type level and not shared with the name maps", () => {
  // A caller's copy of a table cannot change what typeName answers.
  const copy: Record<string, number> = { ...DnsType };
  copy.A = 999;
  assert.equal(typeName(1), "A");
  assert.equal(typeName(999), "TYPE999");
});
