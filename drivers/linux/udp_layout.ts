/**
 * The `struct mmsghdr` arrays the Linux UDP transport hands recvmmsg and sendmmsg (drivers/linux/
 * udp.ts): field offsets, the sockaddr slots, and the layout both sides fill in once, so that
 * neither builds a header per datagram.
 * @module
 */

import type { InternedEndpoint } from "../shared/endpoint.ts";
import { addressOf, AF_INET, AF_INET6, IOVEC_SIZE, MMSGHDR_SIZE } from "./libc.ts";

/** Sockaddr slots are spaced to keep every one 8-byte aligned. */
export const NAME_SLOT = 32;

// Field offsets in `struct mmsghdr` (a msghdr, then msg_len) on 64-bit Linux.
/** msg_namelen. */
export const MSG_NAMELEN = 8;
/** msg_iovlen. */
export const MSG_IOVLEN = 24;
/** msg_control. */
export const MSG_CONTROL = 32;
/** msg_controllen. */
export const MSG_CONTROLLEN = 40;
/** msg_flags. */
export const MSG_FLAGS = 48;
/** msg_len: the bytes received or sent. */
export const MSG_LEN = 56;

/** Errors a receive or send may report for one datagram without the socket being broken. */
export const TRANSIENT = new Set([111, 113, 101, 104, 105, 12, 90, 22, 99, 1, 13]);

/**
 * Points mmsghdr i at iovec i, sockaddr i (of `nameLen` bytes) and data slot i, for i < count.
 * The buffers must come from ArrayBuffers (never on-heap typed arrays) so their addresses hold.
 */
export function layoutMessages(
  msgs: DataView,
  count: number,
  iovs: ArrayBuffer,
  names: ArrayBuffer,
  data: ArrayBufferLike,
  slot: number,
  nameLen: number,
): void {
  const iovBase = addressOf(iovs);
  const nameBase = addressOf(names);
  const dataBase = addressOf(data as ArrayBuffer);
  const iovView = new DataView(iovs);
  for (let i = 0; i < count; i++) {
    const m = i * MMSGHDR_SIZE;
    msgs.setBigUint64(m, nameBase + BigInt(i * NAME_SLOT), true); // msg_name
    msgs.setUint32(m + MSG_NAMELEN, nameLen, true); // msg_namelen
    msgs.setBigUint64(m + 16, iovBase + BigInt(i * IOVEC_SIZE), true); // msg_iov
    msgs.setBigUint64(m + MSG_IOVLEN, 1n, true); // msg_iovlen
    iovView.setBigUint64(i * IOVEC_SIZE, dataBase + BigInt(i * slot), true); // iov_base
    iovView.setBigUint64(i * IOVEC_SIZE + 8, BigInt(slot), true); // iov_len
  }
}

/** Writes `ep` as a sockaddr at `a` in `v`: sockaddr_in6 on a dual-stack socket, else _in. */
export function writeSockaddr(v: DataView, a: number, ep: InternedEndpoint, family: 4 | 6): void {
  const w = ep.words;
  if (family === 6) {
    v.setUint16(a, AF_INET6, true);
    v.setUint16(a + 2, ep.port, false);
    v.setUint32(a + 4, 0, true);
    v.setUint32(a + 8, w[0], false);
    v.setUint32(a + 12, w[1], false);
    v.setUint32(a + 16, w[2], false);
    v.setUint32(a + 20, w[3], false);
    v.setUint32(a + 24, 0, true);
  } else {
    v.setUint16(a, AF_INET, true);
    v.setUint16(a + 2, ep.port, false);
    v.setUint32(a + 4, w[3], false);
    v.setUint32(a + 8, 0, true);
    v.setUint32(a + 12, 0, true);
  }
}
