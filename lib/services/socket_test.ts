import assert from "node:assert/strict";
import { SERVICES_PORT } from "../members/ports.ts";
import { ServiceError } from "./errors.ts";
import { ServiceSocket } from "./socket.ts";
import { StackLan } from "./testing/stack_lan.ts";
import type { ServiceMessage } from "./wire.ts";

/** Two sockets on a memory LAN; each keeps what it receives and wakes waiters. */
function pair(opts: ConstructorParameters<typeof ServiceSocket>[2] = {}) {
  const lan = new StackLan();
  const got: { msg: ServiceMessage; from: string }[] = [];
  let wake: () => void = () => {};
  const a = new ServiceSocket(lan.stack("10.9.0.1"), () => {}, opts);
  const b = new ServiceSocket(lan.stack("10.9.0.2"), (msg, from) => {
    got.push({ msg, from });
    wake();
  }, opts);
  const received = (n: number) =>
    new Promise<void>((resolve) => {
      const check = () => got.length >= n && resolve();
      wake = check;
      check();
    });
  const close = async () => {
    a.close();
    b.close();
    await lan.close();
  };
  return { lan, a, b, got, received, close };
}

Deno.test("socket: messages cross the stacks, with their sender's overlay address", async () => {
  const t = pair();
  try {
    t.a.send("10.9.0.2", { kind: "event-ack", id: 5 });
    await t.received(1);
    assert.deepEqual(t.got[0], { msg: { kind: "event-ack", id: 5 }, from: "10.9.0.1" });
  } finally {
    await t.close();
  }
});

Deno.test("socket: a large message is fragmented and put back together", async () => {
  const t = pair({ compressMinBytes: Infinity });
  try {
    const blob = new Uint8Array(300_000);
    for (let i = 0; i < blob.length; i++) blob[i] = i & 0xff;
    const msg: ServiceMessage = {
      kind: "response",
      id: 1,
      ok: true,
      result: { blob },
      idempotent: false,
    };
    t.a.send("10.9.0.2", msg);
    await t.received(1);
    assert.deepEqual(t.got[0].msg, msg);
    assert.equal(t.b.heldBytes, 0);
    assert.equal(t.a.counts.sent, 1);
    assert.equal(t.b.counts.received, 1);
  } finally {
    await t.close();
  }
});

Deno.test("socket: a message over the limit is refused at the sender", async () => {
  const t = pair({ maxMessageBytes: 10_000 });
  try {
    const msg: ServiceMessage = {
      kind: "event",
      id: 1,
      topic: "t",
      data: new Uint8Array(10_001),
      mode: "all",
      groups: [],
      loose: true,
    };
    assert.throws(
      () => t.a.send("10.9.0.2", msg),
      (e) =>
        e instanceof ServiceError && e.code === "too-large" &&
        /over the limit of 10000/.test(e.message),
    );
  } finally {
    await t.close();
  }
});

Deno.test("socket: garbage and a throwing handler are counted, and later messages still pass", async () => {
  const lan = new StackLan();
  const raw = lan.stack("10.9.0.3");
  let calls = 0;
  let wake = () => {};
  const b = new ServiceSocket(lan.stack("10.9.0.2"), (msg) => {
    calls++;
    wake();
    if (msg.kind === "event-ack" && msg.id === 1) throw new Error("boom");
  });
  try {
    const to = { address: "10.9.0.2", port: SERVICES_PORT };
    raw.send(to, new Uint8Array([9, 9, 9]));
    raw.send(to, new Uint8Array([1, 0, 0xc1]));
    raw.send(to, new Uint8Array([1, 0, 0xc0]));
    raw.send(to, new Uint8Array([1, 0, 0x92, 0x04, 0xff]));
    const a = new ServiceSocket(lan.stack("10.9.0.1"), () => {});
    a.send("10.9.0.2", { kind: "event-ack", id: 1 });
    a.send("10.9.0.2", { kind: "event-ack", id: 2 });
    await new Promise<void>((resolve) => {
      wake = () => calls === 2 && resolve();
    });
    const drops = b.drops();
    assert.equal(drops.malformed, 1);
    assert.equal(drops.undecodable, 2);
    assert.equal(drops["inflate-failed"], 1);
    assert.equal(drops["handler-error"], 1);
    a.close();
  } finally {
    b.close();
    await lan.close();
  }
});

Deno.test("socket: a send the stack refuses is a counted drop, not an exception", async () => {
  const lan = new StackLan();
  const stack = lan.stack("10.9.0.1");
  const a = new ServiceSocket(stack, () => {});
  try {
    // No IPv6 address on this stack: the stack throws, the socket counts.
    a.send("fd00::2", { kind: "event-ack", id: 1 });
    assert.equal(a.drops()["send-failed"], 1);
  } finally {
    a.close();
    await lan.close();
  }
});

/** A 10 MiB answer that deflates well: text repeating with some variety. */
function bigAnswer(bytes: number): ServiceMessage {
  const words = ["mesh", "tunnel", "service", "answer", "weft", "node", "call", "peer"];
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const w = `${words[(i * 7) % words.length]}-${i % 1000} `;
    parts.push(w);
    n += w.length;
  }
  return { kind: "response", id: 7, ok: true, result: parts.join(""), idempotent: true };
}

Deno.test("socket: a 10 MiB message goes deflated to a peer that takes it, and arrives whole", async () => {
  const t = pair();
  try {
    const msg = bigAnswer(10 << 20);
    t.a.send("10.9.0.2", msg);
    await t.received(1);
    assert.deepEqual(t.got[0].msg, msg);
    assert.equal(t.a.counts.compressedSent, 1);
    assert.equal(t.b.counts.compressedReceived, 1);
    assert.ok(t.a.counts.compressedSentPlain > 10 << 20);
    // What crossed the wire: the deflated message, a fraction of the plain one.
    assert.ok(t.a.counts.sentBytes < (10 << 20) / 4, `${t.a.counts.sentBytes} bytes sent`);
    assert.equal(t.a.peers.known("10.9.0.2"), 1);
    assert.equal(t.b.peers.known("10.9.0.1"), 1);
    assert.equal(t.b.heldBytes, 0);
  } finally {
    await t.close();
  }
});

Deno.test("socket: a peer that does not answer hellos (an older node) gets large messages plain", async () => {
  const lan = new StackLan();
  const old = lan.stack("10.9.0.3");
  const seen: Uint8Array[] = [];
  let wake = () => {};
  const bound = old.listen(SERVICES_PORT, (d) => {
    seen.push(d.slice());
    wake();
  });
  const a = new ServiceSocket(lan.stack("10.9.0.1"), () => {}, { helloAnswerMs: 50 });
  try {
    const msg = bigAnswer(20_000);
    a.send("10.9.0.3", msg);
    // The hello (one datagram), then the message plain (fragments of its encoding).
    await new Promise<void>((resolve) => {
      wake = () => seen.length > 1 && resolve();
    });
    assert.equal(a.counts.compressedSent, 0);
    assert.equal(a.peers.known("10.9.0.3"), 0);
    assert.equal(seen[1][1], 1, "a fragment");
    assert.notEqual(seen[1][10], 0xc1, "not the compressed form");
  } finally {
    bound.close();
    a.close();
    await lan.close();
  }
});

Deno.test("socket: a compressed message inflating past the limit is a counted drop", async () => {
  const { compressMessage } = await import("./compression.ts");
  const t = pair({ maxMessageBytes: 100_000 });
  try {
    // A bomb: declares 1000 bytes, inflates to 50 MB of zeros (50 KB on the wire).
    const bomb = (await compressMessage(new Uint8Array(50_000_000)))!;
    new DataView(bomb.buffer).setUint32(2, 1000);
    assert.ok(bomb.length < 100_000);
    const raw = t.lan.stack("10.9.0.3");
    const { splitMessage } = await import("./fragments.ts");
    for (const d of splitMessage(bomb, 1)) {
      raw.send({ address: "10.9.0.2", port: SERVICES_PORT }, d);
    }
    t.a.send("10.9.0.2", { kind: "event-ack", id: 1 });
    await t.received(1);
    await new Promise<void>((resolve) => {
      const poll = () => t.b.drops()["inflate-too-large"] === 1 ? resolve() : setTimeout(poll, 5);
      poll();
    });
    assert.equal(t.b.counts.compressedReceived, 0);
    assert.equal(t.got.length, 1);
  } finally {
    await t.close();
  }
});
