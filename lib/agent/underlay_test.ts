import assert from "node:assert/strict";
import { openUnderlay, planUnderlay } from "./underlay.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import type { Transport } from "../io/driver.ts";
import { assertNoOwnSockets } from "../../tests/fixtures/own_sockets.ts";

const onError = (e: unknown) => {
  throw e;
};

Deno.test("planUnderlay: defaults, and the options checked before anything opens", () => {
  const plan = planUnderlay({});
  assert.equal(plan.kind, Deno.build.os === "linux" ? "linux" : "deno");
  assert.equal(plan.port, 51820);
  assert.equal(plan.tcpPort, 0);
  assert.equal(plan.fwMark, 0);
  assert.equal(planUnderlay({ tcpPort: "same" }).tcpPort, "same");
  assert.throws(() => planUnderlay({ tcpPort: 70000 }), /tcpPort must be "same" or a port/);
  assert.throws(() => planUnderlay({ underlay: "deno", fwMark: 1 }), /fwmark needs the linux/);
  const net = new MemoryNetwork();
  assert.throws(
    () => planUnderlay({ underlay: "linux", fwMark: 1, transport: net.bind("192.0.2.1", 1) }),
    /fwmark needs the linux/,
  );
});

Deno.test("openUnderlay: Deno's UDP alone; its driver reports UDP counters, no offloads", async () => {
  const u = await openUnderlay(
    planUnderlay({ underlay: "deno", listenPort: 0, listenHost: "127.0.0.1" }),
    {
      onError,
    },
  );
  try {
    assert.equal(u.transport, u.base);
    assert.equal(u.tcpPort, null);
    const r = u.base.driverStats?.();
    assert.equal(r?.kind, "udp");
    assert.equal(r?.kind === "udp" ? r.offloads : undefined, null);
  } finally {
    await u.transport.close();
  }
});

Deno.test("openUnderlay: TCP on the UDP port's number beside a given transport", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const given = new MemoryNetwork().bind("192.0.2.1", port);
  const u = await openUnderlay(
    planUnderlay({ underlay: "deno", listenHost: "127.0.0.1", tcpPort: "same", transport: given }),
    { given, onError },
  );
  try {
    assert.equal(u.tcpPort, port);
    const r = u.base.driverStats?.();
    assert.equal(r?.kind, "udp+tcp");
    // The memory transport keeps no counters; the TCP side does.
    assert.equal(r?.kind === "udp+tcp" ? r.udp : undefined, null);
    assert.equal(r?.kind === "udp+tcp" ? r.tcp?.kind : undefined, "tcp");
  } finally {
    await u.transport.close();
  }
  assert.equal(given.closed, true);
});

Deno.test("openUnderlay: a wrapper that throws closes the socket opened for it", async () => {
  let opened: Transport | null = null;
  await assert.rejects(
    openUnderlay(planUnderlay({ underlay: "deno", listenPort: 0, listenHost: "127.0.0.1" }), {
      onError,
      wrap: (t) => {
        opened = t;
        throw new Error("no wrap");
      },
    }),
    /no wrap/,
  );
  const port = (opened as Transport | null)!.port;
  // Nothing of it holds the port.
  assertNoOwnSockets(port);
});

Deno.test("openUnderlay: wrapUdp wraps each UDP socket, wrap the whole underlay", async () => {
  const seen: string[] = [];
  const u = await openUnderlay(
    planUnderlay({ underlay: "deno", listenPort: 0, listenHost: "127.0.0.1" }),
    {
      onError,
      wrapUdp: (t) => {
        seen.push(`udp:${t.name}`);
        return t;
      },
      wrap: (t) => {
        seen.push(`all:${t.name}`);
        return { ...t, name: "wrapped", close: () => t.close() } as Transport;
      },
    },
  );
  try {
    assert.deepEqual(seen, ["udp:udp", "all:udp"]);
    assert.equal(u.transport.name, "wrapped");
    assert.notEqual(u.base, u.transport);
  } finally {
    await u.transport.close();
  }
});
