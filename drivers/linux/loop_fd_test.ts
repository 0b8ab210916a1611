import assert from "node:assert/strict";
import { eventLoopEpollFd } from "./loop_fd.ts";
import { AF_INET, libc, POLLIN, SOCK_CLOEXEC, SOCK_DGRAM } from "./libc.ts";

const linux = Deno.build.os === "linux";

Deno.test({
  name: "eventLoopEpollFd: the event loop's epoll, readable when a Deno socket gets data",
  ignore: !linux,
  fn: async () => {
    const ep = eventLoopEpollFd();
    assert.notEqual(ep, null);
    assert.equal(Deno.readLinkSync(`/proc/self/fd/${ep}`), "anon_inode:[eventpoll]");
    assert.equal(eventLoopEpollFd(), ep, "found once, then remembered");
    const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const received = sock.receive();
      // Sent and looked at synchronously: the event loop has had no turn to take the event.
      const c = libc();
      const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      const sa = new Uint8Array(16);
      new DataView(sa.buffer).setUint16(0, AF_INET, true);
      new DataView(sa.buffer).setUint16(2, (sock.addr as Deno.NetAddr).port, false);
      sa.set([127, 0, 0, 1], 4);
      assert.equal(c.sendto(fd, Uint8Array.of(5), 1, 0, sa, 16), 1);
      c.close(fd);
      const pfd = new Uint8Array(8);
      const v = new DataView(pfd.buffer);
      v.setInt32(0, ep!, true);
      v.setInt16(4, POLLIN, true);
      assert.equal(c.poll(pfd, 1n, 0), 1);
      assert.ok(v.getInt16(6, true) & POLLIN);
      assert.deepEqual([...(await received)[0]], [5]);
    } finally {
      sock.close();
    }
  },
});
