import assert from "node:assert/strict";
import type { PacketSink } from "../lib/io/driver.ts";
import { buildIcmpEcho, parseIcmpPacket } from "../lib/net/icmp.ts";
import { newIpInfo, parseAddress } from "../lib/net/ip.ts";
import { buildUdpPacket } from "../lib/net/udp.ts";
import { type Datagram, UserspaceStack } from "./userspace.ts";
import {
  ICMP4_REPLY,
  ICMP4_REQUEST,
  ICMP6_REPLY,
  ICMP6_REQUEST,
} from "../tests/fixtures/net_fixtures.ts";
import { ipv4HeaderChecksum } from "../lib/net/checksum.ts";

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** A sink that records packets (copied) and flushes. */
class Recorder implements PacketSink {
  packets: Uint8Array[] = [];
  flushes = 0;
  packet(data: Uint8Array): void {
    this.packets.push(data.slice());
  }
  flush(): void {
    this.flushes++;
  }
}

/** Two stacks wired back to back, like two peers with a perfect tunnel between them. */
function pair(pad = false) {
  const a = new UserspaceStack({ ipv4: "10.9.0.1/24", ipv6: "fd00:9::1/64", name: "a" });
  const b = new UserspaceStack({ ipv4: "10.9.0.2", ipv6: "fd00:9::2" });
  const wire = (to: UserspaceStack): PacketSink => ({
    packet(data) {
      if (!pad) return to.write(data);
      // WireGuard pads plaintext to a multiple of 16 bytes; the IP length must win.
      const padded = new Uint8Array(Math.ceil(data.length / 16) * 16);
      padded.set(data);
      to.write(padded);
    },
    flush() {},
  });
  a.start(wire(b));
  b.start(wire(a));
  return { a, b, close: () => Promise.all([a.close(), b.close()]) };
}

Deno.test("userspace: two stacks ping each other over IPv4 and IPv6", async () => {
  const { a, b, close } = pair();
  try {
    for (const target of ["10.9.0.2", "fd00:9::2"]) {
      const rtt = await a.ping(target, { timeoutMs: 1000 });
      assert.equal(typeof rtt, "number", target);
      assert.ok(rtt! >= 0 && rtt! < 1000);
    }
    assert.notEqual(await b.ping("10.9.0.1", { size: 0 }), null);
    assert.notEqual(await b.ping("fd00:9::1", { size: 1372 }), null, "largest that fits 1420");
    assert.equal(b.stats.echoRequests, 2);
    assert.equal(b.stats.echoReplies, 2);
    assert.equal(a.stats.pingsSent, 2);
    assert.equal(a.stats.pingReplies, 2);
    assert.equal(a.stats.echoReplies, 2);
    assert.equal(a.stats.txPackets, 4, "2 requests + 2 replies");
    assert.equal(a.stats.rxPackets, 4);
    assert.equal(Object.values(a.stats.drops).reduce((x, y) => x + y), 0);
    assert.equal(a.ipv4, "10.9.0.1");
    assert.equal(a.ipv6, "fd00:9::1");
  } finally {
    await close();
  }
});

Deno.test("userspace: concurrent pings are matched by sequence number", async () => {
  const { a, close } = pair(true);
  try {
    const targets = Array.from({ length: 40 }, (_, i) => (i % 2 ? "10.9.0.2" : "fd00:9::2"));
    const rtts = await Promise.all(targets.map((t, i) => a.ping(t, { size: i * 7 })));
    assert.ok(rtts.every((r) => typeof r === "number"), JSON.stringify(rtts));
    assert.equal(a.stats.pingReplies, 40);
    assert.equal(a.stats.drops["stray-reply"], 0);
  } finally {
    await close();
  }
});

Deno.test("userspace: replies go out after write returns, then flush", async () => {
  const sink = new Recorder();
  const b = new UserspaceStack({ ipv4: "10.9.0.2" });
  b.start(sink);
  try {
    const request = buildIcmpEcho(
      parseAddress("10.9.0.1")!,
      parseAddress("10.9.0.2")!,
      true,
      7,
      9,
      text("abc"),
    );
    b.write(request);
    assert.equal(sink.packets.length, 0, "not re-entered during write");
    request.fill(0); // the caller may reuse its buffer once write returns
    await Promise.resolve();
    assert.equal(sink.packets.length, 1);
    assert.equal(sink.flushes, 1);
    const reply = parseIcmpPacket(sink.packets[0])!;
    assert.equal(reply.request, false);
    assert.equal(reply.id, 7);
    assert.equal(reply.seq, 9);
    assert.equal(str(sink.packets[0].subarray(reply.dataOffset)), "abc");
    // Several packets written in one batch leave in one batch with one flush.
    for (let i = 0; i < 5; i++) {
      b.write(
        buildIcmpEcho(parseAddress("10.9.0.1")!, parseAddress("10.9.0.2")!, true, 7, i, text("x")),
      );
    }
    await Promise.resolve();
    assert.equal(sink.packets.length, 6);
    assert.equal(sink.flushes, 2);
  } finally {
    await b.close();
  }
});

Deno.test("userspace: echo replies match the Linux kernel's", async () => {
  // The captures are ::1/127.0.0.1 talking to themselves, which this stack would loop back, so the
  // requests are re-addressed to x.2; ICMPv4 checksums do not cover addresses, ICMPv6 ones do.
  const request4 = ICMP4_REQUEST.slice();
  request4[19] = 2;
  request4[10] = request4[11] = 0;
  const ck = ipv4HeaderChecksum(request4);
  request4[10] = ck >> 8;
  request4[11] = ck & 0xff;
  const request6 = ICMP6_REQUEST.slice();
  request6[39] = 2;
  // The pseudo-header sum grew by 1, so the stored checksum shrinks by 1.
  request6[43] -= 1;
  for (
    const [request, reply, opts] of [
      [request4, ICMP4_REPLY, { ipv4: "127.0.0.2" }],
      [request6, ICMP6_REPLY, { ipv6: "::2" }],
    ] as const
  ) {
    const sink = new Recorder();
    const s = new UserspaceStack(opts);
    s.start(sink);
    s.write(request);
    await Promise.resolve();
    await s.close();
    assert.equal(s.stats.echoReplies, 1, "the edited request is valid");
    assert.equal(sink.packets.length, 1);
    const got = sink.packets[0];
    assert.equal(got.length, reply.length);
    const hl = request[0] >> 4 === 4 ? 20 : 40;
    // ICMP type, code, id, seq and data as the kernel's (checksum aside for v6: addresses differ).
    assert.deepEqual(got.subarray(hl, hl + 2), reply.subarray(hl, hl + 2));
    assert.deepEqual(got.subarray(hl + 4), reply.subarray(hl + 4));
    if (hl === 20) assert.deepEqual(got.subarray(hl, hl + 4), reply.subarray(hl, hl + 4));
    assert.ok(parseIcmpPacket(got), "and its checksums verify");
    // Addressed back to the requester, from us.
    const len = hl === 20 ? 4 : 16;
    const srcAt = hl === 20 ? 12 : 8;
    assert.deepEqual(
      got.subarray(srcAt, srcAt + len),
      request.subarray(srcAt + len, srcAt + 2 * len),
    );
    assert.deepEqual(
      got.subarray(srcAt + len, srcAt + 2 * len),
      request.subarray(srcAt, srcAt + len),
    );
  }
});

Deno.test("userspace: a datagram into the tunnel is not summed over IPv4 (the AEAD covers it), is over IPv6", async () => {
  const sent = new Recorder();
  const a = new UserspaceStack({ ipv4: "10.9.0.1", ipv6: "fd00:9::1" });
  const b = new UserspaceStack({ ipv4: "10.9.0.2", ipv6: "fd00:9::2" });
  a.start(sent);
  const got: string[] = [];
  b.listen(7000, (data) => got.push(str(data)));
  try {
    const part = new Uint8Array(1200).fill(0x5a);
    a.send({ address: "10.9.0.2", port: 7000 }, part, 51821);
    a.send({ address: "fd00:9::2", port: 7000 }, part, 51821);
    await Promise.resolve();
    assert.equal(sent.packets.length, 2);
    const [v4, v6] = sent.packets;
    // The UDP checksum field: bytes 6-7 of the UDP header (after 20 bytes of IPv4, 40 of IPv6).
    assert.deepEqual([v4[26], v4[27]], [0, 0], "IPv4: no checksum (zero: none, RFC 768)");
    assert.notDeepEqual([v6[46], v6[47]], [0, 0], "IPv6: a zero checksum is invalid there");
    for (const p of sent.packets) b.write(p);
    assert.deepEqual(got, [str(part), str(part)], "both are taken by a receiving stack");
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("userspace: datagrams both ways over IPv4 and IPv6", async () => {
  const { a, b, close } = pair(true);
  try {
    for (const [addrA, addrB] of [["10.9.0.1", "10.9.0.2"], ["fd00:9::1", "fd00:9::2"]]) {
      const got: Array<[string, string, number]> = [];
      const server = b.listen(7000, (data, from) => {
        got.push([str(data), from.address, from.port]);
        server.send(from, text(`echo ${str(data)}`));
      });
      const replies: Array<[string, string, number]> = [];
      const client = a.listen(
        0,
        (data, from) => replies.push([str(data), from.address, from.port]),
      );
      assert.ok(client.port >= 49152, "port 0 picks an ephemeral port");
      client.send({ address: addrB, port: 7000 }, text("hi"));
      a.send({ address: addrB, port: 7000 }, text("there"), client.port);
      await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(got, [["hi", addrA, client.port], ["there", addrA, client.port]]);
      assert.deepEqual(replies, [["echo hi", addrB, 7000], ["echo there", addrB, 7000]]);
      server.close();
      client.close();
      server.close(); // idempotent
    }
    assert.equal(b.stats.udpDelivered, 4);
    assert.equal(a.stats.udpSent, 4);
  } finally {
    await close();
  }
});

Deno.test("userspace: listenIterator yields datagrams until closed", async () => {
  const { a, b, close } = pair();
  try {
    const it = b.listenIterator(9000);
    for (let i = 0; i < 3; i++) a.send({ address: "fd00:9::2", port: 9000 }, text(`m${i}`), 1234);
    const seen: Datagram[] = [];
    setTimeout(() => a.send({ address: "10.9.0.2", port: 9000 }, text("late"), 1235), 5);
    for await (const d of it) {
      seen.push(d);
      if (seen.length === 4) break; // `break` calls return(), which unbinds
    }
    assert.deepEqual(seen.map((d) => str(d.data)), ["m0", "m1", "m2", "late"]);
    assert.deepEqual(seen[3].from, { address: "10.9.0.1", port: 1235 });
    a.send({ address: "10.9.0.2", port: 9000 }, text("after"));
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(b.stats.drops["no-listener"], 1);
    // The port is free again, and a pending next() ends when the iterator closes.
    const again = b.listenIterator(9000);
    const pending = again.next();
    again.close();
    assert.deepEqual(await pending, { value: undefined, done: true });
  } finally {
    await close();
  }
});

Deno.test("userspace: a bounded iterator queue drops the excess", async () => {
  const b = new UserspaceStack({ ipv4: "10.9.0.2" });
  b.start(new Recorder());
  try {
    const it = b.listenIterator(53, 2);
    for (let i = 0; i < 5; i++) {
      b.write(
        buildUdpPacket(parseAddress("10.9.0.1")!, parseAddress("10.9.0.2")!, 1, 53, text(`${i}`)),
      );
    }
    assert.equal(b.stats.drops["queue-full"], 3);
    assert.equal(str((await it.next()).value!.data), "0");
    assert.equal(str((await it.next()).value!.data), "1");
  } finally {
    await b.close();
  }
});

Deno.test("userspace: packets for other addresses are dropped and counted", async () => {
  const { a, b, close } = pair();
  try {
    assert.equal(await a.ping("10.9.0.99", { timeoutMs: 50 }), null);
    assert.equal(await a.ping("fd00:9::99", { timeoutMs: 50 }), null);
    assert.equal(b.stats.drops["not-for-us"], 2);
    assert.equal(b.stats.echoReplies, 0);
    a.send({ address: "10.9.0.77", port: 1 }, text("x"));
    await Promise.resolve();
    assert.equal(b.stats.drops["not-for-us"], 3);
  } finally {
    await close();
  }
});

Deno.test("userspace: malformed, unsupported and unheard packets are counted", async () => {
  const sink = new Recorder();
  const b = new UserspaceStack({ ipv4: "10.9.0.2", ipv6: "fd00:9::2" });
  b.start(sink);
  try {
    const from = parseAddress("10.9.0.1")!;
    const us = parseAddress("10.9.0.2")!;
    const good = buildUdpPacket(from, us, 1, 2, text("payload"));
    b.write(new Uint8Array(0));
    b.write(new Uint8Array(100).fill(0xff).fill(0x45, 0, 1)); // total length past the end
    b.write(good.subarray(0, good.length - 1)); // truncated
    const corrupt = good.slice();
    corrupt[corrupt.length - 1] ^= 1; // UDP checksum no longer matches
    b.write(corrupt);
    assert.equal(b.stats.drops.malformed, 4);
    b.write(good);
    assert.equal(b.stats.drops["no-listener"], 1);
    // TCP for us: not handled by this stack.
    const tcp = good.slice();
    tcp[9] = 6;
    tcp[10] = tcp[11] = 0;
    const ck = ipv4HeaderChecksum(tcp);
    tcp[10] = ck >> 8;
    tcp[11] = ck & 0xff;
    b.write(tcp);
    assert.equal(b.stats.drops.unsupported, 1);
    // A fragment (more-fragments flag set): the stack does not reassemble.
    const frag = good.slice();
    frag[6] = 0x20;
    frag[10] = frag[11] = 0;
    const fck = ipv4HeaderChecksum(frag);
    frag[10] = fck >> 8;
    frag[11] = fck & 0xff;
    b.write(frag);
    assert.equal(b.stats.drops.fragment, 1);
    // An echo reply nobody asked for.
    b.write(buildIcmpEcho(from, us, false, 1, 1, text("?")));
    assert.equal(b.stats.drops["stray-reply"], 1);
    await Promise.resolve();
    assert.equal(sink.packets.length, 0, "nothing answered");
    assert.equal(b.stats.rxPackets, 8);
  } finally {
    await b.close();
  }
  b.write(new Uint8Array(40));
  assert.equal(b.stats.drops.closed, 1);
});

Deno.test("userspace: ping timeout resolves null", async () => {
  const lost = new UserspaceStack({ ipv4: "10.9.0.1" });
  const sink = new Recorder();
  lost.start(sink);
  try {
    let settled = false;
    const p = lost.ping("10.9.0.2", { timeoutMs: 60 });
    p.finally(() => settled = true);
    // The request is out and the ping waits for its reply (it does not give up at once)...
    for (let i = 0; i < 5; i++) await Promise.resolve();
    assert.equal(sink.packets.length, 1, "the echo request went out");
    assert.equal(settled, false, "still waiting for a reply");
    // ...until the timeout, which gives null and forgets the ping.
    assert.equal(await p, null);
    assert.equal(lost.stats.pingsSent, 1);
    assert.equal(lost.stats.txPackets, 1);
    assert.equal(lost.stats.pingReplies, 0);
    // The reply, arriving after the timeout, matches nothing any more.
    const ip = newIpInfo();
    const req = parseIcmpPacket(sink.packets[0], ip)!;
    const data = sink.packets[0].slice(req.dataOffset, req.dataOffset + req.dataLength);
    lost.write(
      buildIcmpEcho(
        parseAddress("10.9.0.2")!,
        parseAddress("10.9.0.1")!,
        false,
        req.id,
        req.seq,
        data,
      ),
    );
    assert.equal(lost.stats.drops["stray-reply"], 1, "a late reply is a stray");
    assert.equal(lost.stats.pingReplies, 0);
  } finally {
    await lost.close();
  }
});

Deno.test("userspace: close resolves pending pings with null", async () => {
  const s = new UserspaceStack({ ipv4: "10.9.0.1" });
  s.start({ packet() {}, flush() {} });
  const p = s.ping("10.9.0.2", { timeoutMs: 10_000 });
  await s.close();
  assert.equal(await p, null);
  await s.close();
  await assert.rejects(s.ping("10.9.0.2"), /after close/);
  assert.throws(() => s.send({ address: "10.9.0.2", port: 1 }, text("x")), /after close/);
});

Deno.test("userspace: oversized sends and bad arguments throw clearly", async () => {
  const s = new UserspaceStack({ ipv4: "10.9.0.1", mtu: 1420 });
  const sink = new Recorder();
  s.start(sink);
  try {
    s.send({ address: "10.9.0.2", port: 5 }, new Uint8Array(1392)); // 20 + 8 + 1392 = 1420
    assert.throws(
      () => s.send({ address: "10.9.0.2", port: 5 }, new Uint8Array(1393)),
      (e: Error) =>
        e instanceof RangeError &&
        /1421-byte IPv4 packet, over the MTU of 1420 \(at most 1392 bytes fit\)/.test(e.message),
    );
    await assert.rejects(s.ping("10.9.0.2", { size: 1393 }), /over the MTU of 1420/);
    assert.throws(() => s.send({ address: "fd00::2", port: 5 }, text("x")), /has no IPv6 address/);
    await assert.rejects(s.ping("fd00::2"), /has no IPv6 address/);
    assert.throws(
      () => s.send({ address: "10.9.0.256", port: 5 }, text("x")),
      /invalid destination/,
    );
    assert.throws(() => s.send({ address: "10.9.0.2", port: 0 }, text("x")), /destination port 0/);
    assert.throws(() => s.send({ address: "10.9.0.2", port: 5 }, text("x"), 70000), /source port/);
    await assert.rejects(s.ping("nonsense"), /invalid address/);
    s.listen(53, () => {});
    assert.throws(() => s.listen(53, () => {}), /port 53 is in use/);
    assert.throws(() => s.listen(-1, () => {}), /local port/);
    assert.throws(() => s.start(sink), /twice/);
    await Promise.resolve();
    assert.equal(sink.packets.length, 1, "only the fitting datagram left");
    assert.equal(sink.packets[0].length, 1420);
  } finally {
    await s.close();
  }
  assert.throws(() => new UserspaceStack({}), /needs an IPv4 or IPv6 address/);
  assert.throws(() => new UserspaceStack({ ipv4: "fd00::1" }), /invalid IPv4 address/);
  assert.throws(() => new UserspaceStack({ ipv4: "10.0.0.1", mtu: 100 }), /MTU 100/);
  assert.throws(() => new UserspaceStack({ ipv6: "fd00::1", mtu: 1000 }), /MTU 1000/);
  const v6 = new UserspaceStack({ ipv6: "fd00::1" });
  assert.throws(
    () => v6.send({ address: "fd00::2", port: 5 }, new Uint8Array(1373)),
    /1421-byte IPv6/,
  );
  await v6.close();
});

Deno.test("userspace: traffic to our own address loops back without the tunnel", async () => {
  const sink = new Recorder();
  const s = new UserspaceStack({ ipv4: "10.9.0.1", ipv6: "fd00::1" });
  s.start(sink);
  try {
    assert.notEqual(await s.ping("10.9.0.1"), null);
    assert.notEqual(await s.ping("fd00::1"), null);
    const got: string[] = [];
    s.listen(4000, (d) => got.push(str(d)));
    s.send({ address: "fd00::1", port: 4000 }, text("self"));
    await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(got, ["self"]);
    assert.equal(sink.packets.length, 0);
    assert.equal(s.stats.txPackets, 0);
  } finally {
    await s.close();
  }
});

Deno.test("userspace: packets queued before start leave on start", async () => {
  const s = new UserspaceStack({ ipv4: "10.9.0.1" });
  const sink = new Recorder();
  s.send({ address: "10.9.0.2", port: 1 }, text("early"));
  await Promise.resolve();
  s.start(sink);
  await Promise.resolve();
  assert.equal(sink.packets.length, 1);
  await s.close();
});

Deno.test("userspace: a throwing datagram callback does not break the stack", async () => {
  const errors: unknown[] = [];
  const s = new UserspaceStack({ ipv4: "10.9.0.2", onError: (e) => errors.push(e) });
  s.start(new Recorder());
  try {
    s.listen(1, () => {
      throw new Error("boom");
    });
    s.write(buildUdpPacket(parseAddress("10.9.0.1")!, parseAddress("10.9.0.2")!, 1, 1, text("x")));
    assert.equal(s.stats.listenerErrors, 1);
    assert.equal((errors[0] as Error).message, "boom");
  } finally {
    await s.close();
  }
});

Deno.test("userspace: a burst larger than the queue sent in one turn reaches the tunnel whole", async () => {
  const a = new UserspaceStack({ ipv4: "10.9.0.1" });
  const sink = new Recorder();
  a.start(sink);
  try {
    const n = 10_000;
    for (let i = 0; i < n; i++) a.send({ address: "10.9.0.2", port: 53 }, text(`${i}`), 4000);
    await Promise.resolve();
    assert.equal(sink.packets.length, n);
    assert.equal(a.stats.drops["queue-full"], 0);
    // In order: the first and the last datagram as sent.
    const payload = (p: Uint8Array) => str(p.subarray(28));
    assert.equal(payload(sink.packets[0]), "0");
    assert.equal(payload(sink.packets[n - 1]), String(n - 1));
  } finally {
    await a.close();
  }
});

Deno.test("userspace: datagrams sent after others are not changed by the reuse of their buffers", async () => {
  const { a, b, close } = pair();
  try {
    const it = b.listenIterator(7000);
    // Many rounds, so that buffers go back and forth; every datagram arrives as sent.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 100; i++) {
        a.send({ address: "10.9.0.2", port: 7000 }, text(`r${round}-${i}-${"x".repeat(i)}`));
      }
      for (let i = 0; i < 100; i++) {
        assert.equal(str((await it.next()).value!.data), `r${round}-${i}-${"x".repeat(i)}`);
      }
    }
  } finally {
    await close();
  }
});

Deno.test("userspace: a burst as large as the queue is sent from the buffers of the one before, none made anew", async () => {
  const s = new UserspaceStack({ ipv4: "10.9.0.1/24" });
  const buffers: Set<ArrayBufferLike>[] = [];
  let round = new Set<ArrayBufferLike>();
  s.start({ packet: (p) => void round.add(p.buffer), flush() {} });
  try {
    // A leader's turn of answers: thousands of datagrams queued before the stack drains.
    for (let r = 0; r < 2; r++) {
      for (let i = 0; i < 4096; i++) s.send({ address: "10.9.0.2", port: 7000 }, text(`${i}`));
      await Promise.resolve();
      buffers.push(round);
      round = new Set();
    }
    assert.equal(buffers[0].size, 4096);
    const made = [...buffers[1]].filter((b) => !buffers[0].has(b)).length;
    assert.equal(made, 0, `${made} buffers made anew`);
  } finally {
    await s.close();
  }
});
