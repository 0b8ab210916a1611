import assert from "node:assert/strict";
import { makeMesh, type TestNode, texts, udp } from "../../tests/fixtures/mesh.ts";
import { MemoryNetwork } from "../../drivers/memory.ts";
import { loadSodium } from "../crypto/sodium.ts";
import { PooledKey } from "../crypto/worker_pool.ts";
import { fakeWorker, NEVER_WAKES, TAKES_AND_HANGS } from "../crypto/testing/fake_workers.ts";
import { readCounter, readU32 } from "../protocol/bytes.ts";
import { MSG_TRANSPORT, TAG_SIZE, TRANSPORT_HEADER_SIZE } from "../protocol/constants.ts";
import type { Endpoint } from "../io/driver.ts";
import { CryptoBatch, slotBytes } from "./crypto_batch.ts";
import type { DeviceOptions } from "./device.ts";

const sodium = loadSodium();
const ignore = !sodium;

/** Two sodium devices, each with its own crypto batch of `workers` workers (0: none). */
async function pair(
  workers: number,
  extra: { net?: MemoryNetwork; device?: Partial<DeviceOptions> } = {},
  batchOpts: Partial<Parameters<typeof CryptoBatch.start>[0]> = {},
) {
  const batches: CryptoBatch[] = [];
  for (let i = 0; workers > 0 && i < 2; i++) {
    batches.push(await CryptoBatch.start({ workers, mtu: 1420, takeBack: false, ...batchOpts }));
  }
  const mesh = makeMesh(2, {
    net: extra.net,
    device: { suite: sodium!, ...extra.device },
    deviceFor: (i) => workers > 0 ? { cryptoBatch: batches[i] } : {},
  });
  return { ...mesh, batches, close: () => Promise.all(mesh.nodes.map((n) => n.device.close())) };
}

/** Hands `n` packets from `from` to `to` to the device in one driver batch. */
function burst(from: TestNode, to: TestNode, n: number, tag: string): void {
  for (let i = 0; i < n; i++) from.packets.sink!.packet(udp(from.ip, to.ip, `${tag}${i}`));
  from.packets.sink!.flush();
}

/** Taps a node's transport: every datagram it sends is copied into `into`. */
function tapSends(node: TestNode, into: Uint8Array[]): void {
  const send = node.transport.send.bind(node.transport);
  node.transport.send = (data: Uint8Array, to: Endpoint) => {
    into.push(data.slice());
    send(data, to);
  };
}

Deno.test({
  name: "crypto batch: traffic both ways in batches, in order, nothing dropped",
  ignore,
  async fn() {
    const { nodes: [a, b], net, close } = await pair(1);
    try {
      a.packets.inject(udp(a.ip, b.ip, "hello"));
      net.deliver();
      assert.deepEqual(texts(b), ["hello"]);
      burst(a, b, 100, "a");
      burst(b, a, 100, "b");
      net.deliver();
      assert.deepEqual(texts(b), ["hello", ...Array.from({ length: 100 }, (_, i) => `a${i}`)]);
      assert.deepEqual(texts(a), Array.from({ length: 100 }, (_, i) => `b${i}`));
      assert.equal(a.device.drops.total() + b.device.drops.total(), 0);
      // The sessions' keys sit in the pools' shared key tables.
      assert.ok(a.device.peer(b.publicKey)!.current!.send instanceof PooledKey);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "crypto batch: what the workers seal is what the same key seals inline, bit for bit",
  ignore,
  async fn() {
    const { nodes: [a, b], net, close } = await pair(2);
    try {
      a.packets.inject(udp(a.ip, b.ip, "hello"));
      net.deliver();
      const sent: Uint8Array[] = [];
      tapSends(a, sent);
      burst(a, b, 64, "x");
      assert.equal(sent.length, 64);
      const kp = a.device.peer(b.publicKey)!.current!;
      for (const wire of sent) {
        assert.equal(readU32(wire, 0), MSG_TRANSPORT);
        assert.equal(readU32(wire, 4), kp.remoteIndex);
        const counter = readCounter(wire, 8);
        // The plaintext is what b decrypts: open a copy on this thread, then seal it again here.
        const copy = wire.slice();
        const plain = copy.subarray(TRANSPORT_HEADER_SIZE, copy.length - TAG_SIZE);
        const peerKp = b.device.peer(a.publicKey)!.current!;
        assert.ok(peerKp.receive.open(counter, copy.subarray(TRANSPORT_HEADER_SIZE), plain));
        const again = new Uint8Array(plain.length + TAG_SIZE);
        kp.send.seal(counter, plain, again);
        assert.deepEqual(again, wire.subarray(TRANSPORT_HEADER_SIZE));
      }
      net.deliver();
      assert.equal(texts(b).length, 65);
      // With takeBack off the workers did their shares: 64 − 64/3 here, 43 of 65 at b.
      assert.equal(a.device.cryptoBatch!.pool.stats.workerEntries, 42);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "crypto batch: forged packets in a batch are dropped and do not spend the replay window",
  ignore,
  async fn() {
    const net = new MemoryNetwork({ manual: true });
    const { nodes: [a, b], close } = await pair(1, { net });
    try {
      a.packets.inject(udp(a.ip, b.ip, "hello"));
      net.deliver();
      const sent: Uint8Array[] = [];
      tapSends(a, sent);
      burst(a, b, 32, "y");
      net.deliverSome(() => false); // keep them: they are handed to b below
      const from = b.transport.table.parse("192.0.2.1:51820");
      const sink = b.transport.sink!;
      // Each genuine packet goes with a forgery of itself first (same index and counter).
      for (const wire of sent) {
        const forged = wire.slice();
        forged[forged.length - 1] ^= 0x80;
        sink.datagram(forged, from);
        sink.datagram(wire.slice(), from);
      }
      sink.flush();
      assert.equal(b.device.drops.get("decrypt"), 32);
      assert.ok(b.device.cryptoBatch!.pool.stats.workerEntries >= 32, "the worker opened half");
      assert.equal(b.device.drops.get("replay"), 0);
      assert.deepEqual(
        texts(b),
        ["hello", ...Array.from({ length: 32 }, (_, i) => `y${i}`)],
      );
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "crypto batch: rekeys under batched traffic lose nothing, as inline",
  ignore,
  async fn() {
    const delivered: number[] = [];
    for (const workers of [0, 1]) {
      const { nodes: [a, b], net, clock, close } = await pair(workers, {
        device: { timers: { rekeyAfterMessages: 40 } },
      });
      try {
        for (let round = 0; round < 20; round++) {
          burst(a, b, 30, "a");
          burst(b, a, 30, "b");
          net.deliver();
          clock.advance(6000); // past REKEY_TIMEOUT: the next initiation may go
        }
        const pa = a.device.peer(b.publicKey)!;
        assert.ok(pa.counters.handshakes > 3, `${pa.counters.handshakes} handshakes`);
        delivered.push(texts(a).length + texts(b).length);
        assert.equal(a.device.drops.get("decrypt") + b.device.drops.get("decrypt"), 0);
      } finally {
        await close();
      }
    }
    assert.equal(delivered[1], delivered[0]);
  },
});

Deno.test({
  name: "crypto batch: a key wiped while messages wait for it sends them first, sealed with it",
  ignore,
  async fn() {
    const batch = await CryptoBatch.start({ workers: 1, mtu: 1420 });
    try {
      const sent: Uint8Array[] = [];
      const marks: number[] = [];
      batch.attach({
        send: (wire, _to, tos) => {
          sent.push(wire.slice());
          marks.push(tos);
        },
        deliver: () => assert.fail("nothing is opened"),
        lost: () => assert.fail("nothing is lost"),
      });
      const raw = crypto.getRandomValues(new Uint8Array(32));
      const key = batch.key(raw)!;
      const to = new MemoryNetwork().bind("192.0.2.9", 1).self;
      const pkt = new Uint8Array(100).fill(7);
      // Each message keeps the mark it was queued with.
      for (let i = 0; i < 10; i++) assert.ok(batch.seal(key, 5, i, pkt, 112, to, i % 2 ? 0xb0 : 0));
      assert.equal(sent.length, 0);
      key.destroy();
      assert.equal(sent.length, 10);
      assert.deepEqual(marks, [0, 0xb0, 0, 0xb0, 0, 0xb0, 0, 0xb0, 0, 0xb0]);
      const inline = sodium!.aead.key(raw);
      for (const [i, wire] of sent.entries()) {
        const plain = new Uint8Array(112);
        assert.ok(inline.open(i, wire.subarray(TRANSPORT_HEADER_SIZE), plain));
        assert.deepEqual(plain.subarray(0, 100), pkt);
      }
      // A destroyed key's messages are sealed inline by the caller, not queued.
      assert.equal(batch.seal(key, 5, 11, pkt, 112, to), false);
    } finally {
      batch.close();
    }
  },
});

Deno.test({
  name: "crypto batch: a worker that has not woken costs nothing: the device's thread does it",
  ignore,
  async fn() {
    const errors: Error[] = [];
    const { nodes: [a, b], net, close } = await pair(1, {}, {
      spawn: fakeWorker(NEVER_WAKES),
      takeBack: true,
      onError: (e) => errors.push(e),
    });
    try {
      a.packets.inject(udp(a.ip, b.ip, "hello"));
      net.deliver();
      burst(a, b, 40, "z");
      net.deliver();
      assert.deepEqual(texts(b).slice(1), Array.from({ length: 40 }, (_, i) => `z${i}`));
      assert.equal(a.device.drops.total() + b.device.drops.total(), 0);
      assert.deepEqual(errors, []);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "crypto batch: a worker that hangs with a share costs that share once; then inline",
  ignore,
  async fn() {
    const errors: Error[] = [];
    const { nodes: [a, b], net, close } = await pair(1, {}, {
      spawn: fakeWorker(TAKES_AND_HANGS),
      timeoutMs: 50,
      onError: (e) => errors.push(e),
    });
    try {
      a.packets.inject(udp(a.ip, b.ip, "hello"));
      net.deliver();
      // Until a's worker has taken a share of a's batch (it may wake too late for a few); b's
      // worker may take a share of what arrives too.
      let sent = 0;
      while (a.device.cryptoBatch!.pool.failure === null) {
        burst(a, b, 40, "z");
        sent += 40;
        net.deliver();
        await new Promise((r) => setTimeout(r, 0));
      }
      const lostAtA = a.device.drops.get("crypto-error");
      const lostAtB = b.device.drops.get("crypto-error");
      assert.ok(lostAtA > 0 && lostAtA <= 20, `a lost ${lostAtA}`);
      assert.equal(texts(b).length - 1 + lostAtA + lostAtB, sent);
      const before = errors.length;
      assert.ok(before >= 1 && before <= 2, errors.join("; "));
      assert.match(errors[0].message, /did not finish within 50 ms/);
      burst(a, b, 40, "w");
      net.deliver();
      assert.deepEqual(texts(b).slice(-40), Array.from({ length: 40 }, (_, i) => `w${i}`));
      assert.equal(a.device.drops.get("crypto-error"), lostAtA, "a lost nothing more");
      assert.equal(errors.length, before, "each pool reported once at most");
    } finally {
      await close();
    }
  },
});

Deno.test("crypto batch: slots hold a full-MTU message, header to tag, in cache lines", () => {
  assert.equal(slotBytes(1420), 1472);
  assert.equal(slotBytes(1280) % 64, 0);
  assert.ok(slotBytes(9000) >= 16 + 9008 + 16);
});
