/**
 * Path probes: round trips both ways, what every byte is bound to, that strangers cost no DH,
 * the observed address of either family, and the fixed sizes.
 */
import assert from "node:assert/strict";
import {
  isPathProbe,
  MSG_PATH_PING,
  MSG_PATH_PONG,
  NOT_MEMBER_TTL_MS,
  type OpenedPing,
  type OpenedPong,
  PathCrypto,
  type PathCryptoOptions,
  PING_SIZE,
  PONG_SIZE,
  PROBE_HEADER_SIZE,
} from "./probe.ts";
import { nobleDh } from "../crypto/noble.ts";
import type { Dh } from "../crypto/types.ts";
import { encodeBase64 } from "../crypto/base64.ts";
import { readU32, writeU32 } from "../protocol/bytes.ts";
import { collectionsBetweenMarkers } from "../../tests/fixtures/gc_count.ts";

/** nobleDh with its shared() calls counted. */
function countingDh(): Dh & { calls: number } {
  const d = {
    name: nobleDh.name,
    calls: 0,
    generatePrivate: () => nobleDh.generatePrivate(),
    publicKey: (k: Uint8Array) => nobleDh.publicKey(k),
    shared(priv: Uint8Array, pub: Uint8Array) {
      d.calls++;
      return nobleDh.shared(priv, pub);
    },
  };
  return d;
}

function keyPair() {
  const priv = nobleDh.generatePrivate();
  const pub = nobleDh.publicKey(priv);
  return { priv, pub, b64: encodeBase64(pub) };
}

const A = keyPair();
const B = keyPair();
const C = keyPair();

function node(
  me: ReturnType<typeof keyPair>,
  members: string[],
  extra: Partial<PathCryptoOptions> = {},
) {
  const dh = countingDh();
  const set = new Set(members);
  const asked: string[] = [];
  const pc = new PathCrypto({
    dh,
    privateKey: me.priv,
    isMember: (k) => {
      asked.push(k);
      return set.has(k);
    },
    ...extra,
  });
  return { pc, dh, set, asked };
}

Deno.test("probe: ping and pong round trip, both ways", () => {
  const a = node(A, [B.b64]);
  const b = node(B, [A.b64]);
  for (const [from, to, fromKey] of [[a, b, A.b64], [b, a, B.b64]] as const) {
    const { bytes, txid } = from.pc.ping(to === b ? B.b64 : A.b64);
    assert.equal(bytes.length, PING_SIZE);
    assert.equal(readU32(bytes, 0), MSG_PATH_PING);
    assert.match(txid, /^[0-9a-f]{24}$/);
    const ping = to.pc.open(bytes) as OpenedPing;
    assert.deepEqual(ping, { type: "ping", peerKey: fromKey, txid });
    const pong = to.pc.pong(fromKey, ping.txid, { address: "198.51.100.7", port: 41641 });
    assert.equal(pong.length, PONG_SIZE);
    assert.equal(readU32(pong, 0), MSG_PATH_PONG);
    const opened = from.pc.open(pong) as OpenedPong;
    assert.equal(opened.type, "pong");
    assert.equal(opened.peerKey, to === b ? B.b64 : A.b64);
    assert.equal(opened.txid, txid);
    assert.deepEqual(opened.observed, { address: "198.51.100.7", port: 41641 });
  }
  // One DH per side for the pair, however many messages.
  assert.equal(a.dh.calls, 1);
  assert.equal(b.dh.calls, 1);
  for (let i = 0; i < 5; i++) b.pc.open(a.pc.ping(B.b64).bytes);
  assert.equal(a.dh.calls + b.dh.calls, 2);
});

Deno.test("probe: sizes are fixed and txids, nonces fresh", () => {
  assert.equal(PROBE_HEADER_SIZE, 60);
  assert.equal(PING_SIZE, 88);
  assert.equal(PONG_SIZE, 106);
  const a = node(A, [B.b64]);
  const p1 = a.pc.ping(B.b64);
  const p2 = a.pc.ping(B.b64);
  assert.notEqual(p1.txid, p2.txid);
  assert.notDeepEqual(p1.bytes.subarray(36, 60), p2.bytes.subarray(36, 60));
  assert.deepEqual(p1.bytes.subarray(4, 36), A.pub);
  const v6 = a.pc.pong(B.b64, p1.txid, { address: "2001:db8::1", port: 65535 });
  const v4 = a.pc.pong(B.b64, p1.txid, { address: "10.0.0.1", port: 0 });
  assert.equal(v6.length, PONG_SIZE);
  assert.equal(v4.length, PONG_SIZE);
});

Deno.test("probe: observed addresses of both families survive the trip", () => {
  const a = node(A, [B.b64]);
  const b = node(B, [A.b64]);
  const cases = [
    { address: "203.0.113.9", port: 51820 },
    { address: "0.0.0.0", port: 1 },
    { address: "255.255.255.255", port: 65535 },
    { address: "2001:db8:85a3::8a2e:370:7334", port: 443 },
    { address: "::1", port: 9 },
    { address: "fe80::1", port: 51820 },
  ];
  for (const observed of cases) {
    const opened = a.pc.open(b.pc.pong(A.b64, "00112233445566778899aabb", observed)) as OpenedPong;
    assert.deepEqual(opened.observed, observed);
  }
  // A zone id is not sent; IPv4 travels mapped into IPv6 and comes back as IPv4.
  const zoned = a.pc.open(b.pc.pong(A.b64, "00112233445566778899aabb", {
    address: "fe80::2%eth0",
    port: 7,
  })) as OpenedPong;
  assert.deepEqual(zoned.observed, { address: "fe80::2", port: 7 });
  const mapped = b.pc.pong(A.b64, "00112233445566778899aabb", { address: "192.0.2.1", port: 1 });
  const plain = a.pc.open(mapped) as OpenedPong;
  assert.equal(plain.observed.address, "192.0.2.1");
  assert.throws(() => b.pc.pong(A.b64, "00112233445566778899aabb", { address: "x", port: 1 }));
  assert.throws(() => b.pc.pong(A.b64, "00", { address: "192.0.2.1", port: 1 }), /txid/);
  assert.throws(() => b.pc.pong(A.b64, "00112233445566778899aabb", { address: "::", port: 70000 }));
});

Deno.test("probe: every byte is bound: tampering drops, by the reason it reaches", () => {
  const a = node(A, [B.b64]);
  const b = node(B, [A.b64]);
  const ping = a.pc.ping(B.b64).bytes;
  const pong = a.pc.pong(B.b64, "00112233445566778899aabb", { address: "192.0.2.1", port: 5 });
  for (const msg of [ping, pong]) {
    for (let i = 0; i < msg.length; i++) {
      const t = msg.slice();
      t[i] ^= 0x01;
      const r = b.pc.open(t);
      assert.ok("drop" in r, `byte ${i} tampered was accepted`);
      // The type (4 bytes), then the sender key (a stranger now), then nonce, sealed data and tag.
      const type = readU32(t, 0);
      const known = type === MSG_PATH_PING || type === MSG_PATH_PONG;
      const want = i < 4 ? (known ? "short" : "unknown-type") : i < 36 ? "not-member" : "auth";
      assert.equal(r.drop, want, `byte ${i}`);
    }
  }
  // Even when every key were a member's, a changed sender key fails authentication.
  const open = node(B, [], { isMember: () => true });
  for (let i = 4; i < 36; i++) {
    const t = ping.slice();
    t[i] ^= 0x80;
    assert.deepEqual(open.pc.open(t), { drop: "auth" }, `byte ${i}`);
  }
  assert.ok(open.pc.open(ping.slice()) && "type" in open.pc.open(ping));
});

Deno.test("probe: a ping cannot pass as a pong, nor a message for another pair", () => {
  const a = node(A, [B.b64, C.b64]);
  const c = node(C, [A.b64, B.b64]);
  const toB = a.pc.ping(B.b64).bytes;
  assert.deepEqual(c.pc.open(toB), { drop: "auth" });
  assert.equal(c.pc.drops.auth, 1);
  // Relabelled as a pong it has the wrong size, and padded the type is still in the AAD.
  const relabelled = new Uint8Array(PONG_SIZE);
  relabelled.set(toB);
  writeU32(relabelled, 0, MSG_PATH_PONG);
  const b = node(B, [A.b64]);
  assert.deepEqual(b.pc.open(relabelled), { drop: "auth" });
  const short = toB.slice();
  writeU32(short, 0, MSG_PATH_PONG);
  assert.deepEqual(b.pc.open(short), { drop: "short" });
});

Deno.test("probe: a stranger's datagrams cost no DH and ask isMember once", () => {
  let now = 0;
  const a = node(A, [B.b64], { now: () => now });
  const c = node(C, [A.b64]);
  const fromStranger = c.pc.ping(A.b64).bytes;
  const baseline = a.dh.calls;
  for (let i = 0; i < 1000; i++) assert.deepEqual(a.pc.open(fromStranger), { drop: "not-member" });
  assert.equal(a.dh.calls, baseline);
  assert.equal(a.pc.dhCount, 0);
  assert.equal(a.pc.drops["not-member"], 1000);
  assert.deepEqual(a.asked, [C.b64]);
  // The refusal is believed for a while, then asked again.
  now += NOT_MEMBER_TTL_MS + 1;
  a.pc.open(fromStranger);
  assert.deepEqual(a.asked, [C.b64, C.b64]);
  // Once C becomes a member and the caller says so, it is accepted at once.
  a.set.add(C.b64);
  a.pc.membersChanged();
  assert.equal((a.pc.open(fromStranger) as OpenedPing).peerKey, C.b64);
  assert.equal(a.pc.dhCount, 1);
  assert.throws(() => node(A, []).pc.ping(B.b64), /not a member/);
});

Deno.test("probe: own key reflected back is not a member; drops are shared constants", () => {
  const a = node(A, [A.b64, B.b64]);
  const b = node(B, [A.b64]);
  const mine = a.pc.ping(B.b64).bytes;
  assert.deepEqual(a.pc.open(mine), { drop: "not-member" });
  assert.equal(a.pc.dhCount, 1); // only the one for B
  assert.equal(a.pc.open(new Uint8Array(3)), a.pc.open(new Uint8Array(2)));
  const junk = new Uint8Array(PING_SIZE);
  writeU32(junk, 0, 4);
  assert.deepEqual(a.pc.open(junk), { drop: "unknown-type" });
  assert.deepEqual(a.pc.drops, { "short": 2, "unknown-type": 1, "not-member": 1, "auth": 0 });
  assert.equal(b.pc.open(mine).constructor, Object);
});

Deno.test("probe: forget and membersChanged drop a leaver's key", () => {
  const a = node(A, [B.b64, C.b64]);
  const b = node(B, [A.b64]);
  const c = node(C, [A.b64]);
  assert.ok("type" in a.pc.open(b.pc.ping(A.b64).bytes));
  assert.ok("type" in a.pc.open(c.pc.ping(A.b64).bytes));
  assert.equal(a.pc.dhCount, 2);
  a.pc.forget(B.b64);
  assert.ok("type" in a.pc.open(b.pc.ping(A.b64).bytes));
  assert.equal(a.pc.dhCount, 3, "forgotten: derived again");
  a.set.delete(C.b64);
  a.pc.membersChanged();
  assert.deepEqual(a.pc.open(c.pc.ping(A.b64).bytes), { drop: "not-member" });
  a.pc.forget("not base64");
});

Deno.test("probe: a member with a low-order key gets auth drops and no pings", () => {
  const zero = encodeBase64(new Uint8Array(32));
  const a = node(A, [zero]);
  assert.throws(() => a.pc.ping(zero), /low order/);
  const forged = new Uint8Array(PING_SIZE);
  writeU32(forged, 0, MSG_PATH_PING);
  assert.deepEqual(a.pc.open(forged), { drop: "auth" });
  assert.deepEqual(a.pc.open(forged), { drop: "auth" });
  assert.equal(a.pc.dhCount, 1, "tried once, remembered");
});

Deno.test("probe: isPathProbe tells probes from other datagrams", () => {
  const a = node(A, [B.b64]);
  assert.ok(isPathProbe(a.pc.ping(B.b64).bytes));
  assert.ok(isPathProbe(a.pc.pong(B.b64, "00112233445566778899aabb", { address: "::", port: 1 })));
  for (const t of [1, 2, 3, 4, 0x10, 0x11, 0x12, 0x15]) {
    const m = new Uint8Array(PING_SIZE);
    writeU32(m, 0, t);
    assert.ok(!isPathProbe(m), `type ${t}`);
  }
  assert.ok(!isPathProbe(new Uint8Array(3)));
});

const probeChild = new URL("../../tests/fixtures/probe_alloc_child.ts", import.meta.url);
/** Collections between the child's two forced ones (its markers), under `--trace-gc`. */
const collectionsInChild = (mode: string) => collectionsBetweenMarkers(probeChild, mode);

Deno.test("probe: dropped datagrams allocate nothing", async () => {
  assert.ok(await collectionsInChild("allocating") > 0, "the control registered no collection");
  assert.equal(await collectionsInChild("drops"), 0);
});
