/**
 * libc: real calls through FFI (a failing call sets errno, which sysError names), struct sizes
 * seen through the calls that fill them, and every constant against glibc's and Linux's headers,
 * compiled with the C compiler when there is one.
 */
import assert from "node:assert/strict";
import * as L from "./libc.ts";
import { addressOf, errno, libc, sysError } from "./libc.ts";
import { haveCommands } from "../../tests/fixtures/netns.ts";

const linux = Deno.build.os === "linux";
const haveCc = linux && (await haveCommands("cc"));

Deno.test("sysError: errno's name when known, the number otherwise", () => {
  const e = sysError("open /dev/net/tun", L.EACCES);
  assert.equal(e.message, "open /dev/net/tun: EACCES (permission denied)");
  assert.equal(e.errno, 13);
  assert.ok(e instanceof Error);
  assert.equal(sysError("x", L.EAGAIN).message, "x: EAGAIN");
  assert.equal(sysError("x", L.EADDRINUSE).message, "x: EADDRINUSE (address in use)");
  assert.equal(sysError("x", 4095).message, "x: errno 4095");
  assert.equal(sysError("x", 4095).errno, 4095);
  // Every exported errno constant has a name.
  for (const [k, v] of Object.entries(L)) {
    if (/^E[A-Z]+$/.test(k) && typeof v === "number") {
      assert.match(sysError("x", v).message, new RegExp(`^x: ${k}\\b`), k);
    }
  }
});

Deno.test({
  name: "libc: a failing call sets errno, read at once; sysError reads it by default",
  ignore: !linux,
  fn: () => {
    const c = libc();
    assert.equal(libc(), c, "opened once");
    assert.equal(c.close(-1), -1);
    assert.equal(errno(), L.EBADF);
    assert.equal(sysError("close").errno, L.EBADF);
    assert.equal(sysError("close").message, "close: EBADF");
    const path = new TextEncoder().encode("/nonexistent/weft-libc-test\0");
    assert.equal(c.open(path, L.O_RDWR | L.O_CLOEXEC, 0), -1);
    assert.equal(errno(), 2);
    assert.match(sysError("open").message, /ENOENT \(no such file or directory\)/);
    assert.equal(c.socket(12345, L.SOCK_DGRAM, 0), -1);
    assert.equal(errno(), L.EAFNOSUPPORT);
  },
});

Deno.test({
  name: "libc: sockaddr_in and pollfd sizes, as the kernel fills and reads them",
  ignore: !linux,
  fn: () => {
    const c = libc();
    const fd = c.socket(L.AF_INET, L.SOCK_DGRAM | L.SOCK_NONBLOCK | L.SOCK_CLOEXEC, 0);
    assert.ok(fd >= 0, sysError("socket").message);
    try {
      // sockaddr_in: family (host order), port and address (network order), zero padding.
      const sa = new Uint8Array(L.SOCKADDR_IN_SIZE);
      const v = new DataView(sa.buffer);
      v.setUint16(0, L.AF_INET, true);
      sa.set([127, 0, 0, 1], 4);
      assert.equal(c.bind(fd, sa, sa.length), 0, sysError("bind").message);
      const out = new Uint8Array(64);
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, out.length, true);
      assert.equal(c.getsockname(fd, out, len), 0);
      assert.equal(new DataView(len.buffer).getUint32(0, true), L.SOCKADDR_IN_SIZE);
      const port = new DataView(out.buffer).getUint16(2);
      assert.ok(port > 0);
      // Nothing to read yet: a non-blocking recvfrom says EAGAIN.
      const buf = new Uint8Array(16);
      assert.equal(c.recvfrom(fd, buf, buf.length, L.MSG_DONTWAIT, null, null), -1);
      assert.equal(errno(), L.EAGAIN);
      // A datagram to itself; poll over two pollfds finds the second readable.
      const msg = Uint8Array.of(1, 2, 3);
      assert.equal(c.sendto(fd, msg, msg.length, 0, out, L.SOCKADDR_IN_SIZE), 3);
      const pfds = new Uint8Array(2 * L.POLLFD_SIZE);
      const pv = new DataView(pfds.buffer);
      pv.setInt32(0, -1, true); // ignored entry
      pv.setInt32(L.POLLFD_SIZE, fd, true);
      pv.setInt16(L.POLLFD_SIZE + 4, L.POLLIN | L.POLLOUT, true);
      assert.equal(c.poll(pfds, 2n, 0), 1);
      assert.equal(pv.getInt16(6, true), 0);
      assert.equal(pv.getInt16(L.POLLFD_SIZE + 6, true), L.POLLIN | L.POLLOUT);
      assert.equal(c.recvfrom(fd, buf, buf.length, 0, null, null), 3);
      assert.deepEqual(buf.subarray(0, 3), msg);
    } finally {
      c.close(fd);
    }
    // A closed descriptor polls as POLLNVAL.
    const pfd = new Uint8Array(L.POLLFD_SIZE);
    new DataView(pfd.buffer).setInt32(0, fd, true);
    assert.equal(c.poll(pfd, 1n, 0), 1);
    assert.equal(new DataView(pfd.buffer).getInt16(6, true), L.POLLNVAL);
  },
});

Deno.test({
  name: "libc: eventfd counts in 8 bytes; poll_async runs off the JS thread",
  ignore: !linux,
  fn: async () => {
    const c = libc();
    const fd = c.eventfd(0, L.EFD_NONBLOCK | L.EFD_CLOEXEC);
    assert.ok(fd >= 0);
    try {
      const eight = new Uint8Array(8);
      assert.equal(c.read(fd, eight, 8n), -1);
      assert.equal(errno(), L.EAGAIN);
      const pfd = new Uint8Array(L.POLLFD_SIZE);
      new DataView(pfd.buffer).setInt32(0, fd, true);
      new DataView(pfd.buffer).setInt16(4, L.POLLIN, true);
      const waiting = c.poll_async(pfd, 1n, -1);
      new DataView(eight.buffer).setBigUint64(0, 5n, true);
      assert.equal(c.write(fd, eight, 8n), 8);
      assert.equal(await waiting, 1);
      assert.equal(c.read(fd, eight, 8n), 8);
      assert.equal(new DataView(eight.buffer).getBigUint64(0, true), 5n);
    } finally {
      c.close(fd);
    }
  },
});

Deno.test({
  name: "libc: readAt and writeAt move bytes at an address inside a buffer",
  ignore: !linux,
  fn: () => {
    const c = libc();
    const fd = c.eventfd(0, L.EFD_NONBLOCK | L.EFD_CLOEXEC);
    assert.ok(fd >= 0);
    try {
      const buf = new Uint8Array(64);
      const base = addressOf(buf);
      new DataView(buf.buffer).setBigUint64(8, 7n, true);
      assert.equal(c.writeAt(fd, base + 8n, 8n), 8);
      assert.equal(c.readAt(fd, base + 40n, 8n), 8);
      assert.equal(new DataView(buf.buffer).getBigUint64(40, true), 7n);
      assert.ok(buf.subarray(48).every((x) => x === 0));
      assert.equal(c.readAt(fd, base + 40n, 8n), -1);
      assert.equal(errno(), L.EAGAIN);
    } finally {
      c.close(fd);
    }
  },
});

Deno.test("addressOf: a buffer's address; an empty one has none", () => {
  const buf = new Uint8Array(16);
  const a = addressOf(buf);
  assert.equal(typeof a, "bigint");
  assert.ok(a > 0n);
  assert.equal(addressOf(buf.buffer), a);
  assert.throws(() => addressOf(new Uint8Array(0)), /empty buffer/);
});

/** Each exported constant and the C expression that must equal it. */
const C_NAMES: Record<string, string> = {
  EINTR: "EINTR",
  EBADF: "EBADF",
  EAGAIN: "EAGAIN",
  ENOMEM: "ENOMEM",
  EACCES: "EACCES",
  EBUSY: "EBUSY",
  EEXIST: "EEXIST",
  EINVAL: "EINVAL",
  EBADFD: "EBADFD",
  EMSGSIZE: "EMSGSIZE",
  EAFNOSUPPORT: "EAFNOSUPPORT",
  EADDRINUSE: "EADDRINUSE",
  ENETUNREACH: "ENETUNREACH",
  ENOBUFS: "ENOBUFS",
  ECONNREFUSED: "ECONNREFUSED",
  EHOSTUNREACH: "EHOSTUNREACH",
  EPERM: "EPERM",
  EIO: "EIO",
  O_RDWR: "O_RDWR",
  O_NONBLOCK: "O_NONBLOCK",
  O_CLOEXEC: "O_CLOEXEC",
  POLLIN: "POLLIN",
  POLLOUT: "POLLOUT",
  POLLERR: "POLLERR",
  POLLHUP: "POLLHUP",
  POLLNVAL: "POLLNVAL",
  EFD_NONBLOCK: "EFD_NONBLOCK",
  EFD_CLOEXEC: "EFD_CLOEXEC",
  AF_INET: "AF_INET",
  AF_INET6: "AF_INET6",
  CLOCK_REALTIME: "CLOCK_REALTIME",
  CLOCK_MONOTONIC: "CLOCK_MONOTONIC",
  SOCK_DGRAM: "SOCK_DGRAM",
  SOCK_NONBLOCK: "SOCK_NONBLOCK",
  SOCK_CLOEXEC: "SOCK_CLOEXEC",
  SOL_SOCKET: "SOL_SOCKET",
  SO_SNDBUF: "SO_SNDBUF",
  SO_RCVBUF: "SO_RCVBUF",
  SO_SNDBUFFORCE: "SO_SNDBUFFORCE",
  SO_RCVBUFFORCE: "SO_RCVBUFFORCE",
  SO_MARK: "SO_MARK",
  SO_TIMESTAMPNS: "SO_TIMESTAMPNS",
  SCM_TIMESTAMPNS: "SCM_TIMESTAMPNS",
  SOL_IP: "SOL_IP",
  IP_TOS: "IP_TOS",
  IPPROTO_IPV6: "IPPROTO_IPV6",
  IPV6_TCLASS: "IPV6_TCLASS",
  IPV6_V6ONLY: "IPV6_V6ONLY",
  MSG_DONTWAIT: "MSG_DONTWAIT",
  MSG_TRUNC: "MSG_TRUNC",
  MSG_CTRUNC: "MSG_CTRUNC",
  SOL_UDP: "SOL_UDP",
  UDP_SEGMENT: "UDP_SEGMENT",
  UDP_GRO: "UDP_GRO",
  CMSGHDR_SIZE: "sizeof(struct cmsghdr)",
  TUNSETIFF: "TUNSETIFF",
  TUNSETPERSIST: "TUNSETPERSIST",
  TUNGETIFF: "TUNGETIFF",
  IFF_TUN: "IFF_TUN",
  IFF_NO_PI: "IFF_NO_PI",
  IFF_PERSIST: "IFF_PERSIST",
  IFREQ_SIZE: "sizeof(struct ifreq)",
  IFNAMSIZ_MAX: "IFNAMSIZ - 1",
  SOCKADDR_IN6_SIZE: "sizeof(struct sockaddr_in6)",
  SOCKADDR_IN_SIZE: "sizeof(struct sockaddr_in)",
  MMSGHDR_SIZE: "sizeof(struct mmsghdr)",
  IOVEC_SIZE: "sizeof(struct iovec)",
  POLLFD_SIZE: "sizeof(struct pollfd)",
};

Deno.test({
  name: "libc: every constant equals the system headers' value (compiled with cc)",
  ignore: !haveCc,
  fn: async () => {
    // Every exported number is checked: a new constant needs its C name here.
    const exported = Object.entries(L).filter(([, v]) => typeof v === "number").map(([k]) => k);
    assert.deepEqual(exported.sort(), Object.keys(C_NAMES).sort());
    const dir = await Deno.makeTempDir({ prefix: "weft-libc-" });
    try {
      const lines = Object.entries(C_NAMES).map(([k, expr]) =>
        `  printf("${k} %lld\\n", (long long)(${expr}));`
      );
      await Deno.writeTextFile(
        `${dir}/c.c`,
        [
          "#define _GNU_SOURCE",
          "#include <stdio.h>",
          "#include <errno.h>",
          "#include <fcntl.h>",
          "#include <poll.h>",
          "#include <time.h>",
          "#include <sys/eventfd.h>",
          "#include <sys/socket.h>",
          "#include <sys/uio.h>",
          "#include <netinet/in.h>",
          "#include <netinet/udp.h>",
          "#include <net/if.h>",
          "#include <sys/ioctl.h>",
          "#include <linux/if_tun.h>",
          "int main(void) {",
          ...lines,
          "  return 0;",
          "}",
        ].join("\n"),
      );
      const cc = await new Deno.Command("cc", {
        args: ["-o", `${dir}/c`, `${dir}/c.c`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
      const run = await new Deno.Command(`${dir}/c`, { stdout: "piped" }).output();
      assert.ok(run.success);
      const fromC = Object.fromEntries(
        new TextDecoder().decode(run.stdout).trim().split("\n").map((l) => {
          const [k, v] = l.split(" ");
          return [k, Number(v)];
        }),
      );
      const ours = Object.fromEntries(Object.keys(C_NAMES).map((k) => [k, (L as never)[k]]));
      assert.deepEqual(ours, fromC);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
