/**
 * Packets captured from Linux 6.x loopback (AF_PACKET on `lo` inside a scratch network namespace)
 * or a veth pair between two namespaces, while a script sent ICMP echoes through ping sockets and
 * UDP through ordinary sockets. Every checksum in them was computed by the kernel, so they are an
 * outside reference for our code.
 * @module
 */

/** Hex text to bytes. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** 127.0.0.1 -> 127.0.0.1 ICMP echo request, id 0xe783 seq 1, data "weft-ping-fixture". */
export const ICMP4_REQUEST: Uint8Array = hex(
  "4500002d3095400040010c397f0000017f00000108007b44e7830001776566742d70696e672d66697874757265",
);
/** The kernel's echo reply to it. */
export const ICMP4_REPLY: Uint8Array = hex(
  "4500002d3096000040014c387f0000017f00000100008344e7830001776566742d70696e672d66697874757265",
);
/** ::1 -> ::1 ICMPv6 echo request, id 0xe784 seq 1, data "weft-ping6". */
export const ICMP6_REQUEST: Uint8Array = hex(
  "600c823300123a400000000000000000000000000000000100000000000000000000000000000001" +
    "8000bc3ce7840001776566742d70696e6736",
);
/** The kernel's echo reply to it. */
export const ICMP6_REPLY: Uint8Array = hex(
  "6003622f00123a400000000000000000000000000000000100000000000000000000000000000001" +
    "8100bb3ce7840001776566742d70696e6736",
);
/**
 * 127.0.0.1:40000 -> 127.0.0.1:51820 UDP "hello weft" as sent on `lo`, which offloads checksums:
 * the field holds only the folded pseudo-header sum (CHECKSUM_PARTIAL) for "hardware" to finish.
 */
export const UDP4_PARTIAL: Uint8Array = hex(
  "45000026a13f400040119b857f0000017f0000019c40ca6c0012fe2568656c6c6f2077656674",
);
/** [::1]:40001 -> [::1]:51821 UDP "hello weft v6" on `lo`, pseudo-header sum only as above. */
export const UDP6_PARTIAL: Uint8Array = hex(
  "600e5ddb001511400000000000000000000000000000000100000000000000000000000000000001" +
    "9c41ca6d0015002868656c6c6f2077656674207636",
);
/**
 * 192.0.2.1:40000 -> 192.0.2.2:51820 UDP "hello weft", captured leaving a veth with TX checksum
 * offload turned off (ETHTOOL_STXCSUM), so the kernel computed the full checksum.
 */
export const UDP4: Uint8Array = hex(
  "45000026d5d540004011e0edc0000201c00002029c40ca6c0012f34c68656c6c6f2077656674",
);
/** [fd00::1]:40001 -> [fd00::2]:51821 UDP "hello weft v6", full checksum as above. */
export const UDP6: Uint8Array = hex(
  "600b44bb00151140fd000000000000000000000000000001fd000000000000000000000000000002" +
    "9c41ca6d001526ce68656c6c6f2077656674207636",
);
/**
 * An MLDv2 report (ICMPv6 type 143) from fe80::24f4:a6ff:fe53:dab7 to ff02::16 behind a
 * hop-by-hop header (router alert, PadN): a real packet with an extension header.
 */
export const MLD_WITH_HOP_BY_HOP: Uint8Array = hex(
  "6000000000380001fe8000000000000024f4a6fffe53dab7ff020000000000000000000000000016" +
    "3a00050200000100" +
    "8f00eee30000000204000000ff0200000000000000000001ff53dab704000000ff0200000000000000000001ff000001",
);
/** ICMPv4 port unreachable (type 3 code 3) quoting UDP4_PARTIAL. */
export const ICMP4_UNREACHABLE: Uint8Array = hex(
  "45c000423097000040014b627f0000017f0000010303764b00000000" +
    "45000026a13f400040119b857f0000017f0000019c40ca6c0012fe2568656c6c6f2077656674",
);
/** ICMPv6 port unreachable (type 1 code 4) quoting UDP6_PARTIAL. */
export const ICMP6_UNREACHABLE: Uint8Array = hex(
  "600234ca00453a400000000000000000000000000000000100000000000000000000000000000001" +
    "0104500b00000000" +
    "600e5ddb001511400000000000000000000000000000000100000000000000000000000000000001" +
    "9c41ca6d0015002868656c6c6f2077656674207636",
);
