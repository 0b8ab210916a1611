/**
 * LinuxTun. Option checks run anywhere (they fail before /dev/net/tun is opened). The rest needs
 * root: the test makes a network namespace and re-runs this file inside it (`ip netns exec`) with
 * WEFT_TUN_TEST_NS set, where the "inside:" tests create a uniquely named TUN. The namespace is
 * always deleted, which also removes any interface left in it.
 */
import assert from "node:assert/strict";
import { DEFAULT_OFFLOADS, DEFAULT_TUN_MTU, DEFAULT_TUN_NAME, LinuxTun } from "./tun.ts";
import type { PacketSink } from "../../lib/io/driver.ts";
import { buildUdpPacket } from "../../lib/net/udp.ts";
import { parseAddress } from "../../lib/net/ip.ts";
import { haveCommands } from "../../tests/fixtures/netns.ts";
import { must, runInsideNamespace } from "../../tests/fixtures/netns.ts";

const INSIDE = Deno.env.get("WEFT_TUN_TEST_NS") !== undefined;
const CAN_RUN = Deno.build.os === "linux" && Deno.uid() === 0 && !INSIDE &&
  (await haveCommands("ip"));

const ip = (...args: string[]) => must("ip", ...args);

async function linkOf(name: string): Promise<{ mtu: number; flags: string[] } | null> {
  const out = await new Deno.Command("ip", {
    args: ["-j", "link", "show", "dev", name],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!out.success) return null;
  return JSON.parse(new TextDecoder().decode(out.stdout))[0];
}

function uniqueName(): string {
  return `wt${crypto.randomUUID().slice(0, 8)}`;
}

Deno.test("defaults: weft0 and MTU 1420", () => {
  assert.equal(DEFAULT_TUN_NAME, "weft0");
  assert.equal(DEFAULT_TUN_MTU, 1420);
});

Deno.test("open refuses bad names and MTUs before touching /dev/net/tun", async () => {
  for (const name of ["", "a".repeat(16), "bad name", "a/b", ".", "..", "tün0"]) {
    await assert.rejects(LinuxTun.open({ name }), /invalid interface name/, JSON.stringify(name));
  }
  for (const mtu of [575, 65536, 1400.5, NaN]) {
    await assert.rejects(LinuxTun.open({ name: "wtx", mtu }), /invalid MTU/, String(mtu));
  }
});

Deno.test({
  name: "LinuxTun in a network namespace of its own (runs the inside: tests there)",
  ignore: !CAN_RUN,
  fn: async () => {
    const { success, text } = await runInsideNamespace(
      new URL(import.meta.url).pathname,
      "WEFT_TUN_TEST_NS",
      "weft-unit",
    );
    assert.ok(success, text);
    assert.match(text, /ok \| 6 passed \| 0 failed/, text);
  },
});

Deno.test({
  name: "inside: open makes the interface with its MTU and up; close deletes it",
  ignore: !INSIDE,
  fn: async () => {
    const name = uniqueName();
    const tun = await LinuxTun.open({ name, mtu: 1300, onError: (e) => assert.fail(String(e)) });
    try {
      assert.equal(tun.name, name);
      assert.equal(tun.mtu, 1300);
      assert.ok(tun.fd >= 0);
      assert.equal(tun.wantsWrite, false);
      const link = await linkOf(name);
      assert.equal(link?.mtu, 1300);
      assert.ok(link?.flags.includes("UP"), JSON.stringify(link));
    } finally {
      const closing = tun.close();
      assert.equal(tun.close(), closing);
      await closing;
    }
    assert.equal(await linkOf(name), null);
    // Closed: no more configuring or starting; writes are counted as errors.
    await assert.rejects(tun.configure({ addresses: ["10.1.0.1/24"] }), /closed/);
    assert.throws(() => tun.start({ packet() {}, flush() {} }), /closed/);
    tun.write(new Uint8Array(20));
    assert.equal(tun.stats.writeErrors, 1);
  },
});

Deno.test({
  name: "inside: configure adds addresses and routes (host bits cleared), in a chosen table",
  ignore: !INSIDE,
  fn: async () => {
    const name = uniqueName();
    const tun = await LinuxTun.open({ name, onError: (e) => assert.fail(String(e)) });
    try {
      await tun.configure({
        addresses: ["10.97.0.1/24", "fd00:97::1/64"],
        routes: ["10.98.7.9/16", "fd00:98:1:2::5/48", "10.99.0.7"],
      });
      // Again: replace, not add, so it is idempotent.
      await tun.configure({ addresses: ["10.97.0.1/24"], routes: ["10.98.0.0/16"] });
      const addrs = await ip("-j", "addr", "show", "dev", name);
      assert.match(addrs, /"local":"10\.97\.0\.1","prefixlen":24/);
      assert.match(addrs, /"local":"fd00:97::1","prefixlen":64/);
      const v4 = await ip("-4", "route", "show", "dev", name);
      assert.match(v4, /^10\.98\.0\.0\/16 /m);
      assert.match(v4, /^10\.99\.0\.7 /m);
      assert.match(await ip("-6", "route", "show", "dev", name), /^fd00:98:1::\/48 /m);
      await tun.configure({ routes: ["10.96.0.0/16"], table: "100" });
      assert.match(
        await ip("-4", "route", "show", "table", "100", "dev", name),
        /^10\.96\.0\.0\/16 /m,
      );
      assert.doesNotMatch(await ip("-4", "route", "show", "dev", name), /10\.96\./);
      for (
        const bad of [
          { addresses: ["10.97.0.300/24"] },
          { addresses: ["10.97.0.1/33"] },
          { routes: ["fd00::/129"] },
          { routes: ["10.0.0.0/8"], table: "-x" },
          { routes: ["10.0.0.0/8"], table: "a b" },
        ]
      ) {
        await assert.rejects(tun.configure(bad), /invalid/, JSON.stringify(bad));
      }
    } finally {
      await tun.close();
    }
  },
});

for (const offload of [true, false]) {
  Deno.test({
    name:
      `inside: the interface deleted under the open fd is told once to onGone (offload ${offload})`,
    ignore: !INSIDE,
    fn: async () => {
      const name = uniqueName();
      let gone!: () => void;
      const told = new Promise<void>((r) => (gone = r));
      let calls = 0;
      const tun = await LinuxTun.open({
        name,
        offload,
        onError: (e) => assert.fail(String(e)),
        onGone: () => {
          calls++;
          gone();
        },
      });
      try {
        tun.start({ packet() {}, flush() {} });
        await ip("link", "delete", "dev", name);
        await told;
        assert.equal(await linkOf(name), null);
        // Writes after it fail the same way: not told again, and not an error.
        tun.write(new Uint8Array(20).fill(0x45, 0, 1));
        tun.flush();
        assert.equal(calls, 1);
      } finally {
        await tun.close();
      }
    },
  });
}

for (const offload of [true, false]) {
  Deno.test({
    name:
      `inside: packets routed into the TUN reach the sink; written packets reach the host (offload ${offload})`,
    ignore: !INSIDE,
    fn: () => routedAndWritten(offload),
  });
}

async function routedAndWritten(offload: boolean): Promise<void> {
  const name = uniqueName();
  const tun = await LinuxTun.open({ name, offload, onError: (e) => assert.fail(String(e)) });
  try {
    if (offload) assert.equal(tun.offload & DEFAULT_OFFLOADS & 7, 7, "CSUM|TSO4|TSO6 granted");
    else assert.equal(tun.offload, 0);
    await tun.configure({ addresses: ["10.95.0.1/24"] });
    const packets: Uint8Array[] = [];
    let arrived!: () => void;
    const got = new Promise<void>((r) => (arrived = r));
    const sink: PacketSink = {
      packet: (p) => {
        packets.push(p.slice());
      },
      flush: () => {
        if (packets.some((p) => p[9] === 17)) arrived();
      },
    };
    tun.start(sink);
    assert.throws(() => tun.start(sink), /already started/);
    // The host sends UDP to a neighbour on the TUN's subnet: the packet comes out of the TUN.
    const host = Deno.listenDatagram({ transport: "udp", hostname: "10.95.0.1", port: 0 });
    try {
      const hostPort = (host.addr as Deno.NetAddr).port;
      await host.send(new TextEncoder().encode("out"), {
        transport: "udp",
        hostname: "10.95.0.2",
        port: 7777,
      });
      await got;
      const udp = packets.find((p) => p[9] === 17)!;
      assert.deepEqual(Array.from(udp.subarray(12, 20)), [10, 95, 0, 1, 10, 95, 0, 2]);
      assert.equal((udp[22] << 8) | udp[23], 7777);
      assert.equal(new TextDecoder().decode(udp.subarray(28)), "out");
      assert.ok(tun.stats.packetsIn >= 1);
      assert.ok(tun.stats.bytesIn >= udp.length);
      // The neighbour answers: a packet written to the TUN is delivered to the host socket.
      const reply = buildUdpPacket(
        parseAddress("10.95.0.2")!,
        parseAddress("10.95.0.1")!,
        7777,
        hostPort,
        new TextEncoder().encode("back"),
      );
      tun.write(reply);
      tun.flush();
      assert.equal(tun.stats.packetsOut, 1);
      assert.equal(tun.stats.bytesOut, reply.length);
      const [data, from] = await host.receive();
      assert.equal(new TextDecoder().decode(data), "back");
      assert.equal((from as Deno.NetAddr).hostname, "10.95.0.2");
      // A packet the kernel refuses (not IP) is counted, not thrown.
      tun.write(Uint8Array.of(0, 1, 2, 3));
      tun.flush();
      assert.equal(tun.stats.packetsOut + tun.stats.writeErrors, 2);
    } finally {
      host.close();
    }
  } finally {
    await tun.close();
  }
}
