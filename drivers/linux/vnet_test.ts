import assert from "node:assert/strict";
import {
  decodeVnetHeader,
  encodeVnetHeader,
  GSO_ECN,
  GSO_NONE,
  GSO_TCPV4,
  GSO_TCPV6,
  GSO_UDP_L4,
  IFF_VNET_HDR,
  newVnetHeader,
  offloadNames,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_TSO_ECN,
  TUN_F_UFO,
  TUN_F_USO4,
  TUN_F_USO6,
  TUNGETVNETHDRSZ,
  TUNSETOFFLOAD,
  TUNSETVNETHDRSZ,
  VNET_F_DATA_VALID,
  VNET_F_NEEDS_CSUM,
  VNET_HDR_LEN,
  zeroVnetHeader,
} from "./vnet.ts";

/** _IOC as <asm-generic/ioctl.h> builds it. */
function ioc(dir: number, type: string, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type.charCodeAt(0) << 8) | nr) >>> 0;
}

Deno.test("constants: the kernel's values", () => {
  assert.equal(VNET_HDR_LEN, 10);
  assert.equal(VNET_F_NEEDS_CSUM, 1);
  assert.equal(VNET_F_DATA_VALID, 2);
  assert.deepEqual([GSO_NONE, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, GSO_ECN], [0, 1, 4, 5, 0x80]);
  assert.equal(IFF_VNET_HDR, 0x4000);
  assert.equal(TUNSETOFFLOAD, ioc(1, "T", 208, 4));
  assert.equal(TUNSETVNETHDRSZ, ioc(1, "T", 216, 4));
  assert.equal(TUNGETVNETHDRSZ, ioc(2, "T", 215, 4));
  assert.deepEqual(
    [TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_USO4, TUN_F_USO6],
    [1, 2, 4, 0x20, 0x40],
  );
});

Deno.test("encode then decode, little-endian fields, at any offset", () => {
  const buf = new Uint8Array(32).fill(0xee);
  encodeVnetHeader(buf, 3, VNET_F_NEEDS_CSUM, GSO_TCPV6, 0x1234, 1380, 40, 16);
  assert.deepEqual(
    Array.from(buf.subarray(3, 13)),
    [1, 4, 0x34, 0x12, 1380 & 0xff, 1380 >> 8, 40, 0, 16, 0],
  );
  assert.equal(buf[2], 0xee);
  assert.equal(buf[13], 0xee);
  const h = newVnetHeader();
  assert.ok(decodeVnetHeader(buf, 3, h));
  assert.deepEqual(h, {
    flags: 1,
    gsoType: GSO_TCPV6,
    hdrLen: 0x1234,
    gsoSize: 1380,
    csumStart: 40,
    csumOffset: 16,
  });
  for (let round = 0; round < 200; round++) {
    const v = Array.from({ length: 4 }, () => Math.floor(Math.random() * 65536));
    encodeVnetHeader(buf, 0, round & 3, round & 0xff, v[0], v[1], v[2], v[3]);
    assert.ok(decodeVnetHeader(buf, 0, h));
    assert.deepEqual(
      [h.flags, h.gsoType, h.hdrLen, h.gsoSize, h.csumStart, h.csumOffset],
      [round & 3, round & 0xff, ...v],
    );
  }
  zeroVnetHeader(buf, 3);
  assert.deepEqual(Array.from(buf.subarray(3, 13)), new Array(10).fill(0));
});

Deno.test("decode refuses a short buffer and leaves the header alone", () => {
  const h = newVnetHeader();
  h.gsoSize = 7;
  assert.equal(decodeVnetHeader(new Uint8Array(9), 0, h), false);
  assert.equal(decodeVnetHeader(new Uint8Array(12), 3, h), false);
  assert.equal(decodeVnetHeader(new Uint8Array(12), -1, h), false);
  assert.equal(h.gsoSize, 7);
  assert.equal(decodeVnetHeader(new Uint8Array(12), 2, h), true);
});

Deno.test("offloadNames: the TUN_F_* bits by name, in a fixed order", () => {
  assert.deepEqual(offloadNames(0), []);
  assert.deepEqual(
    offloadNames(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6),
    ["csum", "tso4", "tso6", "uso4", "uso6"],
  );
  assert.deepEqual(offloadNames(TUN_F_TSO_ECN | TUN_F_UFO), ["tso-ecn", "ufo"]);
});
