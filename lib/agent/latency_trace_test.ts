import assert from "node:assert/strict";
import { LatencyTrace, latencyTraceFor } from "./latency_trace.ts";
import type { DatagramSink, Endpoint, PacketDevice, PacketSink, Transport } from "../io/driver.ts";

const linux = Deno.build.os === "linux";

/** An IPv4 ICMP echo request (seq 7) whose payload starts with ping's struct timeval. */
function echoRequest(sec: number, usec: number): Uint8Array {
  const p = new Uint8Array(20 + 8 + 56);
  p[0] = 0x45;
  p[9] = 1;
  p[20] = 8;
  p[27] = 7;
  const v = new DataView(p.buffer);
  v.setBigInt64(28, BigInt(sec), true);
  v.setBigInt64(36, BigInt(usec), true);
  return p;
}

Deno.test({
  name: "LatencyTrace: stamps each step of the packet path and writes them as JSON lines",
  ignore: !linux,
  fn() {
    const dir = Deno.makeTempDirSync();
    try {
      const trace = new LatencyTrace(`${dir}/trace`);
      let packetSink!: PacketSink;
      let datagramSink!: DatagramSink;
      const written: Uint8Array[] = [];
      let flushed = 0;
      const tun: PacketDevice = {
        name: "t",
        mtu: 1420,
        start: (s) => void (packetSink = s),
        write: (d) => void written.push(d),
        flush: () => void flushed++,
        close: () => Promise.resolve(),
      };
      const ep = { address: "192.0.2.1", port: 1, family: 4 } as Endpoint;
      const udp: Transport = {
        name: "udp",
        port: 1,
        start: (s) => void (datagramSink = s),
        send() {},
        flush() {},
        endpoint: () => ep,
        close: () => Promise.resolve(),
      };
      const packets = trace.wrapPackets(tun);
      const transport = trace.wrapTransport(udp);
      assert.equal(packets.name, "t");
      assert.equal(transport.port, 1);
      trace.onPoll("wake", 1);
      packets.start({
        packet: () => transport.send(new Uint8Array(32), ep),
        flush: () => transport.flush(),
      });
      transport.start({ datagram: (d) => packets.write(d), flush: () => packets.flush?.() });
      packetSink.packet(echoRequest(1700000000, 250));
      packetSink.flush();
      datagramSink.datagram(echoRequest(1700000000, 250), ep);
      datagramSink.flush();
      assert.equal(written.length, 1);
      // The end of the batch reaches the TUN, which may have queued the write.
      assert.equal(flushed, 1);
      trace.write();
      const events = Deno.readTextFileSync(`${dir}/trace.${Deno.pid}`).trim().split("\n")
        .map((l) => JSON.parse(l));
      assert.deepEqual(events.map((e) => e.k), [
        "poll-wake",
        "tun-read",
        "udp-send",
        "udp-flush",
        "udp-recv",
        "tun-write",
        "tun-written",
      ]);
      // The echo request: type 8, seq 7, ping's send time in µs.
      assert.deepEqual([events[1].a, events[1].b, events[1].c], [8, 7, 1700000000 * 1e6 + 250]);
      for (let i = 1; i < events.length; i++) assert.ok(events[i].t >= events[i - 1].t);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("latencyTraceFor: off unless WEFT_LATENCY_TRACE names a file", () => {
  assert.equal(latencyTraceFor(undefined), null);
  assert.equal(latencyTraceFor(""), null);
  assert.ok(latencyTraceFor("/tmp/x") instanceof LatencyTrace);
});
