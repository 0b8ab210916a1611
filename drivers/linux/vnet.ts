/**
 * The virtio-net header a TUN opened with `IFF_VNET_HDR` puts before every packet it reads and
 * expects before every packet written to it (`struct virtio_net_hdr`, 10 bytes, in the host's
 * byte order, which is little-endian on every platform weft's Linux drivers run on):
 *
 * | offset | size | field       | meaning                                                       |
 * | ------ | ---- | ----------- | ------------------------------------------------------------- |
 * | 0      | 1    | flags       | NEEDS_CSUM, DATA_VALID                                        |
 * | 1      | 1    | gso_type    | NONE, TCPV4, UDP, TCPV6, UDP_L4; ECN bit 0x80                 |
 * | 2      | 2    | hdr_len     | bytes of headers (a hint; not to be trusted on read)          |
 * | 4      | 2    | gso_size    | payload bytes per segment                                     |
 * | 6      | 2    | csum_start  | where checksumming starts (the transport header)              |
 * | 8      | 2    | csum_offset | where the checksum goes, from csum_start (TCP 16, UDP 6)      |
 *
 * Also the TUN ioctls and `TUN_F_*` offload flags that go with it.
 * @module
 */

/** The size of `struct virtio_net_hdr`. */
export const VNET_HDR_LEN = 10;

/** flags: the checksum from csum_start to the end is still to be computed (partial). */
export const VNET_F_NEEDS_CSUM = 1;
/** flags: the checksum was checked and is valid. */
export const VNET_F_DATA_VALID = 2;

/** gso_type: not a GSO packet. */
export const GSO_NONE = 0;
/** gso_type: TCP over IPv4, to be cut into gso_size segments (TSO). */
export const GSO_TCPV4 = 1;
/** gso_type: UDP fragmentation offload (UFO); never asked for, refused when met. */
export const GSO_UDP = 3;
/** gso_type: TCP over IPv6 (TSO). */
export const GSO_TCPV6 = 4;
/** gso_type: UDP segmentation (USO): each segment is its own UDP datagram. */
export const GSO_UDP_L4 = 5;
/** gso_type bit: the TCP stream uses ECN (CWR set on the first segment only). */
export const GSO_ECN = 0x80;

/** TUNSETIFF flag: packets carry a virtio-net header. */
export const IFF_VNET_HDR = 0x4000;
/** ioctl: set the offloads the reader can take (`_IOW('T', 208, unsigned int)`), by value. */
export const TUNSETOFFLOAD = 0x400454d0;
/** ioctl: set the virtio-net header's size (`_IOW('T', 216, int)`), through a pointer. */
export const TUNSETVNETHDRSZ = 0x400454d8;
/** ioctl: read the virtio-net header's size (`_IOR('T', 215, int)`). */
export const TUNGETVNETHDRSZ = 0x800454d7;

/** TUNSETOFFLOAD: the reader takes partial checksums. */
export const TUN_F_CSUM = 0x01;
/** TUNSETOFFLOAD: the reader takes TCP over IPv4 GSO packets. */
export const TUN_F_TSO4 = 0x02;
/** TUNSETOFFLOAD: the reader takes TCP over IPv6 GSO packets. */
export const TUN_F_TSO6 = 0x04;
/** TUNSETOFFLOAD: the reader takes TSO packets with ECN. */
export const TUN_F_TSO_ECN = 0x08;
/** TUNSETOFFLOAD: UDP fragmentation offload. */
export const TUN_F_UFO = 0x10;
/** TUNSETOFFLOAD: the reader takes UDP over IPv4 GSO packets (Linux 6.2+). */
export const TUN_F_USO4 = 0x20;
/** TUNSETOFFLOAD: the reader takes UDP over IPv6 GSO packets (Linux 6.2+). */
export const TUN_F_USO6 = 0x40;

/** The names of the TUN_F_* bits in `flags`, for status and logs. */
export function offloadNames(flags: number): string[] {
  const names: [number, string][] = [
    [TUN_F_CSUM, "csum"],
    [TUN_F_TSO4, "tso4"],
    [TUN_F_TSO6, "tso6"],
    [TUN_F_TSO_ECN, "tso-ecn"],
    [TUN_F_UFO, "ufo"],
    [TUN_F_USO4, "uso4"],
    [TUN_F_USO6, "uso6"],
  ];
  return names.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
}

/** A decoded virtio-net header; one object is reused for every packet. */
export interface VnetHeader {
  /** VNET_F_* bits. */
  flags: number;
  /** GSO_* (with GSO_ECN possibly set). */
  gsoType: number;
  /** hdr_len. */
  hdrLen: number;
  /** gso_size. */
  gsoSize: number;
  /** csum_start. */
  csumStart: number;
  /** csum_offset. */
  csumOffset: number;
}

/** A zeroed header, to decode into. */
export function newVnetHeader(): VnetHeader {
  return { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

/**
 * Decodes the header at `offset` of `buf` into `into`. False (and `into` untouched) when fewer
 * than {@link VNET_HDR_LEN} bytes are there.
 */
export function decodeVnetHeader(buf: Uint8Array, offset: number, into: VnetHeader): boolean {
  if (offset < 0 || offset + VNET_HDR_LEN > buf.length) return false;
  into.flags = buf[offset];
  into.gsoType = buf[offset + 1];
  into.hdrLen = buf[offset + 2] | (buf[offset + 3] << 8);
  into.gsoSize = buf[offset + 4] | (buf[offset + 5] << 8);
  into.csumStart = buf[offset + 6] | (buf[offset + 7] << 8);
  into.csumOffset = buf[offset + 8] | (buf[offset + 9] << 8);
  return true;
}

/** Writes a header at `offset` of `buf` (which must have room for it); fields are cut to size. */
export function encodeVnetHeader(
  buf: Uint8Array,
  offset: number,
  flags: number,
  gsoType: number,
  hdrLen: number,
  gsoSize: number,
  csumStart: number,
  csumOffset: number,
): void {
  buf[offset] = flags;
  buf[offset + 1] = gsoType;
  buf[offset + 2] = hdrLen;
  buf[offset + 3] = hdrLen >>> 8;
  buf[offset + 4] = gsoSize;
  buf[offset + 5] = gsoSize >>> 8;
  buf[offset + 6] = csumStart;
  buf[offset + 7] = csumStart >>> 8;
  buf[offset + 8] = csumOffset;
  buf[offset + 9] = csumOffset >>> 8;
}

/** Writes an all-zero header (no GSO, no checksum work) at `offset`. */
export function zeroVnetHeader(buf: Uint8Array, offset: number): void {
  buf.fill(0, offset, offset + VNET_HDR_LEN);
}
