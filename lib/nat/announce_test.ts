/**
 * The LAN announcer: two in one process exchanging announcements over multicast on the
 * loopback interface, and a fake socket standing in for a host without multicast.
 */
import assert from "node:assert/strict";
import { x25519 } from "npm:@noble/curves@^2.4.0/ed25519.js";
import {
  type AnnounceSocket,
  encodeAnnouncement,
  LAN_GROUP,
  LAN_PORT,
  LanAnnouncer,
  type LanAnnouncerOptions,
  type LanPeer,
} from "./announce.ts";
import { encodeBase64 } from "../crypto/base64.ts";
import type { Logger, LogLevel } from "../log/logger.ts";

const LAN_KEY = crypto.getRandomValues(new Uint8Array(32));

/** A logger that keeps the events it is given. */
function recordingLogger(): Logger & { lines: { level: LogLevel; event: string }[] } {
  const lines: { level: LogLevel; event: string }[] = [];
  const at = (level: LogLevel) => (event: string) => void lines.push({ level, event });
  const l = {
    lines,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: () => l,
    enabled: () => true,
  };
  return l;
}

/** Resolves once `check` holds, polling; fails after `ms`. */
async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("announcer: two announcers on the loopback find each other", async () => {
  const privA = x25519.utils.randomSecretKey();
  const privB = x25519.utils.randomSecretKey();
  const keyA = x25519.getPublicKey(privA);
  const keyB = x25519.getPublicKey(privB);
  const seenA: LanPeer[] = [];
  const seenB: LanPeer[] = [];
  const ticks: (() => void)[] = [];
  const common = {
    lanKey: LAN_KEY,
    bindAddress: "0.0.0.0",
    multicastInterface: "127.0.0.1",
    multicastLoopback: true,
    every: (fn: () => void) => {
      ticks.push(fn);
      return () => {};
    },
  };
  // Port 0, then the same port again: a test run never meets a real agent's announcements.
  const a = await LanAnnouncer.start({
    ...common,
    port: 0,
    publicKey: keyA,
    privateKey: privA,
    listenPort: 51820,
    onPeer: (p) => seenA.push(p),
  });
  const b = await LanAnnouncer.start({
    ...common,
    port: a.port,
    publicKey: keyB,
    privateKey: privB,
    listenPort: 41641,
    onPeer: (p) => seenB.push(p),
  });
  try {
    await until(() => seenA.length >= 1);
    assert.deepEqual(seenA[0], {
      publicKey: encodeBase64(keyB),
      address: "127.0.0.1",
      port: 41641,
    });
    // a's first announcement went out before b listened: the periodic one reaches b.
    ticks[0]();
    await until(() => seenB.length >= 1);
    assert.deepEqual(seenB[0], {
      publicKey: encodeBase64(keyA),
      address: "127.0.0.1",
      port: 51820,
    });
    // On demand, with a new port; each also hears itself here (loopback on) and drops that.
    a.setListenPort(51999);
    await new Promise((r) => setTimeout(r, 2)); // a later millisecond: not taken for a replay
    a.announce();
    await until(() => seenB.some((p) => p.port === 51999));
    await until(() => a.drops.self >= 2 && b.drops.self >= 1);
    assert.equal(a.stats.sendErrors + b.stats.sendErrors, 0);
    assert.equal(a.stats.joinErrors + b.stats.joinErrors, 0);
    // A datagram that is not an announcement, and one under another key, are dropped (by
    // whichever of the two sockets sharing the port the kernel hands them to).
    const other = encodeAnnouncement(
      { publicKey: keyA, port: 1, timeMs: Date.now() },
      new Uint8Array(32),
      privA,
    );
    const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    await sock.send(other, { transport: "udp", hostname: "127.0.0.1", port: a.port });
    await sock.send(new Uint8Array(5), { transport: "udp", hostname: "127.0.0.1", port: a.port });
    sock.close();
    await until(() => a.drops.mac + b.drops.mac === 1 && a.drops.short + b.drops.short === 1);
    assert.equal(seenA.length, 1, "b announced once; nothing else was taken for it");
    assert.ok(seenB.every((p) => p.publicKey === encodeBase64(keyA)));
  } finally {
    await a.close();
    await b.close();
    await a.close();
  }
});

/** A socket that binds but has no multicast: joins throw, sends fail. */
function noMulticastSocket(calls: string[]): AnnounceSocket {
  return {
    bind: (_p, _a, cb) => queueMicrotask(cb),
    address: () => ({ port: LAN_PORT }),
    addMembership: () => {
      calls.push("join");
      throw new Error("addMembership EINVAL");
    },
    setMulticastTTL: (n) => void calls.push(`ttl ${n}`),
    setMulticastLoopback: (on) => void calls.push(`loopback ${on}`),
    setMulticastInterface: () => {
      throw new Error("setMulticastInterface EINVAL");
    },
    send: (_m, port, address, cb) => {
      calls.push(`send ${address}:${port}`);
      queueMicrotask(() => cb(new Error("send ENETUNREACH")));
    },
    on: () => {},
    close: (cb) => {
      calls.push("close");
      cb?.();
    },
  } as AnnounceSocket;
}

function fakeOptions(calls: string[], logger: Logger): LanAnnouncerOptions {
  return {
    ...(() => {
      const privateKey = x25519.utils.randomSecretKey();
      return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
    })(),
    listenPort: 51820,
    lanKey: LAN_KEY,
    onPeer: () => {},
    logger,
    createSocket: () => noMulticastSocket(calls),
    every: () => () => calls.push("cancel"),
  };
}

Deno.test("announcer: no multicast route: counted, logged once, never thrown", async () => {
  const calls: string[] = [];
  const log = recordingLogger();
  const a = await LanAnnouncer.start({
    ...fakeOptions(calls, log),
    multicastInterface: "10.0.0.1",
  });
  for (let i = 0; i < 5; i++) a.announce();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(a.stats.sendErrors, 6);
  assert.equal(a.stats.sent, 0);
  assert.equal(a.stats.joinErrors, 2); // the interface and the join
  assert.deepEqual(log.lines.map((l) => l.level), ["warn", "warn"]);
  assert.match(log.lines[0].event, /join/);
  assert.match(log.lines[1].event, /send/);
  assert.deepEqual(calls.slice(0, 3), ["ttl 1", "loopback false", "join"]);
  assert.ok(calls.includes(`send ${LAN_GROUP}:${LAN_PORT}`));
  await a.close();
  await a.close();
  assert.deepEqual(calls.slice(-2), ["cancel", "close"]);
  a.announce(); // after close: nothing
  assert.equal(calls.filter((c) => c.startsWith("send")).length, 6);
});

Deno.test("announcer: a socket that cannot bind rejects start", async () => {
  const holder = await LanAnnouncer.start({
    ...fakeOptions([], recordingLogger()),
    createSocket: undefined,
    port: 0,
    bindAddress: "127.0.0.1",
  });
  try {
    await assert.rejects(
      LanAnnouncer.start({
        ...fakeOptions([], recordingLogger()),
        createSocket: undefined,
        bindAddress: "192.0.2.123", // not an address of this host
        port: holder.port,
      }),
    );
    assert.throws(() => holder.setListenPort(0), /port/);
    await assert.rejects(
      LanAnnouncer.start({ ...fakeOptions([], recordingLogger()), lanKey: new Uint8Array(3) }),
      /LAN key/,
    );
  } finally {
    await holder.close();
  }
});

Deno.test("announcer: a throwing listener is counted, not fatal", async () => {
  const privA = x25519.utils.randomSecretKey();
  const log = recordingLogger();
  const a = await LanAnnouncer.start({
    publicKey: x25519.getPublicKey(privA),
    privateKey: privA,
    listenPort: 1,
    lanKey: LAN_KEY,
    port: 0,
    multicastInterface: "127.0.0.1",
    multicastLoopback: true,
    logger: log,
    every: () => () => {},
    onPeer: () => {
      throw new Error("boom");
    },
  });
  try {
    const otherPriv = x25519.utils.randomSecretKey();
    const other = x25519.getPublicKey(otherPriv);
    const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    for (let i = 0; i < 3; i++) {
      const msg = encodeAnnouncement(
        { publicKey: other, port: 2, timeMs: Date.now() + i },
        LAN_KEY,
        otherPriv,
      );
      await sock.send(msg, { transport: "udp", hostname: "127.0.0.1", port: a.port });
    }
    sock.close();
    await until(() => a.stats.listenerErrors === 3);
    assert.equal(log.lines.filter((l) => /listener/.test(l.event)).length, 1);
  } finally {
    await a.close();
  }
});

Deno.test("announcer: announcements from an address on none of this node's links are dropped", async () => {
  const privA = x25519.utils.randomSecretKey();
  const seen: LanPeer[] = [];
  const a = await LanAnnouncer.start({
    publicKey: x25519.getPublicKey(privA),
    privateKey: privA,
    listenPort: 1,
    lanKey: LAN_KEY,
    port: 0,
    multicastInterface: "127.0.0.1",
    every: () => () => {},
    // This node's links: 192.0.2.0/24 only (so loopback, here, is off-link).
    onLink: (address) => address.startsWith("192.0.2."),
    onPeer: (p) => seen.push(p),
  });
  try {
    const otherPriv = x25519.utils.randomSecretKey();
    const msg = encodeAnnouncement(
      { publicKey: x25519.getPublicKey(otherPriv), port: 2, timeMs: Date.now() },
      LAN_KEY,
      otherPriv,
    );
    const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    await sock.send(msg, { transport: "udp", hostname: "127.0.0.1", port: a.port });
    sock.close();
    // (Its own multicast may come back over loopback too: off-link as well.)
    await until(() => a.stats.offLink >= 1 && a.stats.received === a.stats.offLink);
    assert.deepEqual(seen, []);
    assert.equal(a.stats.accepted, 0);
  } finally {
    await a.close();
  }
});
