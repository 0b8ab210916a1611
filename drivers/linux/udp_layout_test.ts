import assert from "node:assert/strict";
import { layoutMessages, MSG_IOVLEN, MSG_NAMELEN, NAME_SLOT, writeSockaddr } from "./udp_layout.ts";
import { EndpointTable } from "../shared/endpoint.ts";
import { addressOf, AF_INET, AF_INET6, IOVEC_SIZE, MMSGHDR_SIZE } from "./libc.ts";

const ignore = Deno.build.os !== "linux";

Deno.test("writeSockaddr: sockaddr_in6 on a dual-stack socket, sockaddr_in on an IPv4 one", () => {
  const table = new EndpointTable(16);
  const v4 = table.parse("192.0.2.7:51820");
  const v6 = table.parse("[2001:db8::1]:9");
  const buf = new DataView(new ArrayBuffer(2 * NAME_SLOT));
  writeSockaddr(buf, 0, v4, 4);
  assert.equal(buf.getUint16(0, true), AF_INET);
  assert.equal(buf.getUint16(2, false), 51820);
  assert.equal(buf.getUint32(4, false), 0xc0000207);
  writeSockaddr(buf, NAME_SLOT, v6, 6);
  assert.equal(buf.getUint16(NAME_SLOT, true), AF_INET6);
  assert.equal(buf.getUint16(NAME_SLOT + 2, false), 9);
  assert.equal(buf.getUint32(NAME_SLOT + 8, false), 0x20010db8);
  assert.equal(buf.getUint32(NAME_SLOT + 20, false), 1);
  // An IPv4 peer on a dual-stack socket is an IPv4-mapped IPv6 address.
  writeSockaddr(buf, 0, v4, 6);
  assert.equal(buf.getUint16(0, true), AF_INET6);
  assert.equal(buf.getUint32(16, false), 0xffff);
  assert.equal(buf.getUint32(20, false), 0xc0000207);
});

Deno.test({
  name: "layoutMessages: header i points at sockaddr i, iovec i and data slot i",
  ignore,
  fn: () => {
    const count = 3, slot = 64, nameLen = 28;
    const msgs = new DataView(new ArrayBuffer(count * MMSGHDR_SIZE));
    const iovs = new ArrayBuffer(count * IOVEC_SIZE);
    const names = new ArrayBuffer(count * NAME_SLOT);
    const data = new ArrayBuffer(count * slot);
    layoutMessages(msgs, count, iovs, names, data, slot, nameLen);
    const iov = new DataView(iovs);
    for (let i = 0; i < count; i++) {
      const m = i * MMSGHDR_SIZE;
      assert.equal(msgs.getBigUint64(m, true), addressOf(names) + BigInt(i * NAME_SLOT));
      assert.equal(msgs.getUint32(m + MSG_NAMELEN, true), nameLen);
      assert.equal(msgs.getBigUint64(m + 16, true), addressOf(iovs) + BigInt(i * IOVEC_SIZE));
      assert.equal(msgs.getBigUint64(m + MSG_IOVLEN, true), 1n);
      assert.equal(iov.getBigUint64(i * IOVEC_SIZE, true), addressOf(data) + BigInt(i * slot));
      assert.equal(iov.getBigUint64(i * IOVEC_SIZE + 8, true), BigInt(slot));
    }
  },
});
